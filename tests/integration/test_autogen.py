"""The autogenerate comparators on a real PostgreSQL: INVALID indexes and NOT VALID constraints are diffs.

Alembic alone reports nothing for them (it takes an INVALID index the metadata
declares for a working one, and cannot tell a NOT VALID foreign key); with the
plugin enabled the way ``env.py`` enables it, each becomes an ``execute``
operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

pytestmark = pytest.mark.db

PLUGINS = ["alembic.autogenerate.*", "alembic_guard.*"]


def metadata(with_invalid_index: bool = False) -> sa.MetaData:
    md = sa.MetaData()
    users = sa.Table(
        "users",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
    )
    sa.Table(
        "tasks",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey(users.c.id, name="fk_tasks_owner")),
        sa.Column("n", sa.Integer),
        sa.CheckConstraint("n > 0", name="ck_tasks_n"),
    )
    if with_invalid_index:
        sa.Index("ux_users_email", users.c.email, unique=True)
    return md


@pytest.fixture
def conn(pg_url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.exec_driver_sql("CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL)")
        c.exec_driver_sql("CREATE TABLE tasks (id integer PRIMARY KEY, owner_id integer, n integer)")
        c.exec_driver_sql("INSERT INTO users VALUES (1, 'a@x.org'), (2, 'a@x.org')")
        c.exec_driver_sql(
            "ALTER TABLE tasks ADD CONSTRAINT fk_tasks_owner FOREIGN KEY (owner_id) "
            "REFERENCES users (id) NOT VALID"
        )
        c.exec_driver_sql("ALTER TABLE tasks ADD CONSTRAINT ck_tasks_n CHECK (n > 0) NOT VALID")
        with pytest.raises(sa.exc.IntegrityError):  # the duplicate leaves the index INVALID
            c.exec_driver_sql("CREATE UNIQUE INDEX CONCURRENTLY ux_users_email ON users (email)")
        yield c
    engine.dispose()


def diffs(conn: sa.Connection, md: sa.MetaData, plugins: list[str] | None) -> list[Any]:
    opts: dict[str, Any] = {"target_metadata": md}
    if plugins is not None:
        opts["autogenerate_plugins"] = plugins
    mc = MigrationContext.configure(conn, opts=opts)
    return list(compare_metadata(mc, md))


def test_alembic_alone_sees_nothing(conn: sa.Connection) -> None:
    assert diffs(conn, metadata(with_invalid_index=True), None) == []


def test_plugin_reports_invalid_index_and_not_valid_constraints(conn: sa.Connection) -> None:
    got = diffs(conn, metadata(with_invalid_index=True), PLUGINS)
    assert got == [
        ("execute", "ALTER TABLE tasks VALIDATE CONSTRAINT ck_tasks_n"),
        ("execute", "ALTER TABLE tasks VALIDATE CONSTRAINT fk_tasks_owner"),
        ("execute", "REINDEX INDEX ux_users_email"),
    ]
    # the plugin's own name selects it too
    assert diffs(conn, metadata(with_invalid_index=True), ["alembic.autogenerate.*", "alembic_guard"]) == got


def test_an_invalid_index_the_metadata_lacks_is_left_to_alembics_drop_index(conn: sa.Connection) -> None:
    got = diffs(conn, metadata(), PLUGINS)
    assert sorted(d[0] for d in got) == ["execute", "execute", "remove_index"]
    assert ("execute", "REINDEX INDEX ux_users_email") not in got
    # without metadata for the table (env.py's target_metadata = None) it is reported
    bare = diffs(conn, sa.MetaData(), PLUGINS)
    assert ("execute", "REINDEX INDEX ux_users_email") in bare


def test_valid_objects_give_no_diffs(conn: sa.Connection) -> None:
    conn.exec_driver_sql("UPDATE users SET email = 'b@x.org' WHERE id = 2")
    conn.exec_driver_sql("REINDEX INDEX ux_users_email")
    conn.exec_driver_sql("ALTER TABLE tasks VALIDATE CONSTRAINT fk_tasks_owner")
    conn.exec_driver_sql("ALTER TABLE tasks VALIDATE CONSTRAINT ck_tasks_n")
    assert diffs(conn, metadata(with_invalid_index=True), PLUGINS) == []
