"""Progress of an index build, read from ``pg_stat_progress_create_index`` while it runs.

The long step of most real migrations is an index build, and it prints
nothing for minutes.  While a guarded operation builds an index (plain or
``CONCURRENTLY``), a watcher reads the building backend's row of
``pg_stat_progress_create_index`` on a connection of its own every
``progress_every`` seconds and logs one line: the phase (``building index:
scanning table``, ``waiting for writers before build``, ...), and blocks or
tuples done of the total when PostgreSQL reports them.  Read-only, no locks
beyond the catalog's.

Most builds of a run take milliseconds, so a build that ends before the
first interval costs nothing but a dictionary entry: one watcher thread per
process serves every build, and it opens its connection only once a build
has outlasted the interval (a thread and a connection per build were a
tenth of a 200-revision run's time).  The building backend's pid is read on
the migration connection once per connection when nothing sits in between
(the pid libpq was given at connect time is the server's own); behind a
pooler, before each build (see :func:`_building_pid`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

log = logging.getLogger("alembic_guard")

__all__ = ["describe_progress", "index_build_progress"]

_PROGRESS_SQL = text(
    "SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total, lockers_done, lockers_total "
    "FROM pg_stat_progress_create_index WHERE pid = :pid"
)

_PID_KEY = "alembic_guard.backend_pid"
_NEVER = float("inf")  # the due time of a build whose progress could not be read


def describe_progress(row: Any) -> str:
    """One line from a ``pg_stat_progress_create_index`` row.  Pure."""
    phase, blocks_done, blocks_total, tuples_done, tuples_total, lockers_done, lockers_total = row
    parts = [str(phase)]
    if blocks_total:
        parts.append(f"blocks {blocks_done:,}/{blocks_total:,} ({100 * blocks_done / blocks_total:.0f}%)")
    if tuples_total:
        parts.append(f"tuples {tuples_done:,}/{tuples_total:,} ({100 * tuples_done / tuples_total:.0f}%)")
    if lockers_total:
        parts.append(f"waited for {lockers_done:,} of {lockers_total:,} transactions")
    return ", ".join(parts)


def _building_pid(connection: Any) -> int:
    """The server pid of ``connection``'s backend, read once per connection when that is safe.

    Through a transaction-mode pooler each transaction may run on another
    backend, so the pid is asked for again before every build.  The pooler
    shows itself by the pid it announced at connect time (libpq's
    ``backend_pid``, PgBouncer's own number) differing from the server's.
    """
    info = connection.info
    pid = info.get(_PID_KEY)
    if pid is not None:
        return int(pid)
    pid = int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    dbapi = getattr(connection.connection, "dbapi_connection", None)
    announced = getattr(getattr(dbapi, "info", None), "backend_pid", None)
    if announced == pid:
        info[_PID_KEY] = pid
    return pid


@dataclass(eq=False)
class _Build:
    engine: Any
    pid: int
    what: str
    every_s: float
    due: float
    conn: Any = None
    done: bool = False


class _Watcher:
    """One daemon thread that polls the progress of every build in flight that is due."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._builds: dict[int, _Build] = {}
        self._to_close: list[Any] = []
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._wakes_at = _NEVER  # when the watcher thread wakes up next by itself

    def add(self, engine: Any, pid: int, what: str, every_s: float) -> int:
        with self._cond:
            token = next(self._ids)
            build = _Build(engine, pid, what, every_s, time.monotonic() + every_s)
            self._builds[token] = build
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="alembic_guard-index-progress", daemon=True
                )
                self._thread.start()
            elif build.due < self._wakes_at:
                # usually not: builds share one interval, and the thread sleeps until the
                # earliest is due (waking it for every build would cost a thread switch each)
                self._cond.notify()
        return token

    def remove(self, token: int) -> None:
        with self._cond:
            build = self._builds.pop(token, None)
            if build is None:
                return
            build.done = True
            if build.conn is not None:
                # the connection is the watcher thread's: it closes it
                self._to_close.append(build.conn)
                self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    for conn in self._to_close:
                        with contextlib.suppress(Exception):
                            conn.close()
                    self._to_close.clear()
                    now = time.monotonic()
                    due = min((b.due for b in self._builds.values()), default=_NEVER)
                    if due <= now:
                        break
                    self._wakes_at = due
                    self._cond.wait(due - now if due != _NEVER else None)
                    self._wakes_at = _NEVER
                ready = [b for b in self._builds.values() if b.due <= now]
                for b in ready:
                    b.due = now + b.every_s
            for b in ready:
                self._poll(b)

    def _poll(self, build: _Build) -> None:
        try:
            if build.conn is None:
                conn = build.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                with self._cond:
                    if build.done:  # finished while we connected
                        conn.close()
                        return
                    build.conn = conn
            row = build.conn.execute(_PROGRESS_SQL, {"pid": build.pid}).first()
        except Exception as exc:  # progress is a courtesy: never let it break the build
            build.due = _NEVER
            log.debug("index build progress of %s not available: %s", build.what, exc)
            return
        if row is not None and not build.done:
            log.info("building %s: %s", build.what, describe_progress(row))


_watcher = _Watcher()


@contextlib.contextmanager
def index_build_progress(connection: Any, what: str, every_s: float | None) -> Iterator[None]:
    """Log the progress of the index build that runs on ``connection`` inside the block.

    ``every_s`` ``None`` or ``0``: no watcher.  The watcher's connection
    comes from the same engine, opened only once the build has run for
    ``every_s``; a failure to read progress is logged once and never affects
    the build.
    """
    if not every_s:
        yield
        return
    token = _watcher.add(connection.engine, _building_pid(connection), what, every_s)
    try:
        yield
    finally:
        _watcher.remove(token)
