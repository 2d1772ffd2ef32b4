"""As the roles managed platforms hand out: an owner of its own schema, and a role that can create nothing.

From PostgreSQL 15 on, ``public`` is not writable by every role. What the role
can do works; what it cannot is one line naming the privilege and the object,
exit 2, nothing half-done.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from alembic_guard.errors import privilege_needed
from alembic_guard.testing import GuardedProject, PgBouncer

pytestmark = pytest.mark.db


@pytest.fixture
def roles(pg_url: str) -> Iterator[tuple[str, str, sa.Engine]]:
    """(owner URL, nothing URL, superuser engine) on a fresh database; role names unique per database."""
    db = sa.engine.make_url(pg_url).database or ""
    owner, nothing = f"{db}_owner", f"{db}_nothing"
    engine = sa.create_engine(pg_url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql(f'CREATE ROLE "{owner}" LOGIN; CREATE ROLE "{nothing}" LOGIN')
        c.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{db}" TO "{owner}", "{nothing}"')
        c.exec_driver_sql(f'CREATE SCHEMA app AUTHORIZATION "{owner}"')
        c.exec_driver_sql(f'ALTER ROLE "{owner}" IN DATABASE "{db}" SET search_path = app')
    u = sa.engine.make_url(pg_url)
    yield (
        u.set(username=owner).render_as_string(hide_password=False),
        u.set(username=nothing).render_as_string(hide_password=False),
        engine,
    )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql(f'DROP SCHEMA app CASCADE; DROP OWNED BY "{owner}", "{nothing}"')
        c.exec_driver_sql(f'DROP ROLE "{owner}"; DROP ROLE "{nothing}"')
    engine.dispose()


def _project(tmp_path, url: str) -> GuardedProject:  # type: ignore[no-untyped-def]
    p = GuardedProject(tmp_path, url)
    p.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    return p


def _relations(engine: sa.Engine, schema: str) -> set[str]:
    with engine.connect() as c:
        return set(
            c.execute(
                sa.text(
                    "SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace(:s) AND relkind = 'r'"
                ),
                {"s": schema},
            ).scalars()
        )


def test_an_owner_of_its_own_schema_migrates_and_keeps_the_ledger_there(tmp_path, roles) -> None:  # type: ignore[no-untyped-def]
    owner, _nothing, engine = roles
    p = _project(tmp_path, owner)
    up = p.run("upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert {"t", "alembic_version", "alembic_guard_log"} <= _relations(engine, "app")
    assert _relations(engine, "public") == set()
    status = p.run("guard-status")
    assert status.returncode == 0, status.stderr
    assert "1 applied, 0 pending, 0 failed" in status.stdout


@pytest.mark.parametrize("command", [("upgrade", "head"), ("guard-repair", "--apply")])
def test_a_role_that_can_create_nothing_gets_one_line_naming_the_privilege(tmp_path, roles, command) -> None:  # type: ignore[no-untyped-def]
    _owner, nothing, engine = roles
    p = _project(tmp_path, nothing)
    done = p.run(*command)
    assert done.returncode == 2, done.stdout + done.stderr
    failed = [ln for ln in done.stderr.splitlines() if ln.startswith("FAILED:")]
    assert failed == [
        "FAILED: the database role lacks CREATE on schema public: permission denied for schema public"
    ]
    assert "Traceback" not in done.stderr and "sqlalche.me" not in done.stderr
    assert _relations(engine, "public") == set()  # nothing half-done


def test_a_table_the_role_does_not_own_is_named(tmp_path, roles) -> None:  # type: ignore[no-untyped-def]
    owner, _nothing, engine = roles
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("CREATE TABLE app.theirs (id int PRIMARY KEY)")
    p = GuardedProject(tmp_path, owner)
    p.add_revision("r1", None, 'op.add_column("theirs", sa.Column("note", sa.Text), schema="app")')
    done = p.run("upgrade", "head")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "owner of table theirs" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("message", "statement", "needed"),
    [
        ("permission denied for schema public", "CREATE TABLE t (id int)", "CREATE on schema public"),
        ("permission denied for schema app", "SELECT 1 FROM app.t", "USAGE on schema app"),
        ("permission denied for table tasks", "INSERT INTO tasks VALUES (1)", "INSERT on table tasks"),
        ("must be owner of table tasks", "ALTER TABLE tasks ADD COLUMN x int", "owner of table tasks"),
        ("permission denied for database app", "CREATE SCHEMA s", "CREATE on database app"),
    ],
)
def test_privilege_needed_speaks_grant(message: str, statement: str, needed: str) -> None:
    assert privilege_needed(message, statement) == needed


def test_a_role_whose_search_path_starts_with_its_own_schema_is_guarded_there(tmp_path, roles) -> None:  # type: ignore[no-untyped-def]
    """Unqualified names resolve where the role's ``search_path`` puts them (``app``), not in ``public``."""
    owner, _nothing, engine = roles
    p = GuardedProject(tmp_path, owner)
    p.add_revision(
        "r1",
        None,
        """
        op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("n", sa.Integer))
        op.create_index("ix_t_n", "t", ["n"])
        op.add_column("t", sa.Column("note", sa.Text))
        op.execute("CREATE TABLE raw (id int PRIMARY KEY, t_id int REFERENCES t (id))")
        """,
    )
    for args in (("upgrade", "head"), ("upgrade", "head"), ("stamp", "base"), ("upgrade", "head")):
        done = p.run(*args)
        assert done.returncode == 0, f"{args}: {done.stderr}"
    assert {"t", "raw"} <= _relations(engine, "app")
    assert _relations(engine, "public") == set()
    status = p.run("guard-status")
    assert status.returncode == 0, status.stderr
    check = p.run("guard-check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "AG510" not in check.stdout
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("DROP INDEX app.ix_t_n")
    repair = p.run("guard-repair", "--apply")
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "applied 1 of 1 step(s); 0 drift(s) remain" in repair.stdout, repair.stdout
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT to_regclass('app.ix_t_n') IS NOT NULL")).scalar()


def test_a_role_that_can_read_nothing_gets_one_line_from_status_and_check(tmp_path, roles) -> None:  # type: ignore[no-untyped-def]
    """The database was migrated by its owner.  A role without SELECT on the version table cannot
    say what is applied: one line naming the privilege and the table, exit 2; granted SELECT on
    the bookkeeping tables, it reads status and checks the database read-only."""
    _owner, nothing, engine = roles
    p = _project(tmp_path, engine.url.render_as_string(hide_password=False))
    assert p.run("upgrade", "head").returncode == 0
    as_nothing = p.env(DATABASE_URL=nothing)
    for command in ("guard-status", "guard-check"):
        done = p.run(command, env=as_nothing)
        assert done.returncode == 2, done.stdout + done.stderr
        assert [ln for ln in done.stderr.splitlines() if ln.startswith("FAILED:")] == [
            "FAILED: the database role lacks SELECT on table alembic_version: "
            "permission denied for table alembic_version"
        ], done.stderr
    role = sa.engine.make_url(nothing).username
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql(f'GRANT SELECT ON alembic_version, alembic_guard_log TO "{role}"')
    status = p.run("guard-status", env=as_nothing)
    assert status.returncode == 0, status.stderr
    assert "1 applied, 0 pending, 0 failed" in status.stdout
    check = p.run("guard-check", env=as_nothing)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.fixture
def pooled(roles, pg_server) -> Iterator[tuple[str, str, sa.Engine]]:  # type: ignore[no-untyped-def]
    """``roles``' URLs, the role URLs through PgBouncer in transaction mode, and the superuser engine."""
    owner, nothing, engine = roles
    o, n = sa.engine.make_url(owner), sa.engine.make_url(nothing)
    with PgBouncer(pg_server, pool_mode="transaction", users=(o.username or "", n.username or "")) as b:
        db = o.database or ""
        yield b.url(db, user=o.username or ""), b.url(db, user=n.username or ""), engine


def test_an_owner_of_its_own_schema_migrates_through_pgbouncer(tmp_path, pooled) -> None:  # type: ignore[no-untyped-def]
    owner, _nothing, engine = pooled
    p = _project(tmp_path, owner)
    for _ in range(2):  # the second run finds nothing to do
        up = p.run("upgrade", "head")
        assert up.returncode == 0, up.stderr
    assert "the migration lock is a lease row" in up.stderr
    assert {"t", "alembic_version", "alembic_guard_log", "alembic_guard_lock"} <= _relations(engine, "app")
    assert _relations(engine, "public") == set()
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM app.alembic_guard_lock")).scalar() == 0
    status = p.run("guard-status")
    assert status.returncode == 0, status.stderr
    assert "1 applied, 0 pending, 0 failed" in status.stdout


def test_a_role_that_can_create_nothing_through_pgbouncer_gets_one_line(tmp_path, pooled) -> None:  # type: ignore[no-untyped-def]
    _owner, nothing, engine = pooled
    done = _project(tmp_path, nothing).run("upgrade", "head")
    assert done.returncode == 2, done.stdout + done.stderr
    assert [ln for ln in done.stderr.splitlines() if ln.startswith("FAILED:")] == [
        "FAILED: the database role lacks CREATE on schema public: permission denied for schema public"
    ], done.stderr
    assert _relations(engine, "public") == set()
