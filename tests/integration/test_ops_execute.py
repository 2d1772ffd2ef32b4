"""Guarded ``op.execute``: raw SQL statement by statement through the analysis."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from alembic_guard.errors import GuardRefused
from alembic_guard.live.snapshot import snapshot
from alembic_guard.ops import GuardContext, make_settings
from alembic_guard.ops.standalone import offline_operations, operations

OLD = """
CREATE TABLE projects (id int PRIMARY KEY);
CREATE TABLE tasks (id int PRIMARY KEY, title text);
INSERT INTO projects VALUES (1);
INSERT INTO tasks VALUES (1, 'a');
"""
NEW_COLUMNS = "id int PRIMARY KEY, title text, project_id int REFERENCES projects (id)"
NEW_TASKS = f"CREATE TABLE IF NOT EXISTS tasks ({NEW_COLUMNS})"


@pytest.fixture
def conn(pg_url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as c:
            c.exec_driver_sql(OLD)
            c.commit()
            yield c
    finally:
        engine.dispose()


def run(conn: sa.Connection, sql: str | sa.TextClause) -> list[tuple[str, str, str]]:
    ctx = GuardContext()
    with operations(conn, ctx) as op:
        op.execute(sql)
    return [(e.op, e.action, e.reason) for e in ctx.events]


@pytest.mark.db
def test_create_table_if_not_exists_on_an_older_table_adds_the_missing_column(conn: sa.Connection) -> None:
    """The seed: the statement alone would be a no-op and the next index would fail."""
    events = run(conn, NEW_TASKS + "; CREATE INDEX IF NOT EXISTS ix_p ON tasks (project_id)")
    actions = [(op, action) for op, action, _ in events]
    assert actions == [("create_foreign_key", "act"), ("execute", "act"), ("execute", "act")]
    assert "added column project_id, constraint tasks_project_id_fkey" in events[1][2]
    t = snapshot(conn).table("public", "tasks")
    assert t is not None and t.column("project_id") is not None
    # the second run finds everything there and sends nothing
    again = run(conn, NEW_TASKS + "; CREATE INDEX IF NOT EXISTS ix_p ON tasks (project_id)")
    assert [a for _, a, _ in again] == ["skip", "skip"]


@pytest.mark.db
def test_statements_already_applied_are_skipped(conn: sa.Connection) -> None:
    sql = "ALTER TABLE tasks ADD COLUMN title text; CREATE TABLE projects (id int PRIMARY KEY)"
    events = run(conn, sql)
    assert [a for _, a, _ in events] == ["skip", "skip"]
    assert events[0][2].startswith("already there: column tasks.title")


@pytest.mark.db
def test_a_column_of_another_type_is_refused(conn: sa.Connection) -> None:
    before = snapshot(conn)
    with pytest.raises(GuardRefused, match="title: in the database text NULL; in the SQL integer NULL"):
        run(conn, "CREATE TABLE tasks (id int PRIMARY KEY, title int)")
    conn.rollback()
    assert snapshot(conn) == before


@pytest.mark.db
def test_if_not_exists_keeps_a_column_of_another_type(
    conn: sa.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """IF NOT EXISTS: PostgreSQL keeps the table as it is, and so does the guard (it used to refuse)."""
    before = snapshot(conn)
    with caplog.at_level("WARNING", logger="alembic_guard.ops"):
        run(conn, "CREATE TABLE IF NOT EXISTS tasks (id int PRIMARY KEY, title int)")
    assert "title: in the database text NULL; in the SQL integer NULL" in caplog.text
    assert snapshot(conn) == before


@pytest.mark.db
def test_invalid_index_is_rebuilt_not_matched(conn: sa.Connection) -> None:
    conn.exec_driver_sql("CREATE INDEX ix_t ON tasks (title)")
    conn.exec_driver_sql("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix_t'::regclass")
    conn.commit()
    events = run(conn, "CREATE INDEX IF NOT EXISTS ix_t ON tasks (title)")
    assert [a for _, a, _ in events] == ["act"]
    assert conn.exec_driver_sql(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_t'::regclass"
    ).scalar()


@pytest.mark.db
def test_later_statements_see_earlier_ones_in_the_same_call(conn: sa.Connection) -> None:
    events = run(
        conn,
        "CREATE TABLE tags (id int); ALTER TABLE tags ADD COLUMN IF NOT EXISTS id int; "
        "UPDATE tasks SET title = title",
    )
    assert [a for _, a, _ in events] == ["act", "skip", "act"]


@pytest.mark.db
def test_opaque_and_non_string_sql_run_as_written_and_are_unguarded(conn: sa.Connection) -> None:
    # a wholly run-time name: not understood
    dyn = "DO $$ BEGIN EXECUTE 'CREATE TABLE ' || (SELECT 'dyn') || ' (id int)'; END $$"
    events = run(conn, dyn)
    assert [(a, r) for _, a, r in events] == [("unguarded", "EXECUTE of a dynamic SQL string")]
    # part of the name known: understood, still run as written (names known only when it runs)
    part = "DO $$ BEGIN EXECUTE 'CREATE TABLE dyn_' || (SELECT 'part') || ' (id int)'; END $$"
    events = run(conn, part)
    assert [(a, r) for _, a, r in events] == [
        ("unguarded", "dynamic SQL may create relation:public.dyn_*, column:public.dyn_*.id")
    ]
    # format() of constants is plain SQL: guarded like any statement
    events = run(conn, "DO $$ BEGIN EXECUTE format('CREATE TABLE %I (id int)', 'dyn_const'); END $$")
    assert [a for _, a, _ in events] == ["act"]
    events = run(conn, sa.text("CREATE TABLE other (id int)"))
    assert [a for _, a, _ in events] == ["unguarded"]
    tables = set(snapshot(conn).tables)
    assert {("public", "dyn"), ("public", "dyn_part"), ("public", "dyn_const"), ("public", "other")} <= tables


def test_offline_execute_renders_each_statement() -> None:
    buf = io.StringIO()
    with offline_operations(buf, GuardContext()) as op:
        op.execute("CREATE TABLE a (id int); CREATE INDEX ix_a ON a (id)")
    out = buf.getvalue()
    assert out.count("-- alembic_guard: online: skipped when its effects are already in the database") == 2
    assert "CREATE TABLE a (id int);" in out and "CREATE INDEX ix_a ON a (id);" in out


LEGACY = Path(__file__).resolve().parents[2] / "alembic" / "legacy_sql"


@pytest.mark.db
@pytest.mark.parametrize("policy", ["strict", "lenient"])
def test_seed_legacy_file_on_a_fresh_database(conn: sa.Connection, policy: str) -> None:
    """0001 indexes tasks.project_id, a column only 0003 adds: strict refuses before sending
    it; lenient skips that one statement, records a debt, and runs the rest."""
    sql = (LEGACY / "0001_core_tables_idempotent.sql").read_text()
    conn.exec_driver_sql("DROP TABLE tasks, projects")
    conn.commit()
    ctx = GuardContext(make_settings(policy=policy))
    if policy == "strict":
        needed = r"column tasks.project_id does not exist \(needed by"
        with pytest.raises(GuardRefused, match=needed), operations(conn, ctx) as op:
            op.execute(sql)
        return
    with operations(conn, ctx) as op:
        op.execute(sql)
    debts = [e for e in ctx.events if e.action == "debt"]
    assert len(debts) == 1 and "column tasks.project_id does not exist" in debts[0].reason
    model = snapshot(conn)
    assert ("public", "idx_tasks_assignee_id") in model.indexes
    assert ("public", "idx_tasks_project_id") not in model.indexes
