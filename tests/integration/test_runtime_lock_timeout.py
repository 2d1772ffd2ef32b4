"""A long transaction holds a lock on the table a revision alters.

The migration gives up within ``lock_timeout``, retries with backoff, and
succeeds once the transaction ends; meanwhile a reader loop on the same table
keeps reading while the long transaction still holds its lock, because the
ALTER never sits in the lock queue for long (without ``lock_timeout`` every
reader would queue behind it until the transaction ends).  Synchronised on the
ledger's failed attempts and the readers' progress, not on wall-clock bounds.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_guard.testing import GuardedProject

pytestmark = [pytest.mark.db, pytest.mark.slow]

LOCK_TIMEOUT_S = 0.4


def _wait(condition, what: str, proc) -> None:
    deadline = time.monotonic() + 120  # a stop for a hung test, not a bound on the behaviour
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"never saw: {what}"
        time.sleep(0.02)


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
    reads = [0]

    def reader() -> None:
        with engine.connect() as conn:
            while not stop.is_set():
                conn.execute(text("SELECT count(*) FROM hot")).scalar()
                conn.commit()
                reads[0] += 1
                time.sleep(0.01)

    def failed_attempts() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM alembic_guard_log WHERE revision = 'l2' AND sqlstate = '55P03'"
                    )
                ).scalar()
            )

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
        # the migration gave up twice on the lock the transaction holds, and is still retrying ...
        _wait(lambda: failed_attempts() >= 2, "two attempts that hit lock_timeout", proc)
        # ... while readers of the same table keep reading (the transaction still holds its lock)
        seen = reads[0]
        _wait(lambda: reads[0] >= seen + 5, "readers reading between the attempts", proc)
        assert proc.poll() is None
        holder.rollback()
        _out, err = proc.communicate(timeout=60)
    stop.set()
    readers.join(timeout=10)

    assert proc.returncode == 0, err
    assert "lock_timeout (400ms) reached" in err and "retry 1 of 20" in err
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
