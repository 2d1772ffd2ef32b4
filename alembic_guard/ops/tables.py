"""Guarded ``create_table`` (which reconciles an existing table) and ``drop_table``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.operations import ops as aops

from alembic_guard.model import Column, Constraint, Index, QName, Table, format_qname
from alembic_guard.ops.base import Guard, loose_sql, qname_of
from alembic_guard.ops.columns import compatible, describe_column, missing_references, model_column
from alembic_guard.ops.context import GuardContext
from alembic_guard.ops.registry import Impl


def _constraint_facts(g: Guard, q: QName, table: Any) -> list[tuple[Any, Constraint]]:
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
            expr = str(c.sqltext.compile(dialect=g.dialect, compile_kwargs={"literal_binds": True}))
            out.append((c, Constraint(name, q, "check", cols, expression=expr)))
    # table.constraints is a set: order by what the user sees, for deterministic output
    out.sort(key=lambda p: (p[1].kind, p[1].name or "", p[1].columns, p[1].expression or ""))
    return out


def _present(g: Guard, q: QName, want: Constraint) -> bool:
    """Is a constraint like ``want`` on the table (by name, or unnamed: by kind and columns)?"""
    for have in g.model.constraints_of(*q):
        if want.name is not None and have.name == want.name:
            return True
        if (
            want.name is None
            and have.kind == want.kind
            and have.columns == want.columns
            and (want.kind != "check" or loose_sql(have.expression) == loose_sql(want.expression))
        ):
            return True
    return False


def _op_for(constraint: Any) -> Any:
    if isinstance(constraint, sa.ForeignKeyConstraint):
        return aops.CreateForeignKeyOp.from_constraint(constraint)
    if isinstance(constraint, sa.UniqueConstraint):
        return aops.CreateUniqueConstraintOp.from_constraint(constraint)
    return aops.CreateCheckConstraintOp.from_constraint(constraint)


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
    sa_table = operation.to_table(operations.migration_context)
    wanted = [model_column(g, c) for c in sa_table.columns]
    pairs = _constraint_facts(g, q, sa_table)
    facts = [f for _, f in pairs]
    fks = [c for c in facts if c.kind == "foreign_key" and c.ref_table != q]
    g.load(q, *(fk.ref_table for fk in fks if fk.ref_table is not None))
    have = g.model.table(*q)
    if have is None:
        problem = missing_references(g, fks)
        if problem:
            g.missing(problem, hint="create the referenced table and columns first")
            return sa_table
        # a foreign key takes SHARE ROW EXCLUSIVE on the table it references
        result = g.original(original, operation, lock=bool(fks))
        g.model.put_table(Table(q[0], q[1], tuple(wanted)))
        for con in facts:
            g.model.put_constraint(con)
        for ix in sa_table.indexes:
            g.model.put_index(Index(q[0], str(ix.name), q, tuple(str(c.name) for c in ix.columns), ix.unique))
        g.acted(f"created with {len(wanted)} column(s)")
        return result
    clashes = [(h, w) for w in wanted if (h := have.column(w.name)) is not None and not compatible(h, w)]
    if clashes:
        details = "\n".join(
            f"  {h.name}: in the database {describe_column(h)}; in the migration {describe_column(w)}"
            for h, w in clashes
        )
        raise g.refuse(
            "the table exists, and some of its columns have another definition",
            hint="change the migration to match the database, or alter those columns in their own revision",
            details=details,
        )
    missing_cols: list[Column] = [w for w in wanted if have.column(w.name) is None]
    for col in sa_table.columns:
        if have.column(str(col.name)) is None:
            operations.invoke(aops.AddColumnOp(q[1], col._copy(), schema=operation.schema))
    added_constraints = []
    for con, fact in pairs:
        if fact.kind != "primary_key" and not _present(g, q, fact):
            operations.invoke(_op_for(con))
            added_constraints.append(fact.name or fact.kind)
    if not missing_cols and not added_constraints:
        g.skip("already there with a compatible shape")
    else:
        g.acted(
            "reconciled the existing table: added "
            + ", ".join(
                [f"column {c.name}" for c in missing_cols] + [f"constraint {n}" for n in added_constraints]
            )
        )
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
    if g.model.table(*q) is None:
        g.skip("already gone")
        return
    if not ctx.settings.allow_destructive:
        raise g.refuse(
            "dropping a table destroys its rows, and destructive operations are not allowed",
            hint="allow destructive operations (--allow-destructive) if this is intended",
        )
    g.original(original, operation)
    g.model.drop_table(*q)
    g.acted("dropped")
