"""When a failed revision is tried again, and after how long.  Pure: the run sleeps and logs.

Two causes are worth another attempt, each on a fresh migration connection
that starts from a fresh read of the catalog:

- ``lock_not_available`` (55P03): ``lock_timeout`` gave up waiting for a table
  lock another session held; retried up to ``retries`` times with jittered
  exponential backoff;
- a catalog conflict (:data:`CATALOG_CONFLICTS`) in a revision whose tables'
  model was carried from an earlier read in this run: something outside the
  run changed the catalog; retried once, at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

LOCK_NOT_AVAILABLE = "55P03"
MAX_RETRY_DELAY_S = 30.0

# SQLSTATEs by which PostgreSQL says the catalog is not what the model carried: duplicate
# table / column / object / schema, undefined table / column / object / schema
CATALOG_CONFLICTS = frozenset({"42P07", "42701", "42710", "42P06", "42P01", "42703", "42704", "3F000"})


@dataclass(frozen=True, slots=True)
class Retry:
    """Try the run again after ``delay_s`` seconds, for ``reason``."""

    reason: str  # "catalog_conflict" | "lock_timeout"
    delay_s: float


def retry_after(
    sqlstate: str | None,
    *,
    attempt: int,
    retries: int,
    backoff_s: float,
    revision: str | None,
    carried: bool,
    conflict_retried: frozenset[str] | set[str],
    jitter: Callable[[float, float], float] = random.uniform,
) -> Retry | None:
    """The retry owed to a failure with ``sqlstate`` on the ``attempt``-th attempt, or ``None``."""
    if (
        sqlstate in CATALOG_CONFLICTS
        and carried
        and revision is not None
        and revision not in conflict_retried
    ):
        return Retry("catalog_conflict", 0.0)
    if sqlstate == LOCK_NOT_AVAILABLE and attempt <= retries:
        backoff = min(MAX_RETRY_DELAY_S, backoff_s * 2 ** (attempt - 1))
        return Retry("lock_timeout", backoff * jitter(0.5, 1.0))
    return None
