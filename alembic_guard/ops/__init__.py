"""Guarded, idempotent Alembic operations.

Importing this package replaces Alembic's implementations of ``add_column``,
``create_table``, ``create_index``, ``create_foreign_key``, ... with guarded
ones; they stay inert (call Alembic's own) unless the environment passes a
:class:`GuardContext` as ``context.configure(..., alembic_guard=ctx)``.
"""

from alembic_guard.ops.context import GUARD_OPTION, GuardContext, OpEvent, guard_context
from alembic_guard.ops.registry import install
from alembic_guard.runtime.config import RuntimeSettings, make_settings

install()

__all__ = [
    "GUARD_OPTION",
    "GuardContext",
    "OpEvent",
    "RuntimeSettings",
    "guard_context",
    "install",
    "make_settings",
]
