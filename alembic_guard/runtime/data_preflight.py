"""Data pre-flight of the whole run: dirty data refuses the run before any revision changes anything.

Each revision commits on its own, so a constraint refused in the third
pending revision would leave the first two applied.  Before the first
pending revision runs, every pending revision's operations (recorded while
the per-revision pre-flight renders it offline: one rendering for both) are
walked in order, and each constraint addition whose table and columns exist
*now*, and that no earlier pending operation may have changed, gets the very
data check its guarded operation's decision names (:func:`ops.constraints.data_decision`).
Cost: one catalog read for the tables involved and the data checks
themselves; nothing at all when no pending revision adds a constraint.

What "may have changed" means, conservatively: any operation that can
rewrite rows or columns of a table (``op.execute``, a type or default
change, a drop, a bulk insert, ...) makes later checks on that table (or
referring to it) wait for the operation itself.  SQL that cannot be
analyzed stops the walk.  Operations that cannot change the rows a later
check reads — creating a table or column that is missing (a check needs
existing columns), an index, another constraint — do not.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError

from alembic_guard.errors import GuardRefused
from alembic_guard.model import QName, format_qname

log = logging.getLogger("alembic_guard")


@dataclass(frozen=True, slots=True)
class PendingRevision:
    """One revision the run is about to apply, with what the data pre-flight needs of it."""

    revision: str
    path: str | None
    checksum: str | None
    migration_fn: Any


@dataclass(frozen=True, slots=True)
class DataRefusal:
    """A pending constraint the data as it is now would refuse."""

    revision: str
    path: str | None
    table: QName
    error: GuardRefused


def _op_tables(operation: Any) -> list[QName] | None:
    """Tables ``operation`` may change rows or columns of; ``[]`` none; ``None`` unknown.  Pure."""
    from alembic.operations import ops as aops

    from alembic_guard.ops.base import qname_of

    if isinstance(
        operation,
        (aops.CreateTableOp, aops.AddColumnOp, aops.CreateIndexOp, aops.AddConstraintOp, aops.DropIndexOp),
    ):
        # a missing table or column has nothing a later check could read; an existing
        # one is skipped (or refused) by its guarded operation; the others touch no rows
        return []
    if isinstance(operation, (aops.CreateTableCommentOp, aops.DropTableCommentOp)):
        return []
    if isinstance(operation, aops.AlterColumnOp):
        only_nullable = (
            operation.modify_type is None
            and operation.modify_server_default is False
            and not operation.modify_name
        )
        return [] if only_nullable else [qname_of(operation.table_name, operation.schema)]
    if isinstance(operation, aops.ExecuteSQLOp):
        from alembic_guard.runtime.preflight import analyze, touched_tables

        sqltext = operation.sqltext
        analyzed = analyze(sqltext, "<op.execute>") if isinstance(sqltext, str) else None
        return None if analyzed is None else sorted(touched_tables(analyzed))
    table = getattr(operation, "table_name", None)
    if isinstance(table, str):
        return [qname_of(table, getattr(operation, "schema", None))]
    return None


def _check_tables(operation: Any) -> list[QName]:
    """The tables the data check of ``operation`` reads (empty: it has none).  Pure."""
    from alembic.operations import ops as aops

    from alembic_guard.ops.base import qname_of

    if isinstance(operation, aops.CreateForeignKeyOp):
        return [
            qname_of(operation.source_table, operation.kw.get("source_schema")),
            qname_of(operation.referent_table, operation.kw.get("referent_schema")),
        ]
    if isinstance(operation, (aops.CreateUniqueConstraintOp, aops.CreateCheckConstraintOp)):
        return [qname_of(operation.table_name, operation.schema)]
    if isinstance(operation, aops.CreateIndexOp) and operation.unique and operation.index_name:
        return [qname_of(operation.table_name, operation.schema)]
    if isinstance(operation, aops.AlterColumnOp) and operation.modify_nullable is False:
        return [qname_of(operation.table_name, operation.schema)]
    return []


def find_refusals(
    pending: Sequence[PendingRevision],
    migration_context: Any,
    guard_ctx: Any,
    applied: frozenset[str] = frozenset(),
) -> list[DataRefusal] | None:
    """Every pending constraint addition the current data would refuse, in run order.

    ``applied``: the revisions the ledger says were applied to this database
    before (re-running the history: a constraint a later revision drops is
    not made again, so its data is not checked).

    Reads the catalog once for the tables involved (into ``guard_ctx.model``)
    and runs the operations' own data checks (read-only SELECTs on the
    migration connection).  ``None`` when there was nothing to check.
    """
    from alembic.operations import Operations

    from alembic_guard.ops.base import Guard
    from alembic_guard.runtime.preflight import revision_ops

    plan: list[tuple[PendingRevision, Any]] = []
    changed: set[QName] = set()
    for rev in pending:
        ops = revision_ops(rev.revision, rev.path, rev.migration_fn, rev.checksum)
        if ops is None:  # cannot render offline (reads data?): what it does is unknown
            break
        opaque = False
        for operation in ops:
            reads = _check_tables(operation)
            if reads and not changed.intersection(reads):
                plan.append((rev, operation))
            touched = _op_tables(operation)
            if touched is None:
                opaque = True
                break
            changed.update(touched)
        if opaque:
            break
    if not plan:
        return None
    conn = migration_context.connection
    guard_ctx.ensure_loaded(conn, sorted({q for _, op in plan for q in _check_tables(op)}))
    operations = Operations(migration_context)
    refusals: list[DataRefusal] = []
    saved_revision, saved_rerun = guard_ctx.revision, guard_ctx.rerun
    try:
        for rev, operation in plan:
            guard_ctx.revision = rev.revision
            guard_ctx.rerun = rev.revision in applied
            # a savepoint per check: a check PostgreSQL rejects (a CHECK calling a function a
            # pending revision creates, say) must not abort the transaction Alembic goes on in
            savepoint = conn.begin_nested()
            try:
                found = _refusal(Guard, operations, operation, guard_ctx)
            except DBAPIError as exc:
                savepoint.rollback()
                log.warning(
                    "data pre-flight: cannot check %s of revision %s now (%s); its operation will",
                    type(operation).__name__,
                    rev.revision,
                    str(getattr(exc, "orig", exc)).strip().splitlines()[0],
                )
                continue
            savepoint.commit()
            if found is not None:
                refusals.append(DataRefusal(rev.revision, rev.path, found[0], found[1]))
    finally:
        guard_ctx.revision, guard_ctx.rerun = saved_revision, saved_rerun
        guard_ctx.take_events()  # the refusals are reported below, not as events of the first revision
    log.info(
        "data pre-flight: %d pending constraint(s) checked against the data, %d would fail",
        len(plan),
        len(refusals),
    )
    return refusals


def _refusal(guard: Any, operations: Any, operation: Any, ctx: Any) -> tuple[QName, GuardRefused] | None:
    """The first data check of ``operation``'s decision that finds rows: (its table, the refusal)."""
    from alembic_guard.ops.constraints import data_decision

    decision = data_decision(
        operation, ctx.model, operations.migration_context.dialect, ctx.later_changes(), ctx.rerun
    )
    if decision is None:
        return None
    g = guard(operations, ctx, decision.op, decision.target)
    for check in decision.checks:
        refusal = g.check_data(check)
        if refusal is not None:
            return check.table, refusal
    return None


def refusal_error(refusals: Sequence[DataRefusal]) -> GuardRefused:
    """The run's refusal: the first problem in the message (its rows in the details), then the others.

    Each problem is said once: the first one's message is the error's own line.
    """
    first = refusals[0]
    where = os.path.basename(first.path) if first.path else first.revision
    details = [first.error.details] if first.error.details else []
    for r in refusals[1:]:
        file = os.path.basename(r.path) if r.path else r.revision
        details.append(f"revision {r.revision} ({file}), table {format_qname(r.table)}: {r.error.message}")
        if r.error.details:
            details.append(r.error.details)
    return GuardRefused(
        f"data pre-flight refused the run before any revision ran: {first.error.message} (in {where})",
        hint=f"{first.error.hint}; nothing was changed: no pending revision was applied",
        details="\n".join(details) or None,
    )
