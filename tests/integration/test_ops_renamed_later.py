"""Re-running a history on a database where a later revision renamed what this one adds (issue 10).

The database is at head: ``note.last_modified`` was renamed ``updated_at``
and table ``memo`` renamed ``note`` by later revisions.  Re-running the
revision that added them (``stamp base`` + ``upgrade head``, or ``upgrade
head`` after an adoption) must not add them back: before, ``add_column``
added ``last_modified`` again (then the later rename failed with 42701 and an
extra column remained) and ``create_table`` created ``memo`` again.  With the
later revisions' changes (``GuardContext.later``) the guards skip them with a
note; without them, nothing explains the absence and the column is added.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic_guard.changes import RenameObject
from alembic_guard.model import ObjRef
from alembic_guard.ops import GuardContext
from alembic_guard.ops.standalone import operations

pytestmark = pytest.mark.db

LATER = (
    RenameObject(ObjRef.relation("public", "memo"), "note"),
    RenameObject(ObjRef.column("public", "note", "last_modified"), "updated_at"),
)


@pytest.fixture
def conn(pg_url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as c:
            c.exec_driver_sql("CREATE TABLE note (id int PRIMARY KEY, body text, updated_at timestamptz)")
            c.commit()
            yield c
    finally:
        engine.dispose()


def _columns(conn: sa.Connection, table: str) -> list[str]:
    return [c["name"] for c in sa.inspect(conn).get_columns(table)]


def _ctx(later: bool) -> GuardContext:
    ctx = GuardContext()
    if later:
        ctx.later = lambda revision: LATER
    return ctx


@pytest.mark.parametrize("later", [True, False], ids=["later-known", "later-unknown"])
def test_add_column_renamed_later(conn: sa.Connection, later: bool) -> None:
    ctx = _ctx(later)
    with operations(conn, ctx) as op:
        op.add_column("note", sa.Column("last_modified", postgresql.TIMESTAMP(timezone=True)))
    events = [(e.action, e.reason) for e in ctx.events]
    if later:
        assert events == [
            ("skip", "not added: a later revision renames it to updated_at, and that column is there")
        ]
        assert _columns(conn, "note") == ["id", "body", "updated_at"]
    else:  # nothing explains the absence: added, as before
        assert _columns(conn, "note") == ["id", "body", "updated_at", "last_modified"]


def test_add_column_renamed_later_to_another_type_is_added(conn: sa.Connection) -> None:
    """The renamed column must be the one the history gives: a text column is not a timestamp's heir."""
    ctx = _ctx(True)
    with operations(conn, ctx) as op:
        op.add_column("note", sa.Column("last_modified", sa.Integer()))
    assert _columns(conn, "note") == ["id", "body", "updated_at", "last_modified"]


def test_create_table_does_not_add_back_a_renamed_column(conn: sa.Connection) -> None:
    ctx = _ctx(True)
    with operations(conn, ctx) as op:
        op.create_table(
            "note",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("body", sa.Text()),
            sa.Column("last_modified", postgresql.TIMESTAMP(timezone=True)),
        )
    assert _columns(conn, "note") == ["id", "body", "updated_at"]
    [(action, reason)] = [(e.action, e.reason) for e in ctx.events]
    assert action == "skip", reason
    assert (
        "column last_modified not added: a later revision renames it to updated_at, which is there" in reason
    )


def test_create_table_renamed_later_is_not_created(conn: sa.Connection) -> None:
    ctx = _ctx(True)
    with operations(conn, ctx) as op:
        op.create_table(
            "memo",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
            sa.Column("body", sa.Text()),
            sa.Column("last_modified", postgresql.TIMESTAMP(timezone=True)),
        )
    assert not sa.inspect(conn).has_table("memo")
    assert [(e.action, e.reason) for e in ctx.events] == [
        ("skip", "not created: a later revision renames it to note, and that table is there")
    ]
