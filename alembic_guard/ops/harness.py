"""Run guarded operations outside ``env.py``: for tests, benchmarks and dry runs.

``operations(connection, ctx)`` builds the same ``MigrationContext`` +
``Operations`` pair Alembic's runner builds, with the guards switched on, and
starts a revision on the context; ``offline_operations(buffer, ctx)`` does the
same in ``--sql`` mode, rendering into ``buffer``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any

from alembic.migration import MigrationContext
from alembic.operations import Operations

from alembic_guard.model import QName, SchemaModel
from alembic_guard.ops.base import driver_sql
from alembic_guard.ops.context import GUARD_OPTION, GuardContext
from alembic_guard.quoting import quote_ident


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


def row_checksums(connection: Any, model: SchemaModel) -> dict[QName, str]:
    """md5 of the rows of every table in ``model``, over the columns ``model`` lists (read-only).

    Columns added later are left out, so the figure proves the rows that were
    there, with the values they had, are unchanged.
    """
    out: dict[QName, str] = {}
    for q, table in sorted(model.tables.items()):
        t = f"{quote_ident(q[0])}.{quote_ident(q[1])}"
        cols = ", ".join(f"r.{quote_ident(c.name)}" for c in table.columns) or "1"
        sql = (
            f"SELECT coalesce(md5(string_agg(ROW({cols})::text, '|' ORDER BY ROW({cols})::text)), '') "
            f"FROM {t} AS r"
        )
        out[q] = connection.exec_driver_sql(driver_sql(connection.dialect, sql)).scalar()
    return out
