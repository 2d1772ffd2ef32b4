"""``kill -9`` of the migrating process: the next run takes over, marks the dead run, converges to head."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_guard.testing import GuardedProject

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

    # the dead run's backend may still be sleeping inside the revision, with the new table locked
    # (unless the server has noticed its client's death already: client_connection_check_interval)
    dead = _query(
        pg_url,
        "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' "
        "AND application_name LIKE 'alembic_guard%migrate'",
    )
    again = project.run("upgrade", "head", timeout=120)
    assert again.returncode == 0, again.stderr
    # it was ended, not waited for: gone, and the new run never queued behind its lock
    for (pid,) in dead:
        assert _query(pg_url, f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}") == [(0,)]
    assert "lock_timeout" not in again.stderr
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


def _wait_for(url: str, sql: str, proc, what: str) -> None:
    """Poll until ``sql`` returns a true first column (an event in the catalog), the process still alive."""
    deadline = time.monotonic() + 60  # a generous stop for a hung test, not a bound on the behaviour
    while time.monotonic() < deadline:
        if _query(url, sql)[0][0]:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"never saw: {what}")


def _waiting_on_advisory(key: int, role: str) -> str:
    return (
        "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        f"WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objid = {key} "
        f"AND a.application_name LIKE 'alembic_guard%{role}')"
    )


def _end_sessions_of_dead_runs(url: str) -> None:
    """What the server does on its own once it notices the client died (made immediate here)."""
    _query(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'alembic_guard%'",
    )
    deadline = time.monotonic() + 60
    while _query(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'alembic_guard%'")[
        0
    ][0]:
        assert time.monotonic() < deadline, "the dead run's sessions never ended"
        time.sleep(0.05)


def test_kill_after_the_commit_before_the_ledger_update(tmp_path, pg_url):
    """0b: the revision committed, the process died before its ledger update: the next run records it."""
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "p1",
        None,
        """
        op.execute("SELECT pg_advisory_lock(4242)")
        op.create_table("first", sa.Column("id", sa.Integer, primary_key=True))
        op.execute("SELECT pg_advisory_unlock(4242)")
        """,
    )
    project.add_revision(
        "p2", "p1", 'op.create_table("second", sa.Column("id", sa.Integer, primary_key=True))'
    )
    engine = create_engine(pg_url, poolclass=NullPool)
    try:
        with (
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as gate,
            engine.connect() as ledger,
        ):
            gate.execute(text("SELECT pg_advisory_lock(4242)"))
            proc = project.popen("upgrade", "head")
            _wait_for(pg_url, _waiting_on_advisory(4242, "migrate"), proc, "p1 waiting at its gate")
            # p1's record exists; from now on no ledger write gets through
            ledger.execute(text("LOCK TABLE alembic_guard_log IN SHARE MODE"))
            gate.execute(text("SELECT pg_advisory_unlock(4242)"))
            _wait_for(
                pg_url,
                "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.relation = 'alembic_guard_log'::regclass AND NOT l.granted "
                "AND a.application_name LIKE 'alembic_guard%lock')",
                proc,
                "the ledger update after p1's commit",
            )
            proc.kill()
            proc.communicate()
            _end_sessions_of_dead_runs(pg_url)
            ledger.rollback()
    finally:
        engine.dispose()
    assert _query(pg_url, "SELECT version_num FROM alembic_version") == [("p1",)]
    assert _query(pg_url, "SELECT revision, status FROM alembic_guard_log ORDER BY id") == [("p1", "running")]

    again = project.run("upgrade", "head", timeout=120)
    assert again.returncode == 0, again.stderr
    assert "revision p1: an earlier run" in again.stderr and "recorded as succeeded" in again.stderr
    rows = _query(pg_url, "SELECT revision, status, events ? 'reconciled' FROM alembic_guard_log ORDER BY id")
    assert rows == [("p1", "succeeded", True), ("p2", "succeeded", False)]
    status = json.loads(project.run("guard-status", "--format", "json").stdout)
    assert [r["state"] for r in status["revisions"]] == ["applied", "applied"]


def test_losing_the_lock_connection_stops_the_run(tmp_path, pg_url):
    """0c: the lock's session ends mid-revision: one line, no further statement; the next run converges."""
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "l1",
        None,
        """
        op.execute("SELECT pg_advisory_lock(4243)")
        op.create_table("after_loss", sa.Column("id", sa.Integer, primary_key=True))
        """,
    )
    engine = create_engine(pg_url, poolclass=NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as gate:
            gate.execute(text("SELECT pg_advisory_lock(4243)"))
            proc = project.popen("upgrade", "head")
            _wait_for(pg_url, _waiting_on_advisory(4243, "migrate"), proc, "l1 waiting at its gate")
            gate.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'alembic_guard%lock'"
                )
            )
            gate.execute(text("SELECT pg_advisory_unlock(4243)"))
            _, err = proc.communicate(timeout=120)
    finally:
        engine.dispose()
    assert proc.returncode not in (0, 3), err
    assert "the migration lock was lost" in err and "statement" in err, err
    assert "Traceback" not in err, err
    # rolled back with the revision: its table, and the version table Alembic created in its transaction
    assert _query(pg_url, "SELECT to_regclass('after_loss'), to_regclass('alembic_version')") == [
        (None, None)
    ]

    again = project.run("upgrade", "head", timeout=120)
    assert again.returncode == 0, again.stderr
    assert _query(pg_url, "SELECT to_regclass('after_loss') IS NOT NULL") == [(True,)]
    assert _query(pg_url, "SELECT revision, status FROM alembic_guard_log ORDER BY id") == [
        ("l1", "abandoned"),
        ("l1", "succeeded"),
    ]


def test_a_server_idle_session_timeout_does_not_end_the_lock(tmp_path, pg_url):
    """0c: the lock's session idles while a revision runs; idle_session_timeout must not take the lock."""
    dbname = pg_url.rsplit("/", 1)[1].split("?")[0]
    engine = create_engine(pg_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(f"ALTER ROLE CURRENT_USER IN DATABASE \"{dbname}\" SET idle_session_timeout = '300ms'")
            )
    finally:
        engine.dispose()
    project = GuardedProject(tmp_path, pg_url)
    # the lock's session idles for a whole second, over three times the server's limit
    project.add_revision(
        "i1",
        None,
        'op.execute("SELECT pg_sleep(1)")\nop.create_table("idle_ok", sa.Column("id", sa.Integer))',
    )
    run = project.run("upgrade", "head", timeout=120)
    assert run.returncode == 0, run.stderr
    assert _query(pg_url, "SELECT to_regclass('idle_ok') IS NOT NULL") == [(True,)]
