"""A revision that fails mid-way: rolled back, version unchanged, the ledger keeps the failure."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_guard.model import LEDGER_TABLE
from alembic_guard.testing import GuardedProject, schema_fingerprint

pytestmark = pytest.mark.db


def _fetch(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _fingerprint(url: str) -> frozenset[tuple[str, ...]]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return schema_fingerprint(conn, exclude_tables=(LEDGER_TABLE,))
    finally:
        engine.dispose()


def test_failed_revision_leaves_version_schema_and_a_failure_record(tmp_path, pg_url):
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "a1", None, 'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True))'
    )
    first = project.run("upgrade", "head")
    assert first.returncode == 0, first.stderr
    before = _fingerprint(pg_url)

    project.add_revision(
        "a2",
        "a1",
        """
        op.add_column("account", sa.Column("email", sa.Text))
        op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True))
        op.execute("INSERT INTO account (id) VALUES (1), (1)")
        """,
    )
    failed = project.run("upgrade", "head")
    assert failed.returncode != 0
    # Alembic prints "FAILED: <message>" (on stdout) for our GuardError, no traceback.
    out = failed.stdout + failed.stderr
    assert "FAILED: revision a2 (0002_a2.py) failed at statement" in out
    assert "SQLSTATE 23505" in out
    assert "Traceback" not in out

    assert _fetch(pg_url, "SELECT version_num FROM alembic_version") == [("a1",)]
    assert _fingerprint(pg_url) == before  # email column and audit table rolled back
    rows = _fetch(
        pg_url,
        "SELECT revision, status, sqlstate, error, statement, statement_index, checksum IS NOT NULL, "
        "backend_pid IS NOT NULL FROM alembic_guard_log ORDER BY id",
    )
    assert [r[:2] for r in rows] == [("a1", "succeeded"), ("a2", "failed")]
    _rev, _status, sqlstate, error, statement, index, has_checksum, has_pid = rows[1]
    assert sqlstate == "23505"
    assert "duplicate key" in error
    assert statement.startswith("INSERT INTO account")
    assert index is not None and index >= 3
    assert has_checksum and has_pid

    status = project.run("guard-status", "--format", "json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    states = {r["revision"]: (r["state"], r["sqlstate"]) for r in doc["revisions"]}
    assert states == {"a1": ("applied", None), "a2": ("failed", "23505")}

    # Fix the revision: the next run applies it and status turns to applied.
    project.versions.joinpath("0002_a2.py").write_text(
        project.versions.joinpath("0002_a2.py").read_text().replace("(1), (1)", "(1), (2)")
    )
    fixed = project.run("upgrade", "head")
    assert fixed.returncode == 0, fixed.stderr
    assert _fetch(pg_url, "SELECT version_num FROM alembic_version") == [("a2",)]
    text_status = project.run("guard-status")
    assert text_status.returncode == 0
    assert "2 applied, 0 pending, 0 failed" in text_status.stdout


def test_python_error_in_revision_is_recorded_without_statement(tmp_path, pg_url):
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "b1", None, 'op.create_table("t", sa.Column("id", sa.Integer))\nraise RuntimeError("boom")'
    )
    result = project.run("upgrade", "head")
    assert result.returncode != 0
    assert _fetch(pg_url, "SELECT to_regclass('t') IS NULL") == [(True,)]
    rows = _fetch(pg_url, "SELECT status, sqlstate, error, statement FROM alembic_guard_log")
    assert rows == [("failed", None, "boom", None)]
