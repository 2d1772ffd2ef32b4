"""Decisions of ``create_foreign_key``, ``create_unique_constraint``, ``create_check_constraint``
and ``drop_constraint``.

Data is checked before a constraint is added: orphan rows before a foreign
key, duplicate groups before a UNIQUE, violating rows before a CHECK.  A
foreign key or CHECK is added ``NOT VALID`` in the revision's transaction
(a brief lock, no scan), and validated in a transaction of its own after
that is committed: the validating scan then holds only SHARE UPDATE
EXCLUSIVE (reads and writes go on), not the lock of the ``ADD``.  A UNIQUE
constraint is a unique index first, then ``ADD CONSTRAINT ... USING INDEX``.

Pure: no connection, no filesystem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from alembic_guard import ddl
from alembic_guard.changes import AlterColumn, Change, DropObject, PutConstraint, PutIndex, ValidateConstraint
from alembic_guard.decide.later import dropped_later
from alembic_guard.decide.statements import explained_by_later
from alembic_guard.decide.types import DataCheck, Decision, Step, Tx, missing, refuse, skip
from alembic_guard.identity import (
    both,
    choose_constraint_name,
    describe_constraint,
    describe_index,
    find_same_constraint,
    same_constraint,
)
from alembic_guard.model import Constraint, Index, ObjRef, QName, SchemaModel, format_qname
from alembic_guard.quoting import quote_ident

FIX_ROWS = "fix or delete those rows, then run the migration again"


@dataclass(frozen=True, slots=True)
class AddConstraint:
    """A foreign key, UNIQUE or CHECK an operation adds (``constraint.name`` ``None``: unnamed).

    ``reads``: the columns a CHECK's condition reads (they must exist).
    """

    constraint: Constraint
    reads: tuple[str, ...] = ()
    concurrent_index: bool = False  # UNIQUE: build its index CONCURRENTLY


@dataclass(frozen=True, slots=True)
class DropConstraint:
    table: QName
    name: str


def require_columns(
    model: SchemaModel, op: str, target: str, q: QName, columns: tuple[str, ...], role: str = ""
) -> Decision | None:
    """``missing`` when the table or one of the columns is not in the model."""
    table = model.table(*q)
    if table is None:
        return missing(
            op,
            target,
            f"{role}table {format_qname(q)} does not exist",
            "create the table first",
            ObjRef.relation(*q),
        )
    for c in columns:
        if table.column(c) is None:
            return missing(
                op,
                target,
                f"{role}column {format_qname(q)}.{c} does not exist",
                "add the column first (is the revision that adds it missing or later?)",
                ObjRef.column(q[0], q[1], c),
            )
    return None


def constraint_op_name(c: Constraint) -> str:
    """The Alembic operation that adds a constraint of this kind (as the guards log it)."""
    return {
        "foreign_key": "create_foreign_key",
        "unique": "create_unique_constraint",
        "primary_key": "create_primary_key",
    }.get(c.kind, "create_check_constraint")


def decide_add_constraint(
    model: SchemaModel, spec: AddConstraint, later: Sequence[Change] = (), rerun: bool = False
) -> Decision:
    """``later``: the changes of the revisions after this one; ``rerun``: the ledger says this
    revision was applied to this database before (a re-run of the history)."""
    want = spec.constraint
    q = want.table
    op = constraint_op_name(want)
    shown = want.name or f"(unnamed {want.kind.replace('_', ' ')})"
    target = f"{format_qname(q)}.{shown}"
    needed = spec.reads if want.kind == "check" else want.columns
    problem = require_columns(model, op, target, q, needed)
    if problem is None and want.kind == "foreign_key":
        assert want.ref_table is not None
        problem = require_columns(model, op, target, want.ref_table, want.ref_columns, "referenced ")
    if problem is not None:
        return problem
    if want.name is None:
        # PostgreSQL names it; a later run finds it by its definition, not a name we guessed
        have = find_same_constraint(model, want)
        name = (
            have.name
            if have is not None and have.name
            else choose_constraint_name(model, q, want.kind, needed)
        )
    else:
        name = want.name
        have = model.constraints.get((q[0], q[1], name))
        ref = ObjRef("constraint", q[0], name, q[1])
        if have is not None and not same_constraint(have, want):
            if explained_by_later(model, (PutConstraint(want),), ref, later):
                return skip(
                    op,
                    f"{format_qname(q)}.{name}",
                    f"already there ({describe_constraint(have)}; redefined since by a later revision)",
                )
            return refuse(
                op,
                target,
                "a constraint of that name exists with another definition",
                "rename one of the two constraints, or drop the existing one in an earlier revision",
                both(describe_constraint(have), describe_constraint(want)),
            )
    want = dataclasses.replace(want, name=name)
    target = f"{format_qname(q)}.{name}"
    if have is None and rerun and want.name and dropped_later(ObjRef("constraint", q[0], name, q[1]), later):
        return skip(op, target, "not made again: a later revision drops it (re-running the history)")
    if have is not None and have.validated:
        return skip(op, target, f"already there ({describe_constraint(have)})")
    if want.kind == "primary_key":
        other = next((c for c in model.constraints_of(*q) if c.kind == "primary_key"), None)
        if other is not None:  # PostgreSQL: 42P16 multiple primary keys
            return refuse(
                op,
                target,
                f"{format_qname(q)} has a primary key already ({other.name})",
                "drop that primary key first (in the same revision), or add this one as a unique constraint",
                both(describe_constraint(other), describe_constraint(want)),
            )
    if want.kind in ("unique", "primary_key"):
        return _unique(model, spec, want, target)
    check = _data_check(want)
    steps: list[Step] = []
    if have is None:
        steps.append(Step(ddl.add_constraint_not_valid_sql(want), "revision", _add_lock(want)))
    steps.append(Step(ddl.validate_constraint_sql(q, name), "next", _validate_lock(want)))
    changes = (
        (ValidateConstraint(q[0], q[1], name),)
        if have is not None
        else (PutConstraint(dataclasses.replace(want, validated=True)),)
    )
    reason = (
        "validated the NOT VALID constraint that was there" if have is not None else "added and validated"
    )
    return Decision(op, target, "run", reason, checks=(check,), steps=tuple(steps), changes=changes)


def _add_lock(c: Constraint) -> str:
    if c.kind == "foreign_key":
        assert c.ref_table is not None
        tables = f"{format_qname(c.table)} and {format_qname(c.ref_table)}"
        return f"SHARE ROW EXCLUSIVE on {tables}, briefly (no scan)"
    return f"ACCESS EXCLUSIVE on {format_qname(c.table)}, briefly (no scan)"


def _validate_lock(c: Constraint) -> str:
    text = f"SHARE UPDATE EXCLUSIVE on {format_qname(c.table)}"
    if c.kind == "foreign_key":
        assert c.ref_table is not None
        text += f", ROW SHARE on {format_qname(c.ref_table)}"
    return text + " (reads and writes go on)"


def _data_check(c: Constraint) -> DataCheck:
    subject = f"{c.kind.replace('_', ' ')} {c.name}"
    if c.kind == "foreign_key":
        assert c.ref_table is not None
        return orphans_check(c.table, c.ref_table, c.columns, c.ref_columns, subject)
    return violations_check(c.table, c.expression or "true", subject)


def orphans_check(
    src: QName, ref: QName, local: tuple[str, ...], remote: tuple[str, ...], subject: str
) -> DataCheck:
    joined = " AND ".join(
        f"p.{quote_ident(r)} = c.{quote_ident(lc)}" for lc, r in zip(local, remote, strict=True)
    )
    not_null = " AND ".join(f"c.{quote_ident(lc)} IS NOT NULL" for lc in local)
    where = f"{not_null} AND NOT EXISTS (SELECT 1 FROM {ddl.qualified(ref)} AS p WHERE {joined})"
    return DataCheck("orphans", src, local, subject, where, ref)


def violations_check(q: QName, condition: str, subject: str) -> DataCheck:
    # a CHECK passes when its expression is NULL, hence NOT (...) rather than IS NOT TRUE
    return DataCheck("violations", q, (), subject, f"NOT ({condition})")


def duplicates_check(
    q: QName, columns: tuple[str, ...], subject: str, predicate: str | None = None
) -> DataCheck:
    return DataCheck("duplicates", q, columns, subject, predicate or "")


def _unique(model: SchemaModel, spec: AddConstraint, want: Constraint, target: str) -> Decision:
    """A unique index (CONCURRENTLY where configured), then ``ADD CONSTRAINT ... USING INDEX``
    (a UNIQUE or a PRIMARY KEY: the key's columns are then set NOT NULL, as PostgreSQL does)."""
    q, name = want.table, want.name
    assert name is not None
    op = constraint_op_name(want)
    key = "PRIMARY KEY" if want.kind == "primary_key" else "UNIQUE"
    ix = model.indexes.get((q[0], name))
    index = Index(q[0], name, q, want.columns, unique=True)
    steps: list[Step] = []
    concurrent = spec.concurrent_index
    tx: Tx = "autocommit" if concurrent else "revision"
    build_lock = (
        f"SHARE UPDATE EXCLUSIVE on {format_qname(q)} (reads and writes go on)"
        if concurrent
        else f"SHARE on {format_qname(q)} (writes wait for the build)"
    )
    reuse = False
    if ix is not None:
        if ix.table != q:
            return refuse(
                op,
                target,
                f"an index named {name} exists on another table ({format_qname(ix.table)})",
                "name the constraint differently, or drop that index in a revision of its own",
                both(describe_index(ix), describe_index(index)),
            )
        if ix.valid and ix.unique and ix.columns == want.columns and ix.predicate is None and not ix.include:
            reuse = True
        elif ix.valid:
            return refuse(
                op,
                target,
                "an index of that name exists and cannot back the constraint",
                "name the constraint differently, or drop or rename that index in a revision of its own",
                both(describe_index(ix), describe_index(index)),
            )
        else:
            # an INVALID index left by an interrupted build of this very index: nothing uses it
            steps.append(Step(ddl.drop_index_sql((q[0], name), concurrently=concurrent), tx, build_lock))
    if not reuse:
        steps.append(
            Step(ddl.create_index_sql(index, concurrently=concurrent, columns=want.columns), tx, build_lock)
        )
    steps.append(
        Step(
            ddl.attach_unique_sql(q, name, key),
            "revision",
            f"ACCESS EXCLUSIVE on {format_qname(q)}, briefly (catalog only)",
        )
    )
    reason = "added through a unique index" + (
        " that was there" if reuse else " built concurrently" if concurrent else ""
    )
    check = duplicates_check(
        q, want.columns, f"{key.lower()} {name}" if key != "UNIQUE" else f"unique constraint {name}"
    )
    changes: tuple[Change, ...] = (PutIndex(index), PutConstraint(want))
    if want.kind == "primary_key":
        changes += tuple(AlterColumn(q[0], q[1], c, nullable=False) for c in want.columns)
    return Decision(op, target, "run", reason, checks=(check,), steps=tuple(steps), changes=changes)


def decide_drop_constraint(model: SchemaModel, spec: DropConstraint) -> Decision:
    q, name = spec.table, spec.name
    target = f"{format_qname(q)}.{name}"
    have = model.constraints.get((q[0], q[1], name))
    if have is None:
        return skip("drop_constraint", target, "already gone")
    changes: tuple = (DropObject(ObjRef("constraint", q[0], name, q[1])),)
    if have.kind in ("unique", "primary_key", "exclude"):
        changes += (DropObject(ObjRef("index", q[0], name)),)  # its index goes with it
    step = Step(
        ddl.drop_constraint_sql(q, name),
        "revision",
        f"ACCESS EXCLUSIVE on {format_qname(q)}, briefly",
        alembic=True,
    )
    return Decision("drop_constraint", target, "run", "dropped", steps=(step,), changes=changes)
