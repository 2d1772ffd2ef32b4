"""The migration lock behind a transaction-mode pooler: a lease row, renewed while the run is alive.

A session-level advisory lock taken through PgBouncer in ``transaction`` pool
mode stays on whichever server connection ran it: the unlock lands on
another backend, and the lock outlives the run until the pooler recycles that
backend (an hour by default) — every later replica waits, or two migrate at
once.  So behind a pooler (see :mod:`alembic_guard.runtime.pooler`) the lock
is a row in ``alembic_guard_lock`` beside the ledger, written only in short
transactions, which any pool mode keeps on one backend:

- taking it is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` the row is
  free, expired or ours (the row lock serialises competing replicas);
- a heartbeat thread renews ``expires_at`` every third of the lease on its
  own connection; a renewal that finds the row gone or taken marks the lease
  lost, and the run stops before its next statement (``ensure_held``);
- a holder killed with ``kill -9`` renews nothing: its row expires after the
  lease and the next replica takes it over.

Waiters poll with no transaction open, like :class:`AdvisoryLock`'s, so they
never hold a snapshot a concurrent index build of the holder would wait for.
Takes a ROW EXCLUSIVE lock on ``alembic_guard_lock`` for each short write.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from alembic_guard.model import LOCK_TABLE
from alembic_guard.quoting import quote_ident
from alembic_guard.runtime.lock import AdvisoryLock, LockHolder, LockLost

log = logging.getLogger("alembic_guard")


class LeaseLock(AdvisoryLock):
    """The same contract as :class:`AdvisoryLock` (``acquire``, ``release``, ``ensure_held``), as a lease row.

    ``conn`` is an AUTOCOMMIT connection (each statement its own transaction);
    ``engine`` gives the heartbeat its own connection.  ``schema`` is where the
    table lives (the ledger's schema).
    """

    def __init__(
        self,
        conn: Connection,
        key: int,
        *,
        engine: Engine,
        schema: str,
        lease_s: float = 30.0,
        wait_s: float = 60.0,
        **kw: Any,
    ) -> None:
        super().__init__(conn, key, wait_s=wait_s, **kw)
        self.engine = engine
        self.lease_s = lease_s
        self.token = uuid.uuid4().hex
        self.who = f"{socket.gethostname()} pid {os.getpid()}"
        self.table = f"{quote_ident(schema)}.{quote_ident(LOCK_TABLE)}"
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread: threading.Thread | None = None
        self._ensure_table()

    def _ensure_table(self) -> None:
        # Two replicas creating it at the same moment: one of them gets a unique violation on
        # the catalog (CREATE TABLE IF NOT EXISTS is not atomic) and finds the other's table.
        ddl = text(
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "key bigint PRIMARY KEY, token text NOT NULL, holder text NOT NULL, "
            "acquired_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL)"
        )
        try:
            self.conn.execute(ddl)
        except DBAPIError:
            if not self.conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": self.table}).scalar():
                raise

    def try_acquire(self) -> bool:
        row = self.conn.execute(
            text(
                f"INSERT INTO {self.table} AS l (key, token, holder, expires_at) "
                "VALUES (:k, :t, :h, now() + make_interval(secs => :s)) "
                "ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token, holder = EXCLUDED.holder, "
                "acquired_at = now(), expires_at = EXCLUDED.expires_at "
                "WHERE l.expires_at < now() OR l.token = EXCLUDED.token "
                "RETURNING l.token"
            ),
            {"k": self.key, "t": self.token, "h": self.who, "s": float(self.lease_s)},
        ).first()
        got = row is not None
        if got and not self.held:
            self.held = True
            self._lost.clear()
            self._start_heartbeat()
        return got

    def holder(self) -> LockHolder | None:
        row = self.conn.execute(
            text(f"SELECT holder, acquired_at FROM {self.table} WHERE key = :k AND expires_at >= now()"),
            {"k": self.key},
        ).first()
        if row is None:
            return None
        return LockHolder(0, f"lease held by {row[0]}", "a pooled connection", row[1])

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="alembic_guard-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        try:
            with self.engine.connect() as hb:
                hb = hb.execution_options(isolation_level="AUTOCOMMIT")
                while not self._stop.wait(self.lease_s / 3):
                    renewed = hb.execute(
                        text(
                            f"UPDATE {self.table} SET expires_at = now() + make_interval(secs => :s) "
                            "WHERE key = :k AND token = :t"
                        ),
                        {"k": self.key, "t": self.token, "s": float(self.lease_s)},
                    ).rowcount
                    if not renewed:
                        log.error("the migration lease was taken over or removed: the run stops")
                        self._lost.set()
                        return
        except DBAPIError as exc:
            log.error("the migration lease could not be renewed (%s): the run stops", type(exc).__name__)
            self._lost.set()

    def lost(self) -> bool:
        return self._lost.is_set()

    def release(self) -> None:
        if not self.held:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.conn.execute(
                text(f"DELETE FROM {self.table} WHERE key = :k AND token = :t"),
                {"k": self.key, "t": self.token},
            )
        except DBAPIError:
            # the lease expires by itself; nothing else to do for a connection that is gone
            log.warning("could not delete the migration lease row; it expires after %.0fs", self.lease_s)
        finally:
            self.held = False

    def lost_error(self, before: str) -> LockLost:
        self.held = False
        return LockLost(
            f"the migration lease was lost (not renewed within {self.lease_s:.0f}s, or taken over): "
            f"stopped before {before}",
            hint="another run may hold it now; run the upgrade again — it resumes from the version "
            "table and the ledger (a pooler or server restart can cut the heartbeat's connection)",
        )
