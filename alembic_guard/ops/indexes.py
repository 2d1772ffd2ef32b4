"""Guarded ``create_index`` and ``drop_index``."""

from __future__ import annotations

from typing import Any

from alembic.operations import ops as aops
from sqlalchemy.sql.elements import ColumnClause, TextClause

from alembic_guard.model import Index, QName, format_qname
from alembic_guard.ops.base import Guard, loose_sql, qname_of
from alembic_guard.ops.context import GuardContext
from alembic_guard.ops.registry import Impl


def describe_index(ix: Index) -> str:
    text = f"{'UNIQUE ' if ix.unique else ''}on {format_qname(ix.table)} ({', '.join(ix.columns)})"
    return text + (f" WHERE {ix.predicate}" if ix.predicate else "")


def same_index(have: Index, want: Index) -> bool:
    """Same table, keys, uniqueness and predicate (expressions compared loosely)."""
    return (
        have.table == want.table
        and have.unique == want.unique
        and [loose_sql(c) for c in have.columns] == [loose_sql(c) for c in want.columns]
        and loose_sql(have.predicate) == loose_sql(want.predicate)
    )


def wanted_index(g: Guard, operation: Any, q: QName) -> tuple[Index, list[str]]:
    """The model fact ``operation`` declares, and the plain column names its keys need."""
    keys, names = [], []
    # read the op's own column list: building its sa.Index (a Table per call) costs
    # more than the rest of the guard
    for e in operation.columns:
        if isinstance(e, str) or (isinstance(e, ColumnClause) and not isinstance(e, TextClause)):
            name = e if isinstance(e, str) else str(e.name)
            keys.append(name)
            names.append(name)
        else:
            keys.append(str(e.compile(dialect=g.dialect, compile_kwargs={"literal_binds": True})))
    where = operation.kw.get("postgresql_where")
    predicate = None
    if where is not None:
        predicate = (
            where
            if isinstance(where, str)
            else str(where.compile(dialect=g.dialect, compile_kwargs={"literal_binds": True}))
        )
    return Index(q[0], str(operation.index_name), q, tuple(keys), bool(operation.unique), predicate), names


def _concurrent_op(operation: Any) -> Any:
    kw = {**operation.kw, "postgresql_concurrently": True}
    return aops.CreateIndexOp(
        operation.index_name,
        operation.table_name,
        operation.columns,
        schema=operation.schema,
        unique=operation.unique,
        if_not_exists=operation.if_not_exists,
        **kw,
    )


def create_index(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """``CREATE INDEX``: SHARE lock on the table (blocks writes for the build); with
    ``concurrent_indexes``, ``CREATE INDEX CONCURRENTLY`` in an autocommit block (SHARE UPDATE
    EXCLUSIVE: reads and writes go on; commits the revision's earlier work)."""
    q = qname_of(operation.table_name, operation.schema)
    if operation.index_name is None:
        # no name to find it by next time: nothing to guard with
        g = Guard(operations, ctx, "create_index", f"(unnamed) on {format_qname(q)}")
        g.original(original, operation)
        g.unguarded("an index without a name cannot be matched on a later run")
        return
    g = Guard(operations, ctx, "create_index", format_qname((q[0], operation.index_name)))
    want, names = wanted_index(g, operation, q)
    concurrent = ctx.settings.concurrent_indexes or bool(operation.kw.get("postgresql_concurrently"))
    if g.offline:
        g.note(
            f"online: skipped when a valid index {g.target} {describe_index(want)} exists; an INVALID "
            "one left by a failed concurrent build is dropped and rebuilt"
        )
        _build(g, operation, original, concurrent, drop_invalid=False)
        return
    g.load(q)
    table = g.model.table(*q)
    if table is None:
        g.missing(
            f"table {format_qname(q)} does not exist",
            hint="create the table first, or run with policy=lenient to skip and record a debt",
        )
        return
    for n in names:
        if table.column(n) is None:
            g.missing(
                f"column {format_qname(q)}.{n} does not exist",
                hint="add the column first (is the revision that adds it missing or later?)",
            )
            return
    have: Index | None = g.model.indexes.get(want.qname)
    if have is not None and have.valid:
        if same_index(have, want):
            g.skip(f"already there ({describe_index(have)})")
            return
        raise g.refuse(
            "an index of that name exists with another definition",
            hint="rename one of the two indexes, or drop the existing one in an earlier revision",
            details=f"  in the database:  {describe_index(have)}\n  in the migration: {describe_index(want)}",
        )
    _build(g, operation, original, concurrent, drop_invalid=have is not None)
    g.model.put_index(want)
    g.acted(
        ("dropped the INVALID index a failed build left, then " if have is not None else "")
        + ("built concurrently" if concurrent else "built")
    )


def _build(g: Guard, operation: Any, original: Impl, concurrent: bool, *, drop_invalid: bool) -> None:
    """Drop a leftover INVALID index (IF NOT EXISTS would take it for the index) and build."""
    drop = f"DROP INDEX {'CONCURRENTLY ' if concurrent else ''}IF EXISTS " + g.table_sql(
        (operation.schema or "public", operation.index_name)
    )
    if concurrent:
        with g.autocommit():
            if drop_invalid:
                g.run(drop, lock=False)
            g.original(original, _concurrent_op(operation), lock=False)
    else:
        if drop_invalid:
            g.run(drop)
        g.original(original, operation)


def drop_index(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """``DROP INDEX``: ACCESS EXCLUSIVE on the table, briefly."""
    q = qname_of(operation.index_name, operation.schema)
    g = Guard(operations, ctx, "drop_index", format_qname(q))
    if g.offline:
        g.note(f"online: skipped when {g.target} is already gone")
        g.original(original, operation)
        return
    known = ctx._complete
    if operation.table_name is not None:
        g.load(qname_of(operation.table_name, operation.schema))
        known = True
    if known and q not in g.model.indexes:
        g.skip("already gone")
        return
    g.original(original, operation)
    g.model.indexes.pop(q, None)
    g.acted("dropped")
