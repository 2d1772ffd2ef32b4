"""``kill -9`` of the migrating process: the next run takes over, marks the dead run, converges to head."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_guard.runtime.sandbox import GuardedProject

pytestmark = [pytest.mark.db, pytest.mark.slow]

SLEEP = 'op.execute("SELECT pg_sleep(%s)" % float(os.environ.get("REV_SLEEP", "0")))'


def _query(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _kill_while_sleeping(project: GuardedProject, url: str) -> None:
    proc = project.popen("upgrade", "head", env=project.env(REV_SLEEP="60"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        busy = _query(
            url,
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep%' "
            "AND application_name LIKE 'alembic_guard%migrate'",
        )
        if busy[0][0]:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the revision never reached its pg_sleep")
    proc.kill()  # SIGKILL: no cleanup, no rollback from the client
    proc.communicate()


def test_kill_during_a_transactional_revision(tmp_path, pg_url):
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision("k1", None, 'op.create_table("base", sa.Column("id", sa.Integer, primary_key=True))')
    project.add_revision(
        "k2", "k1", f'op.create_table("slow", sa.Column("id", sa.Integer, primary_key=True))\n{SLEEP}'
    )
    _kill_while_sleeping(project, pg_url)
    assert _query(pg_url, "SELECT revision, status FROM alembic_guard_log ORDER BY id") == [
        ("k1", "succeeded"),
        ("k2", "running"),
    ]

    started = time.monotonic()
    again = project.run("upgrade", "head", timeout=60)
    assert again.returncode == 0, again.stderr
    # The dead run's backend was still sleeping with the table locked; it was ended, not waited for.
    assert time.monotonic() - started < 30
    assert "died while applying it; marked abandoned" in again.stderr
    assert _query(pg_url, "SELECT version_num FROM alembic_version") == [("k2",)]
    assert _query(pg_url, "SELECT revision, status FROM alembic_guard_log ORDER BY id") == [
        ("k1", "succeeded"),
        ("k2", "abandoned"),
        ("k2", "succeeded"),
    ]
    status = json.loads(project.run("guard-status", "--format", "json").stdout)
    assert [r["state"] for r in status["revisions"]] == ["applied", "applied"]


def test_kill_inside_an_autocommit_block(tmp_path, pg_url):
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "c1",
        None,
        """
        op.execute("CREATE TABLE item (id integer PRIMARY KEY, sku text)")
        with op.get_context().autocommit_block():
            op.execute("CREATE INDEX CONCURRENTLY item_sku_ix ON item (sku)")
            op.execute("INSERT INTO item (id, sku) VALUES (1, 'first')")
            SLEEP_HERE
            op.execute("CREATE INDEX CONCURRENTLY item_sku_id_ix ON item (sku, id)")
        """.replace("SLEEP_HERE", SLEEP),
    )
    _kill_while_sleeping(project, pg_url)
    # The table and the first index committed before the kill; the version row did not.
    assert _query(pg_url, "SELECT to_regclass('item_sku_ix') IS NOT NULL, to_regclass('item_sku_id_ix')") == [
        (True, None)
    ]
    assert _query(pg_url, "SELECT count(*) FROM alembic_version") == [(0,)]
    steps = _query(pg_url, "SELECT steps FROM alembic_guard_log")[0][0]
    assert [s["sql"] for s in steps] == [
        "CREATE TABLE item (id integer PRIMARY KEY, sku text)",
        "CREATE INDEX CONCURRENTLY item_sku_ix ON item (sku)",
        "INSERT INTO item (id, sku) VALUES (1, 'first')",
    ]

    again = project.run("upgrade", "head", timeout=60)
    assert again.returncode == 0, again.stderr
    # The guarded ops see the table and index and skip them; the INSERT they cannot judge is
    # skipped because the ledger recorded it as a completed step (else: duplicate key).
    assert "already done by an earlier attempt, skipped: INSERT INTO item" in again.stderr
    assert _query(pg_url, "SELECT count(*) FROM item") == [(1,)]
    assert _query(pg_url, "SELECT version_num FROM alembic_version") == [("c1",)]
    assert _query(pg_url, "SELECT to_regclass('item_sku_id_ix') IS NOT NULL") == [(True,)]
    rows = _query(pg_url, "SELECT status, events->>'steps_skipped' FROM alembic_guard_log ORDER BY id")
    assert rows == [("abandoned", None), ("succeeded", "1")]
