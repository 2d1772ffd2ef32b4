"""The advisory lock: deterministic key, polling without a transaction, who-holds-it logs, give-up."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_guard.runtime.lock import AdvisoryLock, LockWaitTimeout, lock_key

pytestmark = pytest.mark.db


def test_lock_key_is_deterministic_and_per_version_table():
    assert lock_key() == lock_key("alembic_version", None) == lock_key("ALEMBIC_VERSION", "public")
    assert lock_key("alembic_version", "app") != lock_key()
    assert lock_key("other_version") != lock_key()
    assert -(2**63) <= lock_key() < 2**63


def test_waiter_polls_outside_a_transaction_logs_the_holder_and_gives_up(pg_url, caplog):
    engine = create_engine(pg_url, poolclass=NullPool)
    key = lock_key()
    with engine.connect() as holder, engine.connect() as waiter_conn:
        holder = holder.execution_options(isolation_level="AUTOCOMMIT")
        holder.execute(text("SET application_name = 'blocker-app'"))
        assert holder.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        holder_pid = holder.execute(text("SELECT pg_backend_pid()")).scalar()
        waiter_conn = waiter_conn.execution_options(isolation_level="AUTOCOMMIT")
        waiter_pid = waiter_conn.execute(text("SELECT pg_backend_pid()")).scalar()
        lock = AdvisoryLock(waiter_conn, key, wait_s=1.5, log_every_s=0.3)

        in_transaction: list[bool] = []

        def watch() -> None:
            with engine.connect() as spy:
                for _ in range(10):
                    # An open transaction *block* between polls is what would deadlock a
                    # CREATE INDEX CONCURRENTLY; the implicit transaction of the one
                    # statement being executed at the sampled instant is not.
                    row = spy.execute(
                        text("SELECT state LIKE 'idle in transaction%' FROM pg_stat_activity WHERE pid = :p"),
                        {"p": waiter_pid},
                    ).scalar()
                    in_transaction.append(bool(row))
                    spy.rollback()
                    time.sleep(0.1)

        spy = threading.Thread(target=watch)
        spy.start()
        caplog.set_level(logging.INFO, logger="alembic_guard")
        with pytest.raises(LockWaitTimeout) as info:
            lock.acquire()
        spy.join()
        # it waited its whole wait_s (a lower bound holds on any machine; an upper one would not)
        waited = re.search(r"after ([0-9.]+)s", info.value.message)
        assert waited is not None and float(waited[1]) >= 1.5
        assert f"held by pid {holder_pid} (blocker-app)" in info.value.message
        assert "pg_terminate_backend" in (info.value.hint or "")
        assert not lock.held
        # Polling never leaves a transaction open (it would deadlock CREATE INDEX CONCURRENTLY).
        assert in_transaction and not any(in_transaction)
        waits = [r.getMessage() for r in caplog.records if "waiting for the migration lock" in r.getMessage()]
        assert waits and f"held by pid {holder_pid} (blocker-app)" in waits[0]

        # Released by the holder: the waiter gets it at its first poll, and give_up_if ends a
        # wait without it at the first poll (no sleep in between)
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        slept: list[float] = []
        lock = AdvisoryLock(waiter_conn, key, wait_s=5, sleep=slept.append)
        lock.acquire()
        assert lock.held and slept == []
        other = AdvisoryLock(holder, key, wait_s=5, sleep=slept.append)
        other.acquire(give_up_if=lambda: True)
        assert not other.held and slept == []
        lock.release()
        assert other.try_acquire()
        other.release()
    engine.dispose()
