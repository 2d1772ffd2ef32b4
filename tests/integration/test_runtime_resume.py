"""What a later run skips, and what it must not: resume by the catalog, data statements once, typed steps.

Issue 11 (B, A, M) and issue 10 (data statements once per database; the ledger's schema fixed at start).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_guard.runtime.ledger import SCHEMA_VERSION, Ledger
from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db


def _query(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _exec(url: str, sql: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def test_resume_recreates_what_the_operator_dropped(tmp_path, pg_url):
    """B: the ledger says CREATE TABLE and CREATE INDEX CONCURRENTLY ran; the catalog says they are gone."""
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "b1",
        None,
        """
        op.create_table("item", sa.Column("id", sa.Integer, primary_key=True), sa.Column("sku", sa.Text))
        with op.get_context().autocommit_block():
            op.execute("CREATE INDEX CONCURRENTLY item_sku_ix ON item (sku)")
        if os.environ.get("FAIL_B1"):
            op.execute("SELECT 1 / 0")
        """,
    )
    failed = project.run("upgrade", "head", env=project.env(FAIL_B1="1"))
    assert failed.returncode != 0
    steps = _query(pg_url, "SELECT steps FROM alembic_guard_log WHERE revision = 'b1'")[0][0]
    assert [s["kind"] for s in steps] == ["committed", "committed"], failed.stderr
    # the operator cleans up what the failed attempt left behind
    _exec(pg_url, "DROP TABLE item")

    again = project.run("upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert "already done by an earlier attempt" not in again.stderr
    assert _query(
        pg_url, "SELECT to_regclass('item') IS NOT NULL, to_regclass('item_sku_ix') IS NOT NULL"
    ) == [(True, True)]
    assert _query(pg_url, "SELECT version_num FROM alembic_version") == [("b1",)]


def test_data_statements_run_once_per_database(tmp_path, pg_url):
    """Issue 10: a seed INSERT is not applied again when its revision runs again (stamp base + upgrade)."""
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision("d1", None, 'op.execute("CREATE TABLE seed (k text)")')
    project.add_revision(
        "d2",
        "d1",
        """
        op.execute("INSERT INTO seed (k) VALUES ('a')")
        op.execute("UPDATE seed SET k = k || '!'")
        """,
        downgrade='op.execute("DELETE FROM seed")',
    )
    assert project.run("upgrade", "head").returncode == 0
    assert project.run("stamp", "d1").returncode == 0
    again = project.run("upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert _query(pg_url, "SELECT k FROM seed") == [("a!",)]
    assert again.stderr.count("already applied to this database by revision d2, skipped") == 2
    record = _query(
        pg_url,
        "SELECT steps FROM alembic_guard_log WHERE revision = 'd2' AND status = 'succeeded' ORDER BY id",
    )
    assert [[s["kind"] for s in steps] for (steps,) in record] == [["data", "data"], ["data", "data"]]

    # reverted, the revision's data counts as not applied: the next upgrade writes it again
    assert project.run("downgrade", "d1").returncode == 0
    assert project.run("upgrade", "head").returncode == 0
    assert _query(pg_url, "SELECT k FROM seed") == [("a!",)]


LEDGER_V1 = """
CREATE TABLE alembic_guard_log (
    id bigserial PRIMARY KEY, run_id text NOT NULL, revision text NOT NULL, direction text NOT NULL,
    status text NOT NULL, attempt integer NOT NULL DEFAULT 1,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(), finished_at timestamptz, duration_ms integer,
    ops_done integer NOT NULL DEFAULT 0, ops_skipped integer NOT NULL DEFAULT 0, ops_total integer,
    sqlstate text, error text, statement text, statement_index integer, checksum text, host text NOT NULL,
    pid integer NOT NULL, backend_pid integer, tool_version text NOT NULL, profile text, policy text,
    debts jsonb NOT NULL DEFAULT '[]', events jsonb NOT NULL DEFAULT '{}', steps jsonb NOT NULL DEFAULT '[]'
)
"""


def test_a_failed_repair_record_of_ledger_v1_does_not_brick_upgrades(tmp_path, pg_url):
    """A: a repair's steps on a failed record; the v1 table is brought to the current version."""
    _exec(pg_url, LEDGER_V1)
    _exec(
        pg_url,
        """
        INSERT INTO alembic_guard_log (run_id, revision, direction, status, host, pid, tool_version, steps)
        VALUES ('r', 'repair', 'repair', 'failed', 'h', 1, '0',
                '[{"index": 1, "action": "drop_table", "drift": "extra-table t", "sql": ["DROP TABLE t"]}]'),
               ('r', 'x1', 'upgrade', 'failed', 'h', 1, '0',
                '[{"index": 2, "sql_sha": "0123456789abcdef", "occurrence": 1, "sql": "CREATE TABLE x"}]')
        """,
    )
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision("x1", None, 'op.create_table("x", sa.Column("id", sa.Integer, primary_key=True))')
    run = project.run("upgrade", "head")
    assert run.returncode == 0, run.stderr
    assert _query(pg_url, "SELECT obj_description('alembic_guard_log'::regclass, 'pg_class')") == [
        (f"alembic_guard ledger v{SCHEMA_VERSION}",)
    ]
    kinds = _query(
        pg_url, "SELECT revision, steps->0->>'kind' FROM alembic_guard_log WHERE steps <> '[]' ORDER BY id"
    )
    assert kinds == [("repair", "repair"), ("x1", "committed")]
    status = project.run("guard-status", "--format", "json")
    assert status.returncode == 0, status.stderr
    assert [r["state"] for r in json.loads(status.stdout)["revisions"]] == ["applied"]


def test_the_ledger_stays_where_it_was_created_when_search_path_changes(tmp_path, pg_url):
    """Issue 10: a migration creates the schema the database's search_path names first."""
    dbname = pg_url.rsplit("/", 1)[1].split("?")[0]
    _exec(pg_url, f'ALTER DATABASE "{dbname}" SET search_path = app, public')
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision("s1", None, 'op.execute("CREATE SCHEMA app")')
    project.add_revision("s2", "s1", 'op.execute("CREATE TABLE app.thing (id int)")')
    assert project.run("upgrade", "s1").returncode == 0
    second = project.run("upgrade", "head")
    assert second.returncode == 0, second.stderr
    assert _query(
        pg_url, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_guard_log'"
    ) == [("public",)]
    status = json.loads(project.run("guard-status", "--format", "json").stdout)
    assert [r["state"] for r in status["revisions"]] == ["applied", "applied"]
    engine = create_engine(pg_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert Ledger(conn).schema == "public"
            assert [r.revision for r in Ledger(conn).records()] == ["s1", "s2"]
    finally:
        engine.dispose()


def test_lock_timeout_off_keeps_the_role_setting(tmp_path, pg_url):
    """M: ``lock_timeout = off`` leaves the session with what the role has, not ``0``."""
    dbname = pg_url.rsplit("/", 1)[1].split("?")[0]
    _exec(pg_url, f"ALTER ROLE CURRENT_USER IN DATABASE \"{dbname}\" SET lock_timeout = '4321ms'")
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "m1",
        None,
        """
        op.create_table("seen", sa.Column("setting", sa.Text))
        op.execute("INSERT INTO seen SELECT current_setting('lock_timeout')")
        """,
    )
    run = project.run("upgrade", "head", env=project.env(ALEMBIC_GUARD_LOCK_TIMEOUT="off"))
    assert run.returncode == 0, run.stderr
    assert _query(pg_url, "SELECT setting FROM seen") == [("4321ms",)]
