"""Run guarded operations outside ``env.py``: ``guard-repair --apply`` runs its steps through them.

``operations(connection, ctx)`` builds the same ``MigrationContext`` +
``Operations`` pair Alembic's runner builds, with the guards switched on, and
starts a revision on the context; ``offline_operations(buffer, ctx)`` does the
same in ``--sql`` mode, rendering into ``buffer``.  Tests and benchmarks drive
single guarded ops the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any

from alembic.migration import MigrationContext
from alembic.operations import Operations

from alembic_guard.model import QName
from alembic_guard.ops.context import GUARD_OPTION, GuardContext


@contextlib.contextmanager
def operations(
    connection: Any,
    ctx: GuardContext | None,
    *,
    revision: str | None = "test",
    touched: list[QName] | None = None,
) -> Iterator[Operations]:
    """An ``Operations`` on ``connection`` (guards on when ``ctx`` is given), in one transaction.

    The transaction is Alembic's (``begin_transaction``), as in ``env.py``, so
    ``autocommit_block()`` works; it commits when the block ends and rolls back
    on an error.  Reads the catalog once (``ctx.begin_revision``).
    """
    opts: dict[str, Any] = {GUARD_OPTION: ctx} if ctx is not None else {}
    mc = MigrationContext.configure(connection, opts=opts)
    with mc.begin_transaction():
        if ctx is not None:
            ctx.begin_revision(revision, connection, touched)
        yield Operations(mc)


@contextlib.contextmanager
def offline_operations(buffer: IO[str], ctx: GuardContext | None) -> Iterator[Operations]:
    """An ``Operations`` in offline ``--sql`` mode writing PostgreSQL SQL into ``buffer``."""
    opts: dict[str, Any] = {"as_sql": True, "output_buffer": buffer}
    if ctx is not None:
        opts[GUARD_OPTION] = ctx
    mc = MigrationContext.configure(dialect_name="postgresql", opts=opts)
    if ctx is not None:
        ctx.begin_revision("offline", None)
    yield Operations(mc)
