"""Through a real PgBouncer in transaction mode: the lock is a lease, each revision runs once.

A session advisory lock taken through a transaction pooler is orphaned on a
pooled backend; these tests run the guarded upgrade through PgBouncer 1.18
(the Debian package, started by the suite) and synchronise on what the
database shows (lease rows, pg_locks, ledger rows), never on the clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from alembic_guard.runtime.lock import lock_key
from alembic_guard.runtime.pooler import proxy_between
from alembic_guard.testing import GuardedProject, PgBouncer, PostgresServer

pytestmark = pytest.mark.db

BLOCKER = 4242  # a revision waits on this advisory lock while the test holds it


@pytest.fixture(scope="module")
def bouncer(pg_server: PostgresServer) -> Iterator[PgBouncer]:
    with PgBouncer(pg_server, pool_mode="transaction", pool_size=4) as b:
        yield b


def _pooled(bouncer: PgBouncer, direct_url: str) -> str:
    return bouncer.url(sa.engine.make_url(direct_url).database or "")


def _wait_for(engine: sa.Engine, sql: str, params: dict | None = None, *, procs=()) -> None:  # type: ignore[no-untyped-def]
    """Poll until ``sql`` returns a true first column: an event the database shows."""
    with engine.connect() as conn:
        for _ in range(6000):
            if conn.execute(sa.text(sql), params or {}).scalar():
                return
            for p in procs:
                assert p.poll() is None, p.communicate()
            conn.execute(sa.text("SELECT pg_sleep(0.05)"))
    raise AssertionError(f"never true: {sql}")


def test_a_proxy_is_seen_and_a_direct_connection_is_not(bouncer: PgBouncer, pg_url: str) -> None:
    pooled = _pooled(bouncer, pg_url)
    for url, through in ((pooled, True), (pg_url, False)):
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            reason = proxy_between(conn, url)
        engine.dispose()
        assert (reason is not None) == through, reason


def _project(tmp_path, url: str, n: int = 5) -> GuardedProject:  # type: ignore[no-untyped-def]
    p = GuardedProject(tmp_path, url)
    prev = None
    for i in range(1, n + 1):
        body = f'op.create_table("t{i}", sa.Column("id", sa.Integer, primary_key=True))'
        if i == 2:
            body += f'\nop.create_index("ix_t{i}", "t{i}", ["id"])'
        p.add_revision(f"r{i}", prev, body)
        prev = f"r{i}"
    return p


def test_eight_replicas_through_pgbouncer_apply_each_revision_once(tmp_path, bouncer, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    p = _project(tmp_path, _pooled(bouncer, pg_url), n=5)
    env = p.env(ALEMBIC_GUARD_LOCK_WAIT="300s")
    procs = [p.popen("upgrade", "head", env=env) for _ in range(8)]
    outs = [proc.communicate(timeout=600) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 8, [err for _, err in outs]
    assert any("the migration lock is a lease row" in err for _, err in outs)
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            done = conn.execute(
                sa.text(
                    "SELECT revision, count(*) FROM alembic_guard_log WHERE status = 'succeeded' "
                    "AND direction = 'upgrade' GROUP BY revision ORDER BY revision"
                )
            ).all()
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
            leases = conn.execute(sa.text("SELECT count(*) FROM alembic_guard_lock")).scalar_one()
            # the orphan a session lock through the pooler would leave behind
            orphans = conn.execute(
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert done == [(f"r{i}", 1) for i in range(1, 6)]
    assert version == "r5"
    assert leases == 0
    assert orphans == 0


def test_a_holder_killed_with_sigkill_frees_the_lease_when_it_expires(tmp_path, bouncer, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    p = GuardedProject(tmp_path, _pooled(bouncer, pg_url))
    p.add_revision("r1", None, f'op.execute("SELECT pg_advisory_xact_lock({BLOCKER})")')
    p.add_revision("r2", "r1", 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    env = p.env(ALEMBIC_GUARD_LOCK_LEASE="2s", ALEMBIC_GUARD_LOCK_WAIT="300s")
    engine = sa.create_engine(pg_url)
    blocker = engine.connect()
    blocker.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": BLOCKER})
    first = second = None
    try:
        first = p.popen("upgrade", "head", env=env)
        # the first replica holds the lease and is inside r1, waiting for the blocker
        _wait_for(
            engine,
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND objid = :k)",
            {"k": BLOCKER},
            procs=[first],
        )
        with engine.connect() as conn:
            token = conn.execute(sa.text("SELECT token FROM alembic_guard_lock")).scalar_one()
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        second = p.popen("upgrade", "head", env=env)
        # nobody renews the dead holder's lease: it expires and the second replica takes it
        _wait_for(
            engine,
            "SELECT EXISTS (SELECT 1 FROM alembic_guard_lock WHERE token <> :t)",
            {"t": token},
            procs=[second],
        )
    finally:
        blocker.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": BLOCKER})
        blocker.close()
    _out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        applied = conn.execute(
            sa.text("SELECT count(*) FROM alembic_guard_log WHERE revision = 'r2' AND status = 'succeeded'")
        ).scalar_one()
        leases = conn.execute(sa.text("SELECT count(*) FROM alembic_guard_lock")).scalar_one()
    engine.dispose()
    assert (version, applied, leases) == ("r2", 1, 0)


def test_direct_url_takes_the_session_lock_on_the_server_itself(tmp_path, bouncer, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    p = GuardedProject(tmp_path, _pooled(bouncer, pg_url))
    p.add_revision("r1", None, f'op.execute("SELECT pg_advisory_xact_lock({BLOCKER})")')
    env = p.env(ALEMBIC_GUARD_DIRECT_URL=pg_url)
    key = lock_key()
    engine = sa.create_engine(pg_url)
    blocker = engine.connect()
    blocker.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": BLOCKER})
    proc = None
    try:
        proc = p.popen("upgrade", "head", env=env)
        # the migration lock is a session advisory lock held on the server
        _wait_for(
            engine,
            "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = :hi "
            "AND l.objid::bigint = :lo AND a.application_name LIKE :app)",
            {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF, "app": "alembic_guard:%:lock"},
            procs=[proc],
        )
    finally:
        blocker.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": BLOCKER})
        blocker.close()
    _out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "migrating through direct_url" in err
    with engine.connect() as conn:
        lease_table = conn.execute(sa.text("SELECT to_regclass('alembic_guard_lock')")).scalar()
    engine.dispose()
    assert lease_table is None


def test_the_direct_url_is_never_printed(tmp_path, bouncer, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    p = GuardedProject(tmp_path, _pooled(bouncer, pg_url))
    p.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    secret = "Zq9-direct-Secret"
    direct = sa.engine.make_url(pg_url).set(password=secret).render_as_string(hide_password=False)
    done = subprocess.run(
        p.command("upgrade", "head"),
        cwd=p.root,
        env=p.env(ALEMBIC_GUARD_DIRECT_URL=direct),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr


def test_a_url_without_its_port_is_not_taken_for_a_proxy(pg_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """libpq takes the port from PGPORT when the URL has none: the probe compares what it dialled."""
    u = sa.engine.make_url(pg_url)
    monkeypatch.setenv("PGPORT", str(u.port))
    portless = u.set(port=None).render_as_string(hide_password=False)
    engine = sa.create_engine(portless)
    with engine.connect() as conn:
        assert proxy_between(conn, portless) is None
    engine.dispose()
