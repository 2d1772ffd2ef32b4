"""What a guarded operation decided: the :class:`Decision` and its parts.

A decision is data: skip, run, refuse, or ``missing`` (a requirement is
absent: the strict policy refuses, lenient skips and records a debt); the
reason; the data checks to run before any step (each a read-only count, the
operation refused when it finds rows); the steps, each saying in which
transaction it runs and which lock it takes; and the changes the steps make
to the schema model.  The adapters in :mod:`alembic_guard.ops` execute
decisions; pre-flight and dry runs read them.

Pure: no connection, no filesystem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from alembic_guard.changes import Change
from alembic_guard.model import ObjRef, QName

Verdict = Literal["skip", "run", "refuse", "missing"]

Tx = Literal["revision", "next", "autocommit"]
"""Where a step runs: in the revision's transaction; in a transaction of its own
after the revision's work so far is committed (so its lock is not held with
the earlier steps' locks); or outside any transaction (``CONCURRENTLY``)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One statement of a decision.

    ``alembic``: the statement is Alembic's own rendering of the operation
    (types, server defaults, enum types a table needs), run through
    Alembic's implementation; ``sql`` then says what it amounts to.
    """

    sql: str
    tx: Tx
    lock: str  # "ACCESS EXCLUSIVE on tasks", "none" ...
    alembic: bool = False


@dataclass(frozen=True, slots=True)
class DataCheck:
    """A read-only count of the rows that would make a step fail.

    ``kind``: ``nulls`` (SET NOT NULL), ``duplicates`` (UNIQUE), ``orphans``
    (foreign key), ``violations`` (CHECK), ``rows`` (a NOT NULL column without
    a default cannot be added to a table with rows).  ``where`` is the
    condition on ``table`` (aliased ``c``) selecting the offending rows;
    duplicates group by ``columns`` instead.
    """

    kind: Literal["nulls", "duplicates", "orphans", "violations", "rows"]
    table: QName
    columns: tuple[str, ...]
    subject: str  # the object that would fail: "foreign key fk_p", "unique index ix_e"
    where: str = ""
    ref_table: QName | None = None  # orphans: the referenced table


@dataclass(frozen=True, slots=True)
class Decision:
    op: str
    target: str
    verdict: Verdict
    reason: str
    hint: str = ""
    details: str | None = None
    checks: tuple[DataCheck, ...] = ()
    steps: tuple[Step, ...] = ()
    changes: tuple[Change, ...] = ()
    requires: ObjRef | None = None  # ``missing``: the object that is not there

    @property
    def runs(self) -> bool:
        return self.verdict == "run"


def skip(op: str, target: str, reason: str) -> Decision:
    return Decision(op, target, "skip", reason)


def kept(op: str, target: str, what: str, details: str) -> Decision:
    """``IF NOT EXISTS`` found ``what`` there with another definition: skip, as PostgreSQL does.

    PostgreSQL checks the name only and leaves the object as it is; the
    guard does the same (a refusal would fail where the SQL succeeds) and
    says that the definitions differ, with both (``details``).
    """
    return Decision(
        op,
        target,
        "skip",
        f"IF NOT EXISTS: {what} exists with another definition; kept as it is, as PostgreSQL does",
        details=details,
    )


def refuse(op: str, target: str, reason: str, hint: str, details: str | None = None) -> Decision:
    return Decision(op, target, "refuse", reason, hint, details)


def missing(op: str, target: str, what: str, hint: str, ref: ObjRef | None = None) -> Decision:
    return Decision(op, target, "missing", what, hint, requires=ref)


def destructive(op: str, target: str, what: str) -> Decision:
    """The refusal of a drop when destructive operations are not allowed (guard-repair's default)."""
    return refuse(
        op,
        target,
        f"dropping {what}, and destructive operations are not allowed",
        "allow destructive operations (--allow-destructive) if this is intended",
    )
