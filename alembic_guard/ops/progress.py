"""Progress of an index build, read from ``pg_stat_progress_create_index`` while it runs.

The long step of most real migrations is an index build, and it prints
nothing for minutes.  While a guarded operation builds an index (plain or
``CONCURRENTLY``), a watcher thread reads the building backend's row of
``pg_stat_progress_create_index`` on a connection of its own every
``progress_every`` seconds and logs one line: the phase (``building index:
scanning table``, ``waiting for writers before build``, ...), and blocks or
tuples done of the total when PostgreSQL reports them.  A build that ends
before the first interval logs nothing.  Read-only, no locks beyond the
catalog's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text

log = logging.getLogger("alembic_guard")

__all__ = ["describe_progress", "index_build_progress"]

_PROGRESS_SQL = text(
    "SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total, lockers_done, lockers_total "
    "FROM pg_stat_progress_create_index WHERE pid = :pid"
)


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


@contextlib.contextmanager
def index_build_progress(connection: Any, what: str, every_s: float | None) -> Iterator[None]:
    """Log the progress of the index build that runs on ``connection`` inside the block.

    ``every_s`` ``None`` or ``0``: no watcher.  The watcher's own connection
    comes from the same engine; a failure to read progress is logged once
    and never affects the build.
    """
    if not every_s:
        yield
        return
    pid = int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    stop = threading.Event()

    def watch() -> None:
        try:
            with connection.engine.connect() as watcher:
                watcher = watcher.execution_options(isolation_level="AUTOCOMMIT")
                while not stop.wait(every_s):
                    row = watcher.execute(_PROGRESS_SQL, {"pid": pid}).first()
                    if row is not None:
                        log.info("building %s: %s", what, describe_progress(row))
        except Exception as exc:  # progress is a courtesy: never let it break the build
            log.debug("index build progress of %s not available: %s", what, exc)

    thread = threading.Thread(target=watch, name="alembic_guard-index-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
