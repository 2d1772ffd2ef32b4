"""Guarded ``add_column``, ``alter_column`` and ``drop_column``: Alembic's operation objects
turned into specs, decided by :mod:`alembic_guard.decide.columns`, executed here."""

from __future__ import annotations

from typing import Any

from alembic_guard.decide.columns import (
    AddColumn,
    AlterColumn,
    DropColumn,
    decide_add_column,
    decide_alter_column,
    decide_drop_column,
)
from alembic_guard.decide.types import DataCheck, Step
from alembic_guard.errors import GuardRefused
from alembic_guard.identity import describe_column
from alembic_guard.model import (
    Column,
    Constraint,
    Index,
    QName,
    canonical_type,
    format_qname,
)
from alembic_guard.ops.base import Guard, qname_of
from alembic_guard.ops.context import GuardContext
from alembic_guard.ops.registry import Impl
from alembic_guard.quoting import quote_ident


def type_sql(dialect: Any, type_: Any) -> str:
    return str(type_.compile(dialect=dialect))


def expression_sql(dialect: Any, value: Any) -> str | None:
    """SQL text of a server default / computed expression (a string, ``sa.text`` or an expression)."""
    if value is None:
        return None
    arg = getattr(value, "arg", value)
    if arg is None:
        return None
    if isinstance(arg, str):
        return arg
    return str(arg.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def model_column(dialect: Any, col: Any) -> Column:
    """The model fact for an SQLAlchemy ``Column`` an operation declares (identity and generated too)."""
    computed = getattr(col, "computed", None)
    identity = getattr(col, "identity", None) is not None
    generated = expression_sql(dialect, computed.sqltext) if computed is not None else None
    default = None
    if col.server_default is not None and computed is None and not identity:
        # (an Identity or Computed is the column's server_default too)
        default = expression_sql(dialect, col.server_default)
    return Column(
        str(col.name),
        canonical_type(type_sql(dialect, col.type)),
        bool(col.nullable) and not identity,
        default,
        identity,
        generated,
    )


def column_fks(table: QName, col: Any) -> tuple[Constraint, ...]:
    """Foreign keys declared on a column (``sa.ForeignKey``), as model facts."""
    out = []
    for fk in col.foreign_keys:
        schema, ref_table, ref_col = fk._column_tokens
        out.append(
            Constraint(
                fk.name,
                table,
                "foreign_key",
                (str(col.name),),
                qname_of(ref_table, schema),
                (ref_col,),
                on_delete=fk.ondelete,
                on_update=fk.onupdate,
            )
        )
    return tuple(out)


def add_column_spec(operations: Any, operation: Any, dialect: Any) -> AddColumn:
    col = operation.column
    q = qname_of(operation.table_name, operation.schema)
    indexes: tuple[Index, ...] = ()
    if col.index:
        # Alembic builds the same throwaway Table to name the index (naming convention)
        t = operations.schema_obj.table(q[1], col._copy(), schema=operation.schema)
        indexes = tuple(Index(q[0], str(ix.name), q, (str(col.name),), bool(ix.unique)) for ix in t.indexes)
    return AddColumn(
        q,
        model_column(dialect, col),
        column_fks(q, col),
        bool(col.unique),
        indexes,
        bool(operation.if_not_exists),
    )


def alter_column_spec(operation: Any, dialect: Any) -> AlterColumn:
    q = qname_of(operation.table_name, operation.schema)
    new_type = None
    if operation.modify_type is not None:
        new_type = canonical_type(type_sql(dialect, operation.modify_type))
    set_default = operation.modify_server_default is not False
    default = expression_sql(dialect, operation.modify_server_default) if set_default else None
    return AlterColumn(
        q,
        operation.column_name,
        nullable=operation.modify_nullable,
        type=new_type,
        default=default,
        set_default=set_default,
        new_name=operation.modify_name,
        comment=operation.modify_comment is not False,
    )


def _alembic(g: Guard, original: Impl, operation: Any) -> Any:
    return lambda step: original(g.operations, operation)


def add_column(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """``ALTER TABLE ... ADD COLUMN``: ACCESS EXCLUSIVE on the table, briefly."""
    g = Guard(operations, ctx, "add_column", "")
    spec = add_column_spec(operations, operation, g.dialect)
    g.target = f"{format_qname(spec.table)}.{spec.column.name}"
    if g.offline:
        g.note(
            f"online: skipped when {g.target} exists as {describe_column(spec.column)}; "
            "refused when it exists with another type or nullability, or when the table is missing"
        )
        g.original(original, operation)
        return
    g.load(spec.table, *(fk.ref_table for fk in spec.foreign_keys if fk.ref_table is not None))
    g.carry_out(
        decide_add_column(g.model, spec, ctx.later_changes(), ctx.rerun),
        _alembic(g, original, operation),
        operation=operation,
    )


def alter_column(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """``ALTER TABLE ... ALTER COLUMN``: ACCESS EXCLUSIVE; a type change rewrites the table.

    ``nullable=False`` counts NULLs first, then goes through a CHECK added NOT
    VALID, committed, and validated in a transaction of its own.
    """
    g = Guard(operations, ctx, "alter_column", "")
    spec = alter_column_spec(operation, g.dialect)
    g.target = f"{format_qname(spec.table)}.{spec.name}"
    if g.offline:
        if spec.nullable is False:
            g.note(
                f"online: NULLs in {g.target} are counted first; the operation is refused if there are any"
            )
            from alembic_guard.model import SchemaModel, Table

            model = SchemaModel()
            model.put_table(Table(spec.table[0], spec.table[1], (Column(spec.name, "unknown"),)))
            d = decide_alter_column(model, spec)
            g.run_steps(d.steps, _alembic(g, original, operation))
        else:
            g.original(original, operation)
        return
    g.load(spec.table)
    g.carry_out(
        decide_alter_column(g.model, spec, ctx.later_changes()),
        _alembic(g, original, operation),
        operation=operation,
    )


def nulls_refusal(g: Guard, q: QName, name: str) -> GuardRefused | None:
    """Count NULLs in column ``name``: the refusal of ``SET NOT NULL``, or ``None`` (read-only)."""
    return g.check_data(
        DataCheck("nulls", q, (name,), f"SET NOT NULL on {name}", f"c.{quote_ident(name)} IS NULL")
    )


def drop_column(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """``ALTER TABLE ... DROP COLUMN``: ACCESS EXCLUSIVE, no rewrite; destroys the column's data."""
    q = qname_of(operation.table_name, operation.schema)
    spec = DropColumn(q, operation.column_name, ctx.settings.allow_destructive)
    g = Guard(operations, ctx, "drop_column", f"{format_qname(q)}.{spec.name}")
    if g.offline:
        g.note(f"online: skipped when {g.target} is already gone")
        g.original(original, operation)
        return
    g.load(q)
    g.carry_out(
        decide_drop_column(g.model, spec),
        _alembic(g, original, operation),
        operation=operation,
    )


__all__ = ["Step", "add_column", "alter_column", "drop_column", "model_column", "nulls_refusal"]
