"""Guarded ``create_index`` and ``drop_index``: Alembic's operation objects turned into specs,
decided by :mod:`alembic_guard.decide.indexes`, executed here."""

from __future__ import annotations

from typing import Any

from alembic.operations import ops as aops
from sqlalchemy.sql.elements import ColumnClause, TextClause

from alembic_guard.decide.indexes import CreateIndex, DropIndex, decide_create_index, decide_drop_index
from alembic_guard.decide.types import Step
from alembic_guard.identity import describe_index
from alembic_guard.model import Index, QName, SchemaModel, Table, format_qname
from alembic_guard.ops.base import Guard, qname_of
from alembic_guard.ops.columns import expression_sql
from alembic_guard.ops.context import GuardContext
from alembic_guard.ops.progress import index_build_progress
from alembic_guard.ops.registry import Impl


def index_spec(operation: Any, dialect: Any, concurrent: bool) -> CreateIndex:
    """The spec of a ``CreateIndexOp``: keys, method, INCLUDE, predicate, uniqueness."""
    q = qname_of(operation.table_name, operation.schema)
    keys, names = [], []
    # read the op's own column list: building its sa.Index (a Table per call) costs
    # more than the rest of the guard
    for e in operation.columns:
        if isinstance(e, str) or (isinstance(e, ColumnClause) and not isinstance(e, TextClause)):
            name = e if isinstance(e, str) else str(e.name)
            keys.append(name)
            names.append(name)
        else:
            keys.append(str(e.compile(dialect=dialect, compile_kwargs={"literal_binds": True})))
    kw = operation.kw
    include = tuple(str(getattr(c, "name", c)) for c in kw.get("postgresql_include") or ())
    index = Index(
        q[0],
        str(operation.index_name),
        q,
        tuple(keys),
        bool(operation.unique),
        expression_sql(dialect, kw.get("postgresql_where")),
        include,
        str(kw.get("postgresql_using") or "btree").lower(),
    )
    return CreateIndex(
        index,
        tuple(names),
        concurrent or bool(kw.get("postgresql_concurrently")),
        bool(operation.if_not_exists),
    )


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
    spec = index_spec(operation, g.dialect, ctx.settings.concurrent_indexes)

    def build(step: Step) -> None:
        todo = _concurrent_op(operation) if step.tx == "autocommit" else operation
        if g.offline:
            original(operations, todo)
            return
        with index_build_progress(g.mc.connection, f"index {g.target}", ctx.settings.progress_every_s):
            original(operations, todo)

    if g.offline:
        g.note(
            f"online: skipped when a valid index {g.target} {describe_index(spec.index)} exists; an INVALID "
            "one left by a failed concurrent build is dropped and rebuilt"
        )
        model = SchemaModel()
        model.put_table(Table(q[0], q[1]))
        g.run_steps(decide_create_index(model, CreateIndex(spec.index, (), spec.concurrent)).steps, build)
        return
    g.load(q)
    g.carry_out(
        decide_create_index(g.model, spec, ctx.later_changes(), ctx.rerun),
        build,
        operation=operation,
    )


def drop_index(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """``DROP INDEX``: ACCESS EXCLUSIVE on the table, briefly."""
    q: QName = qname_of(operation.index_name, operation.schema)
    g = Guard(operations, ctx, "drop_index", format_qname(q))
    if g.offline:
        g.note(f"online: skipped when {g.target} is already gone")
        g.original(original, operation)
        return
    table = qname_of(operation.table_name, operation.schema) if operation.table_name is not None else None
    complete = ctx._complete
    if table is None and not complete:
        # the operation names no table (DROP INDEX as SQL does not): the catalog says whose it is
        table = index_table(g.mc.connection, q)
        complete = table is None  # no such index: gone (a re-run), not unknown
    if table is not None:
        g.load(table)
    spec = DropIndex(q, table, complete)
    g.carry_out(
        decide_drop_index(g.model, spec),
        lambda step: original(operations, operation),
        operation=operation,
    )


def index_table(connection: Any, q: QName) -> QName | None:
    """The table of index ``q`` in the catalog, ``None`` when there is no such index (read-only)."""
    import sqlalchemy as sa

    row = connection.execute(
        sa.text(
            "SELECT tn.nspname, t.relname FROM pg_catalog.pg_index i "
            "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_catalog.pg_class t ON t.oid = i.indrelid "
            "JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace "
            "WHERE n.nspname = CAST(:s AS text) AND c.relname = CAST(:n AS text)"
        ),
        {"s": q[0], "n": q[1]},
    ).first()
    return None if row is None else (str(row[0]), str(row[1]))
