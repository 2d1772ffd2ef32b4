"""What a guarded run reports: per-revision outcomes, the run's result, the failure raised, error details."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from alembic_guard.errors import GuardError
from alembic_guard.redact import error_line


class MigrationFailed(GuardError):
    """A revision failed; it was rolled back (its non-transactional steps excepted)."""

    exit_code = 1

    def __init__(
        self, message: str, *, sqlstate: str | None, hint: str | None = None, details: str | None = None
    ):
        self.sqlstate = sqlstate
        super().__init__(message, hint=hint, details=details)


@dataclass(frozen=True, slots=True)
class RevisionOutcome:
    """What happened to one revision in this run."""

    revision: str
    direction: str
    status: str
    duration_s: float
    attempts: int
    ops_done: int
    ops_skipped: int
    debts: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one guarded run (returned by ``upgrade_on_startup``)."""

    revisions: tuple[RevisionOutcome, ...]
    heads_before: tuple[str, ...]
    heads_after: tuple[str, ...]
    duration_s: float
    lock_wait_s: float
    retries: int
    abandoned: tuple[str, ...]
    profile: str
    policy: str

    @property
    def applied(self) -> tuple[str, ...]:
        return tuple(r.revision for r in self.revisions if r.status == "succeeded")

    @property
    def debts(self) -> tuple[dict[str, Any], ...]:
        return tuple(d for r in self.revisions for d in r.debts)


def sqlstate_of(exc: BaseException | None) -> str | None:
    """The SQLSTATE of a driver error anywhere in ``exc``'s chain (psycopg2 or psycopg 3)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        orig = getattr(exc, "orig", None)
        for candidate in (exc, orig):
            code = getattr(candidate, "pgcode", None) or getattr(candidate, "sqlstate", None)
            if isinstance(code, str) and code:
                return code
        exc = exc.__cause__ or exc.__context__
    return None


def first_line(exc: BaseException) -> str:
    # scrubbed: this line goes to the ledger's error column, the log and the raised error
    return error_line(exc)


def file_checksum(path: str | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None
