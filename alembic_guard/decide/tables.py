"""Decisions of ``create_table`` (which reconciles a table that is there) and ``drop_table``.

Pure: no connection, no filesystem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alembic_guard import ddl
from alembic_guard.changes import Change, DropObject, PutColumn, PutConstraint, PutIndex, PutTable
from alembic_guard.decide.columns import missing_reference
from alembic_guard.decide.later import dropped_later, moved_on
from alembic_guard.decide.statements import explained_by_later
from alembic_guard.decide.types import Decision, Step, destructive, kept, missing, refuse, skip
from alembic_guard.identity import choose_constraint_name, compatible_column, describe_column, same_constraint
from alembic_guard.model import Constraint, Index, ObjRef, QName, SchemaModel, Table, format_qname


@dataclass(frozen=True, slots=True)
class CreateTable:
    table: Table
    constraints: tuple[Constraint, ...] = ()
    indexes: tuple[Index, ...] = ()
    # CREATE TABLE IF NOT EXISTS: a column of another definition is kept (PostgreSQL keeps the
    # whole table), not refused
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class DropTable:
    table: QName
    allow_destructive: bool = True


@dataclass(frozen=True, slots=True)
class Reconcile:
    """What ``create_table`` of an existing table adds, each through its own guarded operation."""

    columns: tuple[str, ...]
    constraints: tuple[Constraint, ...]


def present(model: SchemaModel, want: Constraint) -> bool:
    """Is a constraint like ``want`` on its table (by name; unnamed: by definition, or by the
    name PostgreSQL gave it — a CHECK's text comes back from the catalog rewritten, ``x IN
    (...)`` as ``x = ANY (ARRAY[...])``, so its definition alone does not find it)?"""
    implicit = default_name(want)
    for have in model.constraints_of(*want.table):
        if want.name is not None and have.name == want.name:
            return True
        if want.name is None and same_constraint(have, want):
            return True
        if implicit is not None and have.name == implicit and have.kind == want.kind:
            return True
    return False


def default_name(c: Constraint) -> str | None:
    """The name PostgreSQL gives the unnamed constraint ``c`` on a table without a clash (``None``:
    named, or a key of unknown columns)."""
    if c.name is not None or c.kind not in ("check", "unique", "foreign_key"):
        return None
    if c.kind != "check" and not c.columns:
        return None
    return choose_constraint_name(SchemaModel(), c.table, c.kind, c.columns)


def decide_create_table(
    model: SchemaModel,
    spec: CreateTable,
    later: Sequence[Change] = (),
    source: str = "migration",
    rerun: bool = False,
) -> tuple[Decision, Reconcile | None]:
    """The decision, and for an existing table what the reconciliation adds.

    ``source``: what the table's definition is, in messages (``migration``, ``SQL``).
    ``later``: the changes of the revisions after this one; a column whose
    definition they explain (a type widened, NOT NULL added later) is this
    revision's column, evolved, not a clash.  ``rerun``: the ledger says this
    revision was applied to this database before (a constraint a later
    revision drops is then not made again).
    """
    want = spec.table
    q = want.qname
    op, target = "create_table", format_qname(q)
    have = model.table(*q)
    fks = [c for c in spec.constraints if c.kind == "foreign_key" and c.ref_table != q]
    if have is None:
        renamed = moved_on(model, ObjRef.relation(*q), (PutTable(want),), later, rerun)
        if renamed is not None:
            return skip(op, target, f"not created: {renamed.describe()}, and that table is there"), None
        problem = missing_reference(model, fks)
        if problem:
            return missing(
                op, target, problem[0], "create the referenced table and columns first", problem[1]
            ), None
        refs = sorted({format_qname(c.ref_table) for c in fks if c.ref_table is not None})
        lock = (
            "none on existing tables"
            if not refs
            else f"SHARE ROW EXCLUSIVE on {', '.join(refs)} (foreign keys)"
        )
        changes: list[Change] = [PutTable(want)]
        changes.extend(PutConstraint(c) for c in spec.constraints)
        changes.extend(PutIndex(ix) for ix in spec.indexes)
        step = Step(ddl.create_table_sql(want, spec.constraints), "revision", lock, alembic=True)
        reason = f"created with {len(want.columns)} column(s)"
        return Decision(op, target, "run", reason, steps=(step,), changes=tuple(changes)), None
    clashes = [
        (h, w) for w in want.columns if (h := have.column(w.name)) is not None and not compatible_column(h, w)
    ]
    made = (PutTable(want),)
    evolved = [
        h.name
        for h, _ in clashes
        if explained_by_later(model, made, ObjRef.column(q[0], q[1], h.name), later)
    ]
    clashes = [(h, w) for h, w in clashes if h.name not in evolved]
    details = "\n".join(
        f"  {h.name}: in the database {describe_column(h)}; in the {source} {describe_column(w)}"
        for h, w in clashes
    )
    if clashes and not spec.if_not_exists:
        decision = refuse(
            op,
            target,
            "the table exists, and some of its columns have another definition",
            f"change the {source} to match the database, or alter those columns in their own revision",
            details,
        )
        return decision, None
    absent = [w.name for w in want.columns if have.column(w.name) is None]
    # a column a later revision renames (and whose new name is there) or drops is not added back
    moved = {
        name: f
        for name in absent
        if (f := moved_on(model, ObjRef.column(q[0], q[1], name), made, later, rerun)) is not None
    }
    cols = tuple(name for name in absent if name not in moved)
    cons = tuple(
        c
        for c in spec.constraints
        if c.kind != "primary_key" and not present(model, c) and not set(c.columns) & set(moved)
    )
    # re-running the history: a constraint a later revision drops is not made again
    dropped = [
        c
        for c in cons
        if rerun
        and (name := c.name or default_name(c))
        and dropped_later(ObjRef("constraint", q[0], name, q[1]), later)
    ]
    cons = tuple(c for c in cons if c not in dropped)
    note = f"; evolved since by later revisions: column(s) {', '.join(evolved)}" if evolved else ""
    note += "".join(f"; column {name} not added: {f.describe()}, which is there" for name, f in moved.items())
    note += "".join(
        f"; constraint {c.name or default_name(c)} not made again: a later revision drops it" for c in dropped
    )
    if clashes:
        names = ", ".join(h.name for h, _ in clashes)
        what = f"column(s) {names} of table {target}"
        if not cols and not cons:
            return kept(op, target, what, details), None
        note += f"; IF NOT EXISTS: {what} kept with another definition, as PostgreSQL does"
    if not cols and not cons:
        return skip(op, target, "already there with a compatible shape" + note), None
    reason = (
        "reconciled the existing table: added "
        + ", ".join([f"column {c}" for c in cols] + [f"constraint {c.name or c.kind}" for c in cons])
        + note
    )
    # the changes are those the reconciliation's own guarded operations make (pre-flight
    # applies them to its scratch model; the adapter leaves them to those operations)
    added: list[Change] = [PutColumn(q[0], q[1], w) for w in want.columns if w.name in cols]
    added.extend(PutConstraint(c) for c in cons)
    return Decision(op, target, "run", reason, details=details or None, changes=tuple(added)), Reconcile(
        cols, cons
    )


def decide_drop_table(model: SchemaModel, spec: DropTable) -> Decision:
    q = spec.table
    op, target = "drop_table", format_qname(q)
    if model.table(*q) is None:
        return skip(op, target, "already gone")
    if not spec.allow_destructive:
        return destructive(op, target, "a table destroys its rows")
    step = Step(ddl.drop_table_sql(q), "revision", f"ACCESS EXCLUSIVE on {format_qname(q)}", alembic=True)
    return Decision(op, target, "run", "dropped", steps=(step,), changes=(DropObject(ObjRef.relation(*q)),))
