"""A long transaction holds a lock on the table a revision alters.

The migration gives up within ``lock_timeout``, retries with backoff, and
succeeds once the transaction ends; meanwhile a reader loop on the same table
is never blocked for longer than ``lock_timeout`` (plus slack), because the
ALTER never sits in the lock queue for long.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_guard.runtime.sandbox import GuardedProject

pytestmark = [pytest.mark.db, pytest.mark.slow]

LOCK_TIMEOUT_S = 0.4
SLACK_S = 0.6
HOLD_S = 3.0


def test_lock_timeout_retries_and_readers_are_not_blocked(tmp_path, pg_url):
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "l1",
        None,
        'op.execute("CREATE TABLE hot (id integer PRIMARY KEY)")\n'
        'op.execute("INSERT INTO hot SELECT generate_series(1, 100)")',
    )
    assert project.run("upgrade", "head").returncode == 0
    project.add_revision("l2", "l1", 'op.add_column("hot", sa.Column("note", sa.Text))')

    engine = create_engine(pg_url, poolclass=NullPool)
    stop = threading.Event()
    worst = [0.0]

    def reader() -> None:
        with engine.connect() as conn:
            while not stop.is_set():
                t0 = time.monotonic()
                conn.execute(text("SELECT count(*) FROM hot")).scalar()
                conn.commit()
                worst[0] = max(worst[0], time.monotonic() - t0)
                time.sleep(0.01)

    with engine.connect() as holder:
        holder.execute(text("SELECT count(*) FROM hot"))  # ACCESS SHARE, held until the transaction ends
        readers = threading.Thread(target=reader, daemon=True)
        readers.start()
        env = project.env(
            ALEMBIC_GUARD_LOCK_TIMEOUT=f"{int(LOCK_TIMEOUT_S * 1000)}ms",
            ALEMBIC_GUARD_RETRIES="20",
            ALEMBIC_GUARD_RETRY_BACKOFF="100ms",
        )
        proc = project.popen("upgrade", "head", env=env)
        time.sleep(HOLD_S)
        assert proc.poll() is None, "the migration should still be retrying"
        holder.rollback()
        _out, err = proc.communicate(timeout=60)
    stop.set()
    readers.join(timeout=10)

    assert proc.returncode == 0, err
    assert "lock_timeout (400ms) reached" in err and "retry 1 of 20" in err
    assert worst[0] < LOCK_TIMEOUT_S + SLACK_S, f"a reader waited {worst[0]:.2f}s"
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT revision, status, sqlstate FROM alembic_guard_log ORDER BY id")
        ).all()
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "l2"
    engine.dispose()
    l2 = [tuple(r[1:]) for r in rows if r[0] == "l2"]
    assert len(l2) >= 2
    assert set(l2[:-1]) == {("failed", "55P03")}
    assert l2[-1] == ("succeeded", None)
