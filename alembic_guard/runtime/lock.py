"""The migration lock: one session-level advisory lock per database + version table.

The lock lives on its own autocommit connection for the whole run, so it
survives each revision's commit or rollback and is released by the server
the moment the holding process dies (its connection closes).
"""

from __future__ import annotations

import hashlib
import logging
import random
import select
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from alembic_guard.errors import GuardError

log = logging.getLogger("alembic_guard")


class LockWaitTimeout(GuardError):
    """Another run held the migration lock for longer than the configured wait."""

    exit_code = 1


class LockLost(GuardError):
    """The connection holding the migration lock is gone: the lock went with it."""

    exit_code = 1


def lock_key(version_table: str = "alembic_version", schema: str | None = None) -> int:
    """A signed 64-bit advisory lock key, the same in every process for this version table.

    Advisory locks are per database already, so schema + table is enough to
    let two Alembic environments in one database migrate independently.
    """
    name = f"alembic_guard:{(schema or 'public').lower()}.{version_table.lower()}"
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds the lock, as ``pg_stat_activity`` reports it."""

    pid: int
    application_name: str
    client: str
    since: datetime | None

    def describe(self) -> str:
        since = self.since.isoformat(timespec="seconds") if self.since else "?"
        app = self.application_name or "no application_name"
        return f"pid {self.pid} ({app}) from {self.client}, since {since}"


_HOLDER_SQL = text(
    """
    SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'),
           a.backend_start
      FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.classid::bigint = :hi AND l.objid::bigint = :lo AND l.objsubid = 1
    """
)


class AdvisoryLock:
    """Polls ``pg_try_advisory_lock(key)`` on ``conn`` until granted or ``wait_s`` has passed.

    ``conn`` must be in AUTOCOMMIT: a waiter must never sit inside an open
    transaction, because ``CREATE INDEX CONCURRENTLY`` in the holder waits for
    every transaction older than its snapshot — a waiter blocked in
    ``pg_advisory_lock`` inside a transaction would deadlock the very run it
    waits for.  So we poll with a jittered backoff instead of blocking.
    Takes no table locks.
    """

    def __init__(
        self,
        conn: Connection,
        key: int,
        *,
        wait_s: float = 60.0,
        log_every_s: float = 5.0,
        max_poll_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.conn = conn
        self.key = key
        self.wait_s = wait_s
        self.log_every_s = log_every_s
        self.max_poll_s = max_poll_s
        self._sleep = sleep
        self.held = False
        self.waited_s = 0.0

    def try_acquire(self) -> bool:
        got = bool(self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        self.held = self.held or got
        return got

    def holder(self) -> LockHolder | None:
        hi, lo = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        row = self.conn.execute(_HOLDER_SQL, {"hi": hi, "lo": lo}).first()
        if row is None:
            return None
        return LockHolder(int(row[0]), str(row[1]), str(row[2]), row[3])

    def acquire(self, give_up_if: Callable[[], bool] | None = None) -> float:
        """Wait for the lock; return the seconds waited.  Raises :class:`LockWaitTimeout`.

        ``give_up_if`` is asked between polls; when it answers true the wait
        ends without the lock (``held`` stays false): the work is done already.
        """
        start = time.monotonic()
        next_log = start + self.log_every_s
        delay = 0.02
        while not self.try_acquire():
            if give_up_if is not None and give_up_if():
                self.waited_s = time.monotonic() - start
                return self.waited_s
            now = time.monotonic()
            if now - start >= self.wait_s:
                holder = self.holder()
                who = holder.describe() if holder else "a session that has just released it"
                raise LockWaitTimeout(
                    f"gave up waiting for the migration lock after {now - start:.1f}s: held by {who}",
                    hint="another deployment is migrating this database; wait for it, or raise lock_wait "
                    "(ALEMBIC_GUARD_LOCK_WAIT) — if that process is stuck, end it with "
                    "SELECT pg_terminate_backend(<pid>)",
                )
            if now >= next_log:
                holder = self.holder()
                log.info(
                    "waiting for the migration lock (%.0fs so far): held by %s",
                    now - start,
                    holder.describe() if holder else "nobody now",
                )
                next_log = now + self.log_every_s
            # Full jitter keeps many replicas from polling in lock-step.
            self._sleep(random.uniform(delay / 2, delay))
            delay = min(self.max_poll_s, delay * 2)
        self.waited_s = time.monotonic() - start
        return self.waited_s

    def release(self) -> None:
        """Give the lock back.  A lock whose connection is gone is released already: nothing to do."""
        if not self.held:
            return
        try:
            self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        except DBAPIError:
            if not self.lost():
                raise
        finally:
            self.held = False

    def lost(self) -> bool:
        """Has the connection holding the lock gone?  Usually without a round trip.

        An idle connection receives nothing unasked, except when the server
        ends the session (``pg_terminate_backend``, ``idle_session_timeout``, a
        shutdown): it sends an error and closes the socket.  So a socket with
        nothing to read is alive; otherwise a ``SELECT 1`` tells.
        """
        if self._quiet():
            return False
        try:
            self.conn.execute(text("SELECT 1"))
        except DBAPIError:
            return True
        return False

    def _quiet(self) -> bool:
        try:
            fd = self.conn.connection.dbapi_connection.fileno()  # type: ignore[union-attr]
            readable, _, _ = select.select([fd], [], [], 0)
        except (AttributeError, OSError, ValueError, DBAPIError):
            return False  # closed, or no socket to look at: ask the server
        return not readable

    def ensure_held(self, before: str) -> None:
        """Raise :class:`LockLost` when the lock is gone; ``before`` names what would have run next."""
        if self.held and self.lost():
            raise self.lost_error(before)

    def lost_error(self, before: str) -> LockLost:
        """The error for a lock found lost (and no longer counted as held)."""
        self.held = False
        return LockLost(
            f"the migration lock was lost (its connection to the server closed): stopped before {before}",
            hint="another run may take the lock now; run the upgrade again — it resumes from the "
            "version table and the ledger (a server restart, idle_session_timeout or "
            "pg_terminate_backend ends the lock's session)",
        )

    def __enter__(self) -> AdvisoryLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
