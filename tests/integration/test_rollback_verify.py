"""Rollback verification after a failed revision, on a real PostgreSQL.

A transactional revision that fails leaves the schema exactly as before.  A
revision whose ``autocommit_block()`` built an index before it failed leaves
that index behind: the report names it, lists the committed step from the
ledger and offers its inverse, which ``guard-repair`` runs only with
``--allow-destructive``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alembic_guard.live.snapshot import snapshot
from alembic_guard.model import SchemaModel
from alembic_guard.rollback import RollbackReport, verify_after_failure, verify_rollback
from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db

BASE = """
op.create_table("tasks", sa.Column("id", sa.Integer, primary_key=True), sa.Column("title", sa.Text))
op.execute("INSERT INTO tasks (id, title) VALUES (1, 'a'), (2, 'b')")
"""

TRANSACTIONAL = """
op.add_column("tasks", sa.Column("done", sa.Boolean))
op.create_index("ix_tasks_done", "tasks", ["done"])
op.execute("SELECT 1 / 0")
"""

WITH_AUTOCOMMIT = """
op.add_column("tasks", sa.Column("done", sa.Boolean))
with op.get_context().autocommit_block():
    op.execute("CREATE INDEX CONCURRENTLY ix_tasks_title ON tasks (title)")
op.execute("SELECT 1 / 0")
"""


def _before(url: str) -> SchemaModel:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return snapshot(conn, tables=[("public", "tasks")])
    finally:
        engine.dispose()


def _verify(url: str, before: SchemaModel) -> tuple[RollbackReport, list[Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rec = conn.exec_driver_sql(
                "SELECT revision, status, steps FROM alembic_guard_log "
                "WHERE status <> 'succeeded' ORDER BY id DESC"
            ).first()
            conn.rollback()
            assert rec is not None and rec.status == "failed"
            report = verify_after_failure(conn, before, revision=rec.revision, completed_steps=rec.steps)
            return report, rec.steps
    finally:
        engine.dispose()


def _ledger_report(url: str) -> dict[str, Any]:
    """The rollback report the runner itself left in the failed record."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT events->'rollback' FROM alembic_guard_log WHERE status = 'failed' ORDER BY id"
            ).all()
    finally:
        engine.dispose()
    assert len(rows) == 1 and rows[0][0] is not None, rows
    report: dict[str, Any] = rows[0][0]
    return report


def _project(tmp_path: Path, url: str, body: str) -> GuardedProject:
    p = GuardedProject(tmp_path, url)
    p.add_revision("r1", None, BASE)
    p.add_revision("r2", "r1", body)
    assert p.run("upgrade", "r1").returncode == 0
    return p


def test_a_failed_transactional_revision_leaves_the_schema_as_it_was(tmp_path: Path, pg_url: str) -> None:
    p = _project(tmp_path, pg_url, TRANSACTIONAL)
    before = _before(pg_url)
    failed = p.run("upgrade", "head")
    assert failed.returncode != 0
    # the runner verified the rollback itself: one line in the log, the report in the ledger
    assert (
        "revision r2 was rolled back completely: the schema of tasks equals the pre-revision snapshot"
        in failed.stderr
    ), failed.stderr
    assert _ledger_report(pg_url) == {
        "clean": True,
        "tables": ["tasks"],
        "differences": [],
        "nontransactional": [],
        "undo": [],
    }
    status = p.run("guard-status")
    assert "rollback verified: the schema of tasks equals the pre-revision snapshot" in status.stdout
    report, steps = _verify(pg_url, before)
    assert report.clean and report.differences == () and report.undo == ()
    assert steps == []
    assert "was rolled back completely" in report.render()


def test_a_committed_autocommit_step_is_listed_and_its_inverse_offered(tmp_path: Path, pg_url: str) -> None:
    p = _project(tmp_path, pg_url, WITH_AUTOCOMMIT)
    before = _before(pg_url)
    failed = p.run("upgrade", "head")
    assert failed.returncode != 0
    assert "revision r2 was NOT rolled back completely: 2 difference(s) remain" in failed.stderr
    logged = _ledger_report(pg_url)
    assert logged["clean"] is False and logged["tables"] == ["tasks"]
    assert [d.split(":")[0] for d in logged["differences"]] == [
        "AG502 extra-column column tasks.done",
        "AG517 extra-index index ix_tasks_title",
    ], logged["differences"]
    assert any("CREATE INDEX CONCURRENTLY ix_tasks_title" in s for s in logged["nontransactional"])
    assert "DROP INDEX CONCURRENTLY IF EXISTS ix_tasks_title" in logged["undo"]
    status = p.run("guard-status")
    assert "rollback NOT complete: 2 difference(s)" in status.stdout, status.stdout
    assert "undo: DROP INDEX CONCURRENTLY IF EXISTS ix_tasks_title" in status.stdout
    check = p.run("guard-check")
    assert "rollback NOT complete" in check.stdout, check.stdout
    report, _ = _verify(pg_url, before)
    assert not report.clean
    # autocommit_block() committed the add_column before it, and the index build itself
    assert [f"{d.kind} {d.ref}" for d in report.differences] == [
        "AG502 extra-column column tasks.done",
        "AG517 extra-index index ix_tasks_title",
    ]
    assert any("CREATE INDEX CONCURRENTLY ix_tasks_title" in s for s in report.nontransactional)
    undo = [sql for step in report.undo for sql in step.sql]
    assert "DROP INDEX CONCURRENTLY IF EXISTS ix_tasks_title" in undo
    assert "ALTER TABLE tasks DROP COLUMN IF EXISTS done" in undo
    assert all(step.destructive for step in report.undo)
    assert "was NOT rolled back completely" in report.render()

    # guard-repair offers the same inverses, and runs them only when allowed to drop
    plan = p.run("guard-repair")
    assert plan.returncode == 1
    # the scratch database's upgrade is not logged as if it were the user's database
    assert "Running upgrade" not in plan.stderr, plan.stderr
    assert "not repaired: AG524 leftover-step index ix_tasks_title" in plan.stdout
    assert "needs --allow-destructive" in plan.stdout
    done = p.run("guard-repair", "--apply", "--allow-destructive")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DROP INDEX CONCURRENTLY IF EXISTS ix_tasks_title;" in done.stdout
    after = _before(pg_url)
    assert verify_rollback(before, after).clean
    # and the revision now applies cleanly once fixed
    assert p.run("upgrade", "r1").returncode == 0


def test_verify_rollback_is_pure_and_names_what_differs() -> None:
    from alembic_guard.model import Column, Index, Table

    t = Table("public", "t", (Column("id", "integer", False),))
    before = SchemaModel(tables={("public", "t"): t})
    after = before.copy()
    after.indexes[("public", "ix")] = Index("public", "ix", ("public", "t"), ("id",))
    report = verify_rollback(
        before, after, [{"sql": "CREATE INDEX CONCURRENTLY ix ON t (id)"}], revision="r9"
    )
    assert not report.clean
    assert [d.kind for d in report.differences] == ["AG517 extra-index"]
    assert [s.sql for s in report.undo] == [("DROP INDEX CONCURRENTLY IF EXISTS ix",)]
    assert verify_rollback(before, before.copy()).clean
