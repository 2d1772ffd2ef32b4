"""Registration of the guarded operations with Alembic.

Alembic dispatches an operation to the implementation registered for the
first class in its MRO (``CreateForeignKeyOp`` → ``AddConstraintOp``), and a
replacement is active in every environment the package is installed in.  So
each replacement looks for a :class:`GuardContext` in the migration context's
options and calls Alembic's original implementation, unchanged, when there is
none.  :func:`install` is idempotent: registering twice keeps the first
originals and installs nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic.operations import (
    Operations,
    toimpl,  # noqa: F401  (registers Alembic's own implementations first)
)
from alembic.operations import ops as aops

from alembic_guard.alembic_internals import current_implementation
from alembic_guard.ops.context import GuardContext, guard_context

Impl = Callable[[Any, Any], Any]
GuardedImpl = Callable[[Any, Any, GuardContext, Impl], Any]

ORIGINALS: dict[type, Impl] = {}
"""Alembic's own implementation of each replaced operation class."""


def _replacement(guarded: GuardedImpl, original: Impl) -> Impl:
    def impl(operations: Any, operation: Any) -> Any:
        ctx = guard_context(operations.migration_context)
        if ctx is None:
            return original(operations, operation)
        ctx.active_ops += 1
        try:
            return guarded(operations, operation, ctx, original)
        finally:
            ctx.active_ops -= 1

    impl._alembic_guard = True  # type: ignore[attr-defined]
    impl.__name__ = f"guarded_{getattr(guarded, '__name__', 'op')}"
    return impl


def guarded_ops() -> dict[type, GuardedImpl]:
    """The operation classes alembic_guard replaces, with their guarded implementations."""
    from alembic_guard.ops import columns, constraints, execute, indexes, tables

    return {
        aops.AddColumnOp: columns.add_column,
        aops.AlterColumnOp: columns.alter_column,
        aops.DropColumnOp: columns.drop_column,
        aops.CreateTableOp: tables.create_table,
        aops.DropTableOp: tables.drop_table,
        aops.CreateIndexOp: indexes.create_index,
        aops.DropIndexOp: indexes.drop_index,
        aops.AddConstraintOp: constraints.add_constraint,
        aops.DropConstraintOp: constraints.drop_constraint,
        aops.ExecuteSQLOp: execute.execute,
    }


def install() -> None:
    """Replace Alembic's implementations with the guarded ones (harmless when repeated)."""
    for op_cls, guarded in guarded_ops().items():
        current = current_implementation(op_cls)
        if getattr(current, "_alembic_guard", False):
            continue
        ORIGINALS[op_cls] = current
        Operations.implementation_for(op_cls, replace=True)(_replacement(guarded, current))
