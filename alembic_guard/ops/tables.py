"""Guarded ``create_table`` (which reconciles an existing table) and ``drop_table``."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops as aops

from alembic_guard.decide.tables import CreateTable, DropTable, decide_create_table, decide_drop_table
from alembic_guard.identity import fold_redundant_keys
from alembic_guard.model import Constraint, Index, QName, Table, format_qname
from alembic_guard.ops.base import Guard, qname_of
from alembic_guard.ops.columns import model_column
from alembic_guard.ops.constraints import check_columns
from alembic_guard.ops.context import GuardContext
from alembic_guard.ops.registry import Impl

log = logging.getLogger("alembic_guard.ops")


def _constraint_facts(dialect: Any, q: QName, table: Any) -> list[tuple[Any, Constraint]]:
    """Each SQLAlchemy constraint of ``table`` with its model fact, in a stable order."""
    out: list[tuple[Any, Constraint]] = []
    for c in table.constraints:
        cols = tuple(str(col.name) for col in c.columns)
        name = c.name if isinstance(c.name, str) else None
        if isinstance(c, sa.PrimaryKeyConstraint):
            if cols:
                out.append((c, Constraint(name, q, "primary_key", cols)))
        elif isinstance(c, sa.ForeignKeyConstraint):
            elements = list(c.elements)
            schema, ref_table, _ = elements[0]._column_tokens
            out.append(
                (
                    c,
                    Constraint(
                        name,
                        q,
                        "foreign_key",
                        cols,
                        qname_of(ref_table, schema),
                        tuple(str(e._column_tokens[2]) for e in elements),
                        on_delete=c.ondelete,
                        on_update=c.onupdate,
                    ),
                )
            )
        elif isinstance(c, sa.UniqueConstraint):
            out.append((c, Constraint(name, q, "unique", cols)))
        elif isinstance(c, sa.CheckConstraint):
            expr = str(c.sqltext.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            # the columns it reads (PostgreSQL names an unnamed CHECK after its only one)
            reads = cols or check_columns(expr)
            out.append((c, Constraint(name, q, "check", reads, expression=expr)))
    # table.constraints is a set: order by what the user sees, for deterministic output
    out.sort(key=lambda p: (p[1].kind, p[1].name or "", p[1].columns, p[1].expression or ""))
    # PostgreSQL makes one index per key: a UNIQUE over the primary key's columns is folded into
    # it (a re-run must not add it as a key of its own); each constraint keeps the name it was given
    kept = {id(f) for f in fold_redundant_keys([f for _, f in out], ())}
    return [(c, f) for c, f in out if id(f) in kept]


def _op_for(constraint: Any) -> Any:
    if isinstance(constraint, sa.ForeignKeyConstraint):
        return aops.CreateForeignKeyOp.from_constraint(constraint)
    if isinstance(constraint, sa.UniqueConstraint):
        return aops.CreateUniqueConstraintOp.from_constraint(constraint)
    return aops.CreateCheckConstraintOp.from_constraint(constraint)


def create_table_spec(
    operations: Any, operation: Any
) -> tuple[CreateTable, Any, list[tuple[Any, Constraint]]]:
    """The spec of a ``CreateTableOp``, the ``Table`` it builds, and each constraint with its fact."""
    q = qname_of(operation.table_name, operation.schema)
    dialect = operations.migration_context.dialect
    sa_table = operation.to_table(operations.migration_context)
    pairs = _constraint_facts(dialect, q, sa_table)
    wanted = Table(q[0], q[1], tuple(model_column(dialect, c) for c in sa_table.columns))
    indexes = tuple(
        Index(q[0], str(ix.name), q, tuple(str(c.name) for c in ix.columns), bool(ix.unique))
        for ix in sa_table.indexes
    )
    spec = CreateTable(wanted, tuple(f for _, f in pairs), indexes, bool(operation.if_not_exists))
    return spec, sa_table, pairs


def create_table(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> Any:
    """``CREATE TABLE`` (no lock on anything existing), or reconcile the table that is there.

    On an existing table the missing columns are added through the guarded
    ``add_column`` and missing constraints through their guarded operations
    (data checked first); a column present with another type is refused.
    """
    q = qname_of(operation.table_name, operation.schema)
    g = Guard(operations, ctx, "create_table", format_qname(q))
    if g.offline:
        g.note(
            f"online: when {g.target} exists, missing columns and constraints are added through "
            "their guards, and a column of another type or nullability is refused"
        )
        return g.original(original, operation, lock=False)
    spec, sa_table, pairs = create_table_spec(operations, operation)
    fks = [c for c in spec.constraints if c.kind == "foreign_key" and c.ref_table != q]
    g.load(q, *(fk.ref_table for fk in fks if fk.ref_table is not None))
    d, reconcile = decide_create_table(g.model, spec, ctx.later_changes(), rerun=ctx.rerun)
    if reconcile is None:

        def create(step: Any) -> None:
            # what Alembic's create_table does, with the Table built above: a second
            # to_table() would find the columns bound to this one and lose their ForeignKeys
            kw = {} if operation.if_not_exists is None else {"if_not_exists": operation.if_not_exists}
            operations.impl.create_table(sa_table, **kw)

        g.carry_out(d, create)
        return sa_table
    # an existing, older table: the missing parts go through their own guards (data checked)
    start = len(ctx.events)
    for col in sa_table.columns:
        if str(col.name) in reconcile.columns:
            operations.invoke(aops.AddColumnOp(q[1], col._copy(), schema=operation.schema))
    for con, fact in pairs:
        if fact in reconcile.constraints:
            operations.invoke(_op_for(con))
    if d.details:  # IF NOT EXISTS kept columns of another definition
        log.warning("create_table %s: %s\n%s", g.target, d.reason, d.details)
    g.reconciled(d.reason, start)
    return sa_table


def drop_table(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """``DROP TABLE``: ACCESS EXCLUSIVE; destroys the table's rows."""
    q = qname_of(operation.table_name, operation.schema)
    g = Guard(operations, ctx, "drop_table", format_qname(q))
    if g.offline:
        g.note(f"online: skipped when {g.target} is already gone")
        g.original(original, operation)
        return
    g.load(q)
    spec = DropTable(q, ctx.settings.allow_destructive)
    g.carry_out(
        decide_drop_table(g.model, spec),
        lambda step: original(operations, operation),
        operation=operation,
    )
