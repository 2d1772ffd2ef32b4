"""Guarded ``add_column``, ``alter_column`` and ``drop_column``."""

from __future__ import annotations

import dataclasses
from typing import Any

from alembic_guard.errors import GuardRefused
from alembic_guard.model import Column, Constraint, Index, QName, Table, canonical_type, format_qname
from alembic_guard.ops.base import Guard, both, describe_rows, loose_sql, qname_of
from alembic_guard.ops.context import GuardContext
from alembic_guard.ops.registry import Impl

_NO_TABLE_HINT = (
    "create the table first (is an earlier revision missing or was the table dropped outside "
    "migrations?), or run with policy=lenient to skip this operation and record it as a debt"
)


def describe_column(c: Column) -> str:
    """``integer NOT NULL DEFAULT 0``: what a column is, for skip logs and refusals."""
    text = f"{c.type} {'NULL' if c.nullable else 'NOT NULL'}"
    return text + (f" DEFAULT {c.default}" if c.default is not None else "")


def model_column(g: Guard, col: Any) -> Column:
    """The model fact for an SQLAlchemy ``Column`` an operation declares."""
    default = None
    if col.server_default is not None:
        arg = getattr(col.server_default, "arg", None)
        if arg is not None:
            default = arg if isinstance(arg, str) else str(arg.compile(dialect=g.dialect))
    return Column(str(col.name), canonical_type(g.type_sql(col.type)), bool(col.nullable), default)


def compatible(have: Column, wanted: Column) -> bool:
    """Same type, and nullability the same or stricter in the database.

    A column the migration adds as NULL but finds NOT NULL was tightened by a
    later change (``alter_column(nullable=False)``); re-running the history
    must not refuse it.  The reverse (NULL where NOT NULL is wanted) could hide
    NULLs the application does not expect, so it is refused.  Defaults are not
    compared: they do not change stored rows.
    """
    return have.type == wanted.type and (have.nullable == wanted.nullable or wanted.nullable)


def column_fks(table: QName, col: Any) -> list[Constraint]:
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
    return out


def missing_references(g: Guard, fks: list[Constraint]) -> str | None:
    """What a foreign key refers to that is not in the model, or ``None``."""
    for fk in fks:
        assert fk.ref_table is not None
        t = g.model.table(*fk.ref_table)
        if t is None:
            return f"referenced table {format_qname(fk.ref_table)} does not exist"
        for c in fk.ref_columns:
            if t.column(c) is None:
                return f"referenced column {format_qname(fk.ref_table)}.{c} does not exist"
    return None


def add_column(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """``ALTER TABLE ... ADD COLUMN``: takes ACCESS EXCLUSIVE on the table (briefly, no rewrite
    for a nullable column or a constant default)."""
    col = operation.column
    q = qname_of(operation.table_name, operation.schema)
    g = Guard(operations, ctx, "add_column", f"{format_qname(q)}.{col.name}")
    wanted = model_column(g, col)
    fks = column_fks(q, col)
    if g.offline:
        g.note(
            f"online: skipped when {g.target} exists as {describe_column(wanted)}; "
            "refused when it exists with another type or nullability, or when the table is missing"
        )
        g.original(original, operation)
        return
    g.load(q, *(fk.ref_table for fk in fks if fk.ref_table is not None))
    table = g.model.table(*q)
    if table is None:
        g.missing(f"table {format_qname(q)} does not exist", hint=_NO_TABLE_HINT)
        return
    have = table.column(wanted.name)
    if have is not None:
        if compatible(have, wanted):
            tightened = "; NOT NULL since a later change" if have.nullable != wanted.nullable else ""
            g.skip(f"already there ({describe_column(have)}{tightened})")
            return
        raise g.refuse(
            "the column exists with another definition",
            hint="change the migration to match the database, or alter the column in a revision of its own",
            details=both(describe_column(have), describe_column(wanted)),
        )
    problem = missing_references(g, fks)
    if problem:
        g.missing(problem, hint="create the referenced table and columns first")
        return
    if (
        not wanted.nullable
        and wanted.default is None
        and g.query(f"SELECT EXISTS (SELECT 1 FROM {g.table_sql(q)})")[0][0]
    ):
        raise g.refuse(
            f"{format_qname(q)} has rows, and a NOT NULL column without a server default cannot be added",
            hint="add the column as nullable, fill it, then alter_column(nullable=False); "
            "or give it a server_default",
        )
    g.original(original, operation)
    g.model.put_column(q[0], q[1], wanted)
    for fk in fks:
        g.model.put_constraint(fk)
    if col.unique:
        g.model.put_constraint(Constraint(None, q, "unique", (wanted.name,)))
    if col.index:
        # Alembic builds the same throwaway Table to name the index (naming convention)
        t = operations.schema_obj.table(q[1], col._copy(), schema=operation.schema)
        for ix in t.indexes:
            g.model.put_index(Index(q[0], str(ix.name), q, (wanted.name,), bool(ix.unique)))
    g.acted(f"added ({describe_column(wanted)})")


def _not_null_sequence(g: Guard, q: QName, column: str, middle: Any) -> None:
    """SET NOT NULL without a long ACCESS EXCLUSIVE scan.

    ``CHECK (col IS NOT NULL) NOT VALID`` takes ACCESS EXCLUSIVE only for a
    moment; ``VALIDATE`` scans under SHARE UPDATE EXCLUSIVE (reads and writes go
    on); ``SET NOT NULL`` then uses the validated CHECK instead of scanning
    (PostgreSQL 12+); the helper CHECK is dropped afterwards.
    """
    t = g.table_sql(q)
    check = g.quote(f"{q[1]}_{column}_not_null"[:63])
    g.run(f"ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({g.quote(column)} IS NOT NULL) NOT VALID")
    g.run(f"ALTER TABLE {t} VALIDATE CONSTRAINT {check}")
    middle()
    g.run(f"ALTER TABLE {t} DROP CONSTRAINT {check}")


def alter_column(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """``ALTER TABLE ... ALTER COLUMN``: ACCESS EXCLUSIVE; a type change rewrites the table.

    ``nullable=False`` counts NULLs first and goes through a validated CHECK.
    """
    q = qname_of(operation.table_name, operation.schema)
    name = operation.column_name
    g = Guard(operations, ctx, "alter_column", f"{format_qname(q)}.{name}")
    sets_not_null = operation.modify_nullable is False
    if g.offline:
        if sets_not_null:
            g.note(
                f"online: NULLs in {g.target} are counted first; the operation is refused if there are any"
            )
            _not_null_sequence(g, q, name, lambda: g.original(original, operation))
        else:
            g.original(original, operation)
        return
    g.load(q)
    table = g.model.table(*q)
    if table is None:
        g.missing(f"table {format_qname(q)} does not exist", hint=_NO_TABLE_HINT)
        return
    have = table.column(name)
    new_name = operation.modify_name
    if have is None:
        if new_name and table.column(new_name) is not None:
            g.skip(f"already renamed to {new_name}")
            return
        g.missing(
            f"column {format_qname(q)}.{name} does not exist",
            hint="add the column first, or correct the column name",
        )
        return
    want = have
    pending = []
    if operation.modify_nullable is not None and operation.modify_nullable != have.nullable:
        want = dataclasses.replace(want, nullable=operation.modify_nullable)
        pending.append("NOT NULL" if sets_not_null else "NULL")
    if operation.modify_type is not None:
        new_type = canonical_type(g.type_sql(operation.modify_type))
        if new_type != have.type:
            want = dataclasses.replace(want, type=new_type)
            pending.append(f"type {new_type}")
    if operation.modify_server_default is not False:
        d = operation.modify_server_default
        arg = getattr(d, "arg", d)
        text = None if arg is None else arg if isinstance(arg, str) else str(arg.compile(dialect=g.dialect))
        if loose_sql(text) != loose_sql(have.default):
            want = dataclasses.replace(want, default=text)
            pending.append(f"default {text}")
    if new_name and new_name != name:
        if table.column(new_name) is not None:
            raise g.refuse(
                f"cannot rename to {new_name}: that column exists too",
                hint="drop or rename one of the two columns first",
            )
        want = dataclasses.replace(want, name=new_name)
        pending.append(f"name {new_name}")
    if operation.modify_comment is not False:
        pending.append("comment")  # comments are not in the model: always set
    if not pending:
        g.skip(f"already {describe_column(have)}")
        return
    if sets_not_null and have.nullable:
        refusal = nulls_refusal(g, q, name)
        if refusal is not None:
            raise refusal
        _not_null_sequence(g, q, name, lambda: g.original(original, operation))
    else:
        g.original(original, operation)
    cols = tuple(want if c.name == name else c for c in table.columns)
    g.model.put_table(dataclasses.replace(table, columns=cols))
    if want.name != name:
        _rename_in_model(g, q, name, want.name)
    g.acted("set " + ", ".join(pending))


def nulls_refusal(g: Guard, q: QName, name: str) -> GuardRefused | None:
    """Count NULLs in column ``name``: the refusal of ``SET NOT NULL``, or ``None`` (read-only).

    Shared by the guarded operation and the run's data pre-flight.
    """
    n, keys = g.sample_keys(q, f"{g.quote(name)} IS NULL")
    if not n:
        return None
    return g.refuse(
        f"{n} row(s) have NULL in {name}; SET NOT NULL would fail",
        hint="give those rows a value (UPDATE) or delete them, then run the migration again",
        details="  " + describe_rows(n, keys, q),
    )


def _rename_in_model(g: Guard, q: QName, old: str, new: str) -> None:
    """Indexes and constraints follow a renamed column, as they do in PostgreSQL."""

    def swap(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(new if n == old else n for n in names)

    for ix in g.model.indexes_of(*q):
        g.model.put_index(dataclasses.replace(ix, columns=swap(ix.columns)))
    for con in g.model.constraints_of(*q):
        g.model.put_constraint(dataclasses.replace(con, columns=swap(con.columns)))
    for con in list(g.model.constraints.values()):
        if con.ref_table == q:
            g.model.put_constraint(dataclasses.replace(con, ref_columns=swap(con.ref_columns)))


def drop_column(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """``ALTER TABLE ... DROP COLUMN``: ACCESS EXCLUSIVE, no rewrite; destroys the column's data."""
    q = qname_of(operation.table_name, operation.schema)
    name = operation.column_name
    g = Guard(operations, ctx, "drop_column", f"{format_qname(q)}.{name}")
    if g.offline:
        g.note(f"online: skipped when {g.target} is already gone")
        g.original(original, operation)
        return
    g.load(q)
    table: Table | None = g.model.table(*q)
    if table is None or table.column(name) is None:
        g.skip("already gone")
        return
    if not ctx.settings.allow_destructive:
        raise g.refuse(
            "dropping a column destroys its data, and destructive operations are not allowed",
            hint="allow destructive operations (--allow-destructive) if this is intended",
        )
    g.original(original, operation)
    g.model.drop_column(q[0], q[1], name)
    g.acted("dropped")
