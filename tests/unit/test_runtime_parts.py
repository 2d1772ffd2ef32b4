"""Pure parts of the runtime: step kinds, data statements, the retry decision."""

from __future__ import annotations

import pytest

from alembic_guard.runtime.ledger import committed_step, data_step, is_data_statement, repair_step, step_kind
from alembic_guard.runtime.runner.retry import LOCK_NOT_AVAILABLE, retry_after


@pytest.mark.parametrize(
    ("sql", "data"),
    [
        ("INSERT INTO t VALUES (1)", True),
        ("  update t SET a = 1", True),
        ("DELETE FROM t", True),
        ("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", True),
        ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", True),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
        ("DO $$ BEGIN EXECUTE 'CREATE TABLE t2 (id int)'; END $$", True),
        ("CALL backfill()", True),
        ("do$x$ BEGIN PERFORM 1; END $x$", True),
        ("DOMAIN", False),
        ("CREATE TABLE t (id int)", False),
        ("ALTER TABLE t ADD COLUMN updated_at timestamptz", False),
        ("", False),
    ],
)
def test_data_statements(sql: str, data: bool) -> None:
    assert is_data_statement(sql) is data


def test_step_kinds_typed_and_of_ledger_v1() -> None:
    assert step_kind(committed_step(1, "ab", 1, "CREATE TABLE t ()", data=False)) == "committed"
    assert step_kind(data_step(2, "cd", 1, "INSERT INTO t DEFAULT VALUES")) == "data"
    assert step_kind(repair_step(1, "drop_table", "extra-table t", ["DROP TABLE t"])) == "repair"
    # ledger v1: untyped steps, told apart by their fields
    assert step_kind({"index": 3, "sql_sha": "ab", "occurrence": 1, "sql": "x"}) == "committed"
    assert step_kind({"index": 1, "action": "drop_table", "drift": "d", "sql": ["x"]}) == "repair"
    # what this release does not know is never taken for a step it does
    assert step_kind({"kind": "committed", "v": 99}) is None
    assert step_kind({"kind": "something-later", "v": 1}) is None
    assert step_kind(["not", "a", "step"]) is None


def test_retry_decisions() -> None:
    kw = {"retries": 2, "backoff_s": 1.0, "revision": "r1", "carried": False, "conflict_retried": set()}
    low = retry_after(LOCK_NOT_AVAILABLE, attempt=1, jitter=lambda a, b: a, **kw)  # type: ignore[arg-type]
    assert low is not None and (low.reason, low.delay_s) == ("lock_timeout", 0.5)
    assert retry_after(LOCK_NOT_AVAILABLE, attempt=3, **kw) is None  # type: ignore[arg-type]
    assert retry_after("22012", attempt=1, **kw) is None  # type: ignore[arg-type]
    carried = {**kw, "carried": True}
    conflict = retry_after("42P07", attempt=1, **carried)  # type: ignore[arg-type]
    assert conflict is not None and conflict.reason == "catalog_conflict"
    assert retry_after("42P07", attempt=2, **{**carried, "conflict_retried": {"r1"}}) is None  # type: ignore[arg-type]


def test_a_revision_rendered_offline_keeps_its_percent_signs() -> None:
    """What guard-adopt and guard-check analyse: ``format('%I')`` and ``RAISE '... %'`` as written
    (doubled, a RAISE has too many parameters and the function body is not read)."""
    from alembic import op
    from alembic_guard.runtime.preflight import render_revision_sql

    body = "BEGIN EXECUTE format('CREATE TABLE %I ()', t); RAISE NOTICE 'made %', t; END"

    def upgrade() -> None:
        op.execute(f"CREATE FUNCTION f(t text) RETURNS void LANGUAGE plpgsql AS $${body}$$")

    sql = render_revision_sql(upgrade)
    assert sql is not None and body in sql
