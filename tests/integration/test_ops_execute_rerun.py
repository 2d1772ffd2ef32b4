"""Guarded raw ``op.execute`` on a database where the statement already ran (issue 10, issue 11 D/E).

Each case runs SQL once (it acts), then again on the same database: a statement
whose objects are all there with the same definition is skipped, one whose drop
target is gone is skipped, a rename already done is skipped; an object there
with another definition is refused with both definitions.  Before the change
each second run failed in PostgreSQL (42710, 42P07, 42704, 42701) or, for E,
was skipped although the index differed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from alembic_guard.errors import GuardRefused
from alembic_guard.ops import GuardContext
from alembic_guard.ops.standalone import operations

BASE = """
CREATE TABLE t (id int PRIMARY KEY, a int, b int, note text);
INSERT INTO t VALUES (1, 1, 1, 'x'), (2, 2, 2, 'y');
"""


@pytest.fixture
def conn(pg_url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as c:
            c.exec_driver_sql(BASE)
            c.commit()
            yield c
    finally:
        engine.dispose()


def run(conn: sa.Connection, sql: str, ctx: GuardContext | None = None) -> list[tuple[str, str]]:
    ctx = ctx or GuardContext()
    try:
        with operations(conn, ctx) as op:
            op.execute(sql)
    finally:
        conn.rollback()
    return [(e.action, e.reason) for e in ctx.events]


RERUNS = [
    # (id, setup run as plain SQL, the statement run twice through the guard)
    ("create_type", "", "CREATE TYPE mood AS ENUM ('sad', 'ok')"),
    ("create_view", "", "CREATE VIEW v AS SELECT id, a FROM t"),
    (
        "create_function",
        "",
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    ),
    ("create_sequence", "", "CREATE SEQUENCE s"),
    ("create_index", "", "CREATE INDEX ix_a ON t (a)"),
    ("create_schema", "", "CREATE SCHEMA app"),
    ("add_column", "", "ALTER TABLE t ADD COLUMN c int"),
    ("drop_index", "CREATE INDEX ix_gone ON t (b)", "DROP INDEX ix_gone"),
    ("drop_table", "CREATE TABLE gone (id int)", "DROP TABLE gone"),
    ("drop_type", "CREATE TYPE gone_t AS ENUM ('x')", "DROP TYPE gone_t"),
    ("rename_column", "", "ALTER TABLE t RENAME COLUMN note TO remark"),
    ("rename_table", "CREATE TABLE old_name (id int)", "ALTER TABLE old_name RENAME TO new_name"),
    # ADD VALUE without IF NOT EXISTS: 42710 on a re-run
    ("add_enum_value", "CREATE TYPE level AS ENUM ('low')", "ALTER TYPE level ADD VALUE 'high'"),
    (
        "rename_enum_value",
        "CREATE TYPE hue AS ENUM ('red')",
        "ALTER TYPE hue RENAME VALUE 'red' TO 'crimson'",
    ),
]


@pytest.mark.db
@pytest.mark.parametrize(("name", "setup", "sql"), RERUNS, ids=[r[0] for r in RERUNS])
def test_second_run_skips_what_is_done(name: str, setup: str, sql: str, conn: sa.Connection) -> None:
    if setup:
        conn.exec_driver_sql(setup)
        conn.commit()
    first = run(conn, sql)
    assert all(action == "act" for action, _ in first), first
    second = run(conn, sql)
    assert [action for action, _ in second] == ["skip"] * len(second), second


@pytest.mark.db
def test_trigger_and_policy_rerun_are_skipped(conn: sa.Connection) -> None:
    sql = (
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;"
        "CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION touch();"
        "CREATE POLICY p ON t USING (true)"
    )
    assert [a for a, _ in run(conn, sql)] == ["act", "act", "act"]
    second = run(conn, sql)
    assert [a for a, _ in second] == ["skip", "skip", "skip"], second
    assert "definition is not compared" in second[2][1]


@pytest.mark.db
def test_type_with_other_values_is_refused_with_both_definitions(conn: sa.Connection) -> None:
    run(conn, "CREATE TYPE mood AS ENUM ('sad', 'ok')")
    with pytest.raises(GuardRefused) as exc:
        run(conn, "CREATE TYPE mood AS ENUM ('sad', 'happy')")
    text = str(exc.value)
    assert "type mood exists with another definition" in text
    assert "ENUM ('sad', 'ok')" in text and "ENUM ('sad', 'happy')" in text


@pytest.mark.db
def test_E_unique_index_of_a_name_taken_by_another_index_is_refused(conn: sa.Connection) -> None:
    run(conn, "CREATE INDEX ix ON t (a)")
    with pytest.raises(GuardRefused) as exc:
        run(conn, "CREATE UNIQUE INDEX ix ON t (b)")
    assert "index ix exists with another definition" in str(exc.value)
    assert "UNIQUE btree on t (b)" in str(exc.value)


@pytest.mark.db
def test_D_reconciliation_adds_identity_and_generated_columns_as_declared(conn: sa.Connection) -> None:
    run(
        conn,
        "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, a int, b int, note text, "
        "seq int GENERATED ALWAYS AS IDENTITY, twice int GENERATED ALWAYS AS (a * 2) STORED)",
    )
    rows = conn.exec_driver_sql(
        "SELECT attname, attidentity <> '', attgenerated FROM pg_attribute "
        "WHERE attrelid = 't'::regclass AND attname IN ('seq', 'twice') ORDER BY attname"
    ).all()
    conn.rollback()
    assert rows == [("seq", True, ""), ("twice", False, "s")]


@pytest.mark.db
def test_an_object_a_later_revision_evolved_is_skipped_with_a_note(conn: sa.Connection) -> None:
    """Re-running history: the view of this revision, as a later revision left it."""
    run(conn, "CREATE TYPE mood AS ENUM ('sad', 'ok'); ALTER TYPE mood ADD VALUE 'happy'")
    ctx = GuardContext()
    from alembic_guard.changes import AddEnumValue

    ctx.later = lambda revision: [AddEnumValue("public", "mood", "happy")]
    events = run(conn, "CREATE TYPE mood AS ENUM ('sad', 'ok')", ctx)
    assert events[-1][0] == "skip", events
    assert "has the shape a later revision gives it" in events[-1][1]
    # without the later revision, the same database is a refusal
    with pytest.raises(GuardRefused):
        run(conn, "CREATE TYPE mood AS ENUM ('sad', 'ok')")


@pytest.mark.db
def test_drop_index_naming_no_table_is_skipped_when_the_index_is_gone(conn: sa.Connection) -> None:
    """``op.drop_index(name)``, as guard-import writes ``DROP INDEX name``: the catalog knows its table."""
    conn.exec_driver_sql("CREATE INDEX ix_b ON t (b)")
    conn.commit()
    for expected in ("act", "skip"):  # before the fix the second run failed: 42704 index does not exist
        ctx = GuardContext()
        try:
            # as under the runtime: the revision's tables read, not the whole schema
            with operations(conn, ctx, touched=[("public", "t")]) as op:
                op.drop_index("ix_b")
        finally:
            conn.rollback()
        assert [e.action for e in ctx.events] == [expected], ctx.events
    assert "already gone" in ctx.events[-1].reason
