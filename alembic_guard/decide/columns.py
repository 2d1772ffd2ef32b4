"""Decisions of ``add_column``, ``alter_column`` and ``drop_column``.

Pure: no connection, no filesystem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from alembic_guard import ddl
from alembic_guard.changes import Change, DropObject, PutColumn, PutConstraint, PutIndex, RenameObject
from alembic_guard.decide.later import moved_on
from alembic_guard.decide.statements import explained_by_later, replayed
from alembic_guard.decide.types import DataCheck, Decision, Step, destructive, kept, missing, refuse, skip
from alembic_guard.identity import both, compatible_column, describe_column, same_expression
from alembic_guard.model import (
    Column,
    Constraint,
    Index,
    ObjRef,
    QName,
    SchemaModel,
    format_qname,
    pg_object_name,
)

NO_TABLE_HINT = (
    "create the table first (is an earlier revision missing or was the table dropped outside "
    "migrations?), or run with policy=lenient to skip this operation and record it as a debt"
)


@dataclass(frozen=True, slots=True)
class AddColumn:
    table: QName
    column: Column
    foreign_keys: tuple[Constraint, ...] = ()
    unique: bool = False
    indexes: tuple[Index, ...] = ()  # ``index=True``: the index Alembic names for it
    if_not_exists: bool = False  # ADD COLUMN IF NOT EXISTS: a column of that name is kept as it is


@dataclass(frozen=True, slots=True)
class AlterColumn:
    table: QName
    name: str
    nullable: bool | None = None
    type: str | None = None
    default: str | None = None
    set_default: bool = False  # the operation changes the default (to ``default``, maybe None)
    new_name: str | None = None
    comment: bool = False  # the operation sets a comment (not in the model: always sent)


@dataclass(frozen=True, slots=True)
class DropColumn:
    table: QName
    name: str
    allow_destructive: bool = True


def missing_reference(
    model: SchemaModel, fks: tuple[Constraint, ...] | list[Constraint]
) -> tuple[str, ObjRef] | None:
    """What a foreign key refers to that is not in the model (text and reference), or ``None``."""
    for fk in fks:
        assert fk.ref_table is not None
        t = model.table(*fk.ref_table)
        if t is None:
            return f"referenced table {format_qname(fk.ref_table)} does not exist", ObjRef.relation(
                *fk.ref_table
            )
        for c in fk.ref_columns:
            if t.column(c) is None:
                ref = ObjRef.column(fk.ref_table[0], fk.ref_table[1], c)
                return f"referenced column {format_qname(fk.ref_table)}.{c} does not exist", ref
    return None


def needs_rows_check(c: Column) -> bool:
    """A NOT NULL column that nothing fills cannot be added to a table with rows.

    A default, an identity or a generated expression fills every existing row
    (PostgreSQL accepts those on a table with rows).
    """
    return not c.nullable and c.default is None and not c.identity and c.generated is None


def decide_add_column(
    model: SchemaModel, spec: AddColumn, later: Sequence[Change] = (), rerun: bool = False
) -> Decision:
    """``later``: the changes of the revisions after this one; ``rerun``: the ledger says this
    revision was applied to this database before."""
    q, wanted = spec.table, spec.column
    op, target = "add_column", f"{format_qname(q)}.{wanted.name}"
    table = model.table(*q)
    if table is None:
        return missing(
            op, target, f"table {format_qname(q)} does not exist", NO_TABLE_HINT, ObjRef.relation(*q)
        )
    have = table.column(wanted.name)
    if have is not None:
        if compatible_column(have, wanted):
            tightened = "; NOT NULL since a later change" if have.nullable != wanted.nullable else ""
            return skip(op, target, f"already there ({describe_column(have)}{tightened})")
        ref = ObjRef.column(q[0], q[1], wanted.name)
        if explained_by_later(model, (PutColumn(q[0], q[1], wanted),), ref, later):
            return skip(
                op, target, f"already there ({describe_column(have)}; evolved since by a later revision)"
            )
        if spec.if_not_exists:
            return kept(
                op, target, "a column of that name", both(describe_column(have), describe_column(wanted))
            )
        return refuse(
            op,
            target,
            "the column exists with another definition",
            "change the migration to match the database, or alter the column in a revision of its own",
            both(describe_column(have), describe_column(wanted)),
        )
    moved = moved_on(
        model, ObjRef.column(q[0], q[1], wanted.name), (PutColumn(q[0], q[1], wanted),), later, rerun
    )
    if moved is not None:
        return skip(op, target, f"not added: {moved.describe()}, and that column is there")
    problem = missing_reference(model, spec.foreign_keys)
    if problem:
        return missing(op, target, problem[0], "create the referenced table and columns first", problem[1])
    checks: tuple[DataCheck, ...] = ()
    if needs_rows_check(wanted):
        checks = (DataCheck("rows", q, (wanted.name,), f"NOT NULL column {wanted.name} without a default"),)
    lock = f"ACCESS EXCLUSIVE on {format_qname(q)}, briefly (no rewrite unless the default is volatile)"
    changes: list[Change] = [PutColumn(q[0], q[1], wanted)]
    changes.extend(PutConstraint(fk) for fk in spec.foreign_keys)
    if spec.unique:
        changes.append(PutConstraint(Constraint(None, q, "unique", (wanted.name,))))
    changes.extend(PutIndex(ix) for ix in spec.indexes)
    step = Step(ddl.add_column_sql(q, wanted), "revision", lock, alembic=True)
    return Decision(
        op,
        target,
        "run",
        f"added ({describe_column(wanted)})",
        checks=checks,
        steps=(step,),
        changes=tuple(changes),
    )


def same_shape(a: Column, b: Column) -> bool:
    """Exactly the same column, as far as ``alter_column`` changes one: type, nullability, default."""
    return a.type == b.type and a.nullable == b.nullable and same_expression(a.default, b.default)


def not_null_helper(q: QName, column: str) -> str:
    """The name of the temporary CHECK behind a guarded SET NOT NULL.

    Not ``<table>_<column>_not_null``: PostgreSQL 18 gives that name to the
    NOT NULL constraint itself.
    """
    return pg_object_name(q[1], column, "nn_guard")


def decide_alter_column(model: SchemaModel, spec: AlterColumn, later: Sequence[Change] = ()) -> Decision:
    """``later``: the changes of the revisions after this one (a shape they explain is left alone)."""
    q, name = spec.table, spec.name
    op, target = "alter_column", f"{format_qname(q)}.{name}"
    table = model.table(*q)
    if table is None:
        return missing(
            op, target, f"table {format_qname(q)} does not exist", NO_TABLE_HINT, ObjRef.relation(*q)
        )
    have = table.column(name)
    if have is None:
        if spec.new_name and table.column(spec.new_name) is not None:
            return skip(op, target, f"already renamed to {spec.new_name}")
        return missing(
            op,
            target,
            f"column {format_qname(q)}.{name} does not exist",
            "add the column first, or correct the column name",
            ObjRef.column(q[0], q[1], name),
        )
    want = have
    pending: list[str] = []
    sets_not_null = spec.nullable is False and have.nullable
    if spec.nullable is not None and spec.nullable != have.nullable:
        want = dataclasses.replace(want, nullable=spec.nullable)
        pending.append("NOT NULL" if spec.nullable is False else "NULL")
    if spec.type is not None and spec.type != have.type:
        want = dataclasses.replace(want, type=spec.type)
        pending.append(f"type {spec.type}")
    if spec.set_default and not same_expression(spec.default, have.default):
        want = dataclasses.replace(want, default=spec.default)
        pending.append(f"default {spec.default}")
    if spec.new_name and spec.new_name != name:
        if table.column(spec.new_name) is not None:
            return refuse(
                op,
                target,
                f"cannot rename to {spec.new_name}: that column exists too",
                "drop or rename one of the two columns first",
            )
        want = dataclasses.replace(want, name=spec.new_name)
        pending.append(f"name {spec.new_name}")
    if spec.comment:
        pending.append("comment")
    if not pending:
        return skip(op, target, f"already {describe_column(have)}")
    if want.name == name and pending != ["comment"] and later:
        then = replayed(model, (PutColumn(q[0], q[1], want),), ObjRef.column(q[0], q[1], name), later)
        if isinstance(then, Column) and same_shape(have, then):
            # re-running a history: narrowing a column a later revision widened again would fail
            # on (or cut) the longer values written since (22001)
            return skip(
                op,
                target,
                f"not changed: {describe_column(have)} is the shape a later revision gives it "
                f"(set {', '.join(pending)} would undo it)",
            )
    lock = f"ACCESS EXCLUSIVE on {format_qname(q)}" + (
        " (a type change rewrites the table)"
        if spec.type is not None and spec.type != have.type
        else ", briefly"
    )
    alter = Step(
        f"ALTER TABLE {ddl.qualified(q)} ALTER COLUMN ... ({', '.join(pending)})",
        "revision",
        lock,
        alembic=True,
    )
    checks: tuple[DataCheck, ...] = ()
    if sets_not_null:
        # a NOT VALID CHECK (brief ACCESS EXCLUSIVE, committed), validated in a transaction of
        # its own (SHARE UPDATE EXCLUSIVE: reads and writes go on); SET NOT NULL then uses the
        # validated CHECK instead of scanning (PostgreSQL 12+), and the helper goes
        helper = not_null_helper(q, name)
        con = Constraint(helper, q, "check", (name,), expression=f"{ddl.quote_ident(name)} IS NOT NULL")
        brief = f"ACCESS EXCLUSIVE on {format_qname(q)}, briefly (no scan)"
        steps: tuple[Step, ...] = (
            Step(ddl.add_constraint_not_valid_sql(con), "revision", brief),
            Step(
                ddl.validate_constraint_sql(q, helper),
                "next",
                f"SHARE UPDATE EXCLUSIVE on {format_qname(q)} (reads and writes go on)",
            ),
            dataclasses.replace(alter, lock=brief + ": the validated CHECK proves it"),
            Step(ddl.drop_constraint_sql(q, helper), "revision", brief),
        )
        checks = (
            DataCheck("nulls", q, (name,), f"SET NOT NULL on {name}", f"c.{ddl.quote_ident(name)} IS NULL"),
        )
    else:
        steps = (alter,)
    changes: list[Change] = []
    if want.name != name:
        # indexes and constraints follow a renamed column, as they do in PostgreSQL
        changes.append(RenameObject(ObjRef.column(q[0], q[1], name), want.name))
    changes.append(PutColumn(q[0], q[1], want))
    return Decision(
        op, target, "run", "set " + ", ".join(pending), checks=checks, steps=steps, changes=tuple(changes)
    )


def decide_drop_column(model: SchemaModel, spec: DropColumn) -> Decision:
    q, name = spec.table, spec.name
    op, target = "drop_column", f"{format_qname(q)}.{name}"
    table = model.table(*q)
    if table is None or table.column(name) is None:
        return skip(op, target, "already gone")
    if not spec.allow_destructive:
        return destructive(op, target, "a column destroys its data")
    step = Step(
        ddl.drop_column_sql(q, name),
        "revision",
        f"ACCESS EXCLUSIVE on {format_qname(q)}, briefly (no rewrite)",
        alembic=True,
    )
    return Decision(
        op, target, "run", "dropped", steps=(step,), changes=(DropObject(ObjRef.column(q[0], q[1], name)),)
    )
