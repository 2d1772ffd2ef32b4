"""Decisions of one raw SQL statement of ``op.execute``, from its analysed effects.

A statement that creates objects is skipped when every object is there with
the same definition, and refused when one is there with another definition
(both shown) — unless the revisions after this one give it exactly the shape
it has: then it is this statement's object, evolved, and skipped with a note.
A ``DROP`` of objects that are all gone is skipped; a rename whose target
exists and whose source is gone is skipped (done already).  Anything else
runs as written.

The model must hold the objects the statement names (the adapter reads the
tables it touches and the other objects it names from the catalog first).

Pure: no connection, no filesystem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alembic_guard.changes import AddEnumValue, Change, PutConstraint, RenameEnumValue, apply
from alembic_guard.decide.types import Decision, Step, kept, refuse, skip
from alembic_guard.identity import (
    both,
    compatible_column,
    describe_column,
    describe_constraint,
    describe_index,
    find_same_constraint,
    same_constraint,
    same_index,
)
from alembic_guard.model import ObjRef, SchemaModel, format_qname

# changes that only add: a statement made of these alone can be skipped when all is there
ADDING = frozenset(
    {
        "PutSchema",
        "PutTable",
        "PutColumn",
        "PutIndex",
        "PutConstraint",
        "PutSequence",
        "PutEnum",
        "PutExtension",
        "PutComposite",
        "PutView",
        "PutFunction",
        "PutTrigger",
    }
)


@dataclass(frozen=True, slots=True)
class RawStatement:
    """One statement of ``op.execute`` text, as the analysis sees it."""

    text: str
    kind: str  # the parse node: "IndexStmt", "DropStmt", "RenameStmt", ...
    creates: tuple[ObjRef, ...]
    drops: tuple[ObjRef, ...]
    changes: tuple[Change, ...]
    replace: bool = False  # CREATE OR REPLACE
    missing_ok: bool = False  # DROP ... IF EXISTS
    ensures: tuple[ObjRef, ...] = ()  # of ``creates``, those made with IF NOT EXISTS
    named_by_server: tuple[ObjRef, ...] = ()  # of ``creates``, keys and constraints the SQL left unnamed


def fact(model: SchemaModel, ref: ObjRef) -> Any:
    """The model's fact for ``ref`` (``None`` when absent)."""
    k, q = ref.kind, (ref.schema, ref.name)
    if k == "relation":
        return model.tables.get(q) or model.views.get(q)
    if k == "column":
        assert ref.parent is not None
        view = model.views.get((ref.schema, ref.parent))
        if view is not None:  # a view's column: its name is all the model holds
            return ref.name if ref.name in view.columns else None
        return model.column(ref.schema, ref.parent, ref.name)
    if k == "index":
        return model.indexes.get(q)
    if k == "constraint":
        return model.constraints.get((ref.schema, ref.parent or "", ref.name))
    if k == "type":
        return model.enums.get(q) or model.composites.get(q)
    if k == "function":
        return model.functions.get(q)
    if k == "trigger":
        return model.triggers.get((ref.schema, ref.parent or "", ref.name))
    if k == "sequence":
        return model.sequences.get(q)
    if k == "schema":
        return ref.name if ref.name in model.schemas else None
    if k == "extension":
        return model.extensions.get(ref.name)
    return None


def same_fact(kind: str, have: Any, want: Any) -> bool:
    """Are two facts of one kind the same definition (as far as the model tells)?"""
    if kind == "column":
        return isinstance(have, str) or isinstance(want, str) or compatible_column(have, want)
    if kind == "index":
        return bool(have.valid) and same_index(have, want)
    if kind == "constraint":
        return same_constraint(have, want)
    if kind == "relation":
        if hasattr(have, "columns") and hasattr(want, "columns") and want.columns and have.columns:
            hc = [c if isinstance(c, str) else c.name for c in have.columns]
            wc = [c if isinstance(c, str) else c.name for c in want.columns]
            return hc == wc
        return True
    if kind == "type":
        return getattr(have, "values", None) == getattr(want, "values", None)
    if kind == "trigger":
        return (have.table, have.function, have.timing, have.events) == (
            want.table,
            want.function,
            want.timing,
            want.events,
        )
    return True  # sequences, schemas, extensions: there is all the model tells


def describe(kind: str, f: Any) -> str:
    if kind == "column":
        return describe_column(f)
    if kind == "index":
        return describe_index(f)
    if kind == "constraint":
        return describe_constraint(f)
    if kind == "type" and hasattr(f, "values"):
        return "ENUM (" + ", ".join(repr(v) for v in f.values) + ")"
    if kind == "relation" and hasattr(f, "columns"):
        return "(" + ", ".join(c if isinstance(c, str) else c.name for c in f.columns) + ")"
    if kind == "trigger":
        events = " OR ".join(e.upper() for e in f.events)
        return f"{(f.timing or '').upper()} {events} EXECUTE {f.function[1] if f.function else '?'}"
    return repr(f)


def wanted_facts(st: RawStatement) -> dict[ObjRef, Any]:
    """The facts the statement creates, by reference (from its changes, applied to an empty model)."""
    scratch = SchemaModel()
    for change in st.changes:
        apply(scratch, change)
    out = {}
    for ref in st.creates:
        f = fact(scratch, ref)
        if f is not None:
            out[ref] = f
    return out


def evolved(model: SchemaModel, st: RawStatement, ref: ObjRef, later: Sequence[Change]) -> bool:
    """Does the statement's object, changed by the later revisions, have the shape it has now?"""
    return explained_by_later(model, st.changes, ref, later)


def explained_by_later(
    model: SchemaModel, changes: Sequence[Change], ref: ObjRef, later: Sequence[Change]
) -> bool:
    """Would ``changes`` (what this revision makes) followed by ``later`` (what the revisions after
    it make) leave the object ``ref`` with the definition it has in ``model`` now?

    Then the object is this revision's, evolved by a later one: re-running the
    history must not refuse it.
    """
    if not later:
        return False
    have, then = fact(model, ref), replayed(model, changes, ref, later)
    return have is not None and then is not None and same_fact(ref.kind, have, then)


def replayed(model: SchemaModel, changes: Sequence[Change], ref: ObjRef, later: Sequence[Change]) -> Any:
    """The fact ``ref`` after ``changes`` then ``later`` on a copy of ``model`` (``None``: absent)."""
    scratch = model.copy()
    for change in (*changes, *later):
        try:
            apply(scratch, change)
        except (KeyError, AssertionError, ValueError):  # a change for something this scratch lacks
            continue
    return fact(scratch, ref)


def enum_value_done(model: SchemaModel, changes: Sequence[Change]) -> str | None:
    """Why ``ALTER TYPE ... ADD VALUE`` / ``RENAME VALUE`` needs no running (``None``: it does).

    The value is there already (PostgreSQL would say 42710 without ``IF NOT
    EXISTS``), or the rename is done: the old label gone, the new one there.
    """
    for c in changes:
        e = model.enums.get((c.schema, c.name)) if isinstance(c, AddEnumValue | RenameEnumValue) else None
        if e is None:
            return None
        if isinstance(c, AddEnumValue) and c.value in e.values:
            return f"already there: value {c.value!r} of type {format_qname(e.qname)}"
        if isinstance(c, RenameEnumValue) and c.old not in e.values and c.new in e.values:
            return f"already renamed: value {c.new!r} of type {format_qname(e.qname)} (was {c.old!r})"
    return None


def remade_already(model: SchemaModel, st: RawStatement) -> str | None:
    """Why a statement that drops objects and makes them again needs no running (``None``: it does).

    ``ALTER TABLE t DROP CONSTRAINT IF EXISTS t_pkey, ADD COLUMN IF NOT EXISTS id ... PRIMARY
    KEY`` run again drops the key it made, then skips the column that is there: the table is
    left without its primary key.  When the statement only drops and makes objects, every
    object it drops is one it makes again (or is gone), and every object it makes is there
    with the definition the statement gives it, it has run.
    """
    if any(type(c).__name__ not in ADDING and type(c).__name__ != "DropObject" for c in st.changes):
        return None  # it alters something as well (a column's NOT NULL, say): not judged here
    remade = {(r.schema, r.name) for r in st.creates}
    if any((r.schema, r.name) not in remade and fact(model, r) is not None for r in st.drops):
        return None
    scratch = model.copy()
    try:
        for change in st.changes:
            apply(scratch, change)
    except (KeyError, AssertionError, ValueError):  # a change for something the model lacks
        return None
    for ref in st.creates:
        have, then = fact(model, ref), fact(scratch, ref)
        if then is None and ref.kind == "index" and have is not None:
            continue  # the index behind a key the statement makes: the model replays the key only
        if have is None or then is None or not same_fact(ref.kind, have, then):
            return None
    shown = ", ".join(str(r) for r in st.creates[:4]) + (" ..." if len(st.creates) > 4 else "")
    return f"already done: what it drops and makes again is there as it makes it ({shown})"


def column_moved_on(model: SchemaModel, ref: ObjRef, made: Sequence[Change], later: Sequence[Change]) -> str:
    """Why a column this statement adds, absent now, is not added again on a re-run ('' : it is).

    A later revision renamed it (and the renamed column is there as the history
    gives it) or dropped it: adding it again would make a column no revision
    leaves behind (and, in a multi-column ``ALTER TABLE``, fail on the columns
    that are there).
    """
    from alembic_guard.decide.later import fate, moved_on  # they read facts as defined here

    f = moved_on(model, ref, made, later)
    if f is not None:
        return f.describe()
    if fate(ref, later).how == "dropped":
        return "a later revision drops it"
    return ""


def decide_statement(
    model: SchemaModel, st: RawStatement, later: Sequence[Change] = (), rerun: bool = False
) -> Decision:
    """Skip, refuse or run one statement; ``later``: the changes of the revisions after this one;
    ``rerun``: the ledger says this revision was applied to this database before."""
    op, target = "execute", " ".join(st.text.split())[:60]
    run = Decision(
        op,
        target,
        "run",
        "ran",
        steps=(Step(st.text, "revision", "the statement's own"),),
        changes=st.changes,
    )
    if st.kind == "AlterEnumStmt":
        done = enum_value_done(model, st.changes)
        return skip(op, target, done) if done else run
    if st.kind == "RenameStmt" and st.creates and st.drops:
        source, dest = st.drops[0], st.creates[0]
        if fact(model, source) is None and fact(model, dest) is not None:
            return skip(op, target, f"already renamed: {dest} exists and {source} does not")
        return run
    if st.drops and not st.creates:
        if all(fact(model, ref) is None for ref in st.drops):
            gone = ", ".join(str(r) for r in st.drops[:4])
            return skip(op, target, f"already gone: {gone}")
        return run
    if st.drops and st.creates and not st.replace:
        done = remade_already(model, st)
        return skip(op, target, done) if done else run
    if not st.creates or st.drops or st.replace:
        return run
    if any(type(c).__name__ not in ADDING for c in st.changes):
        return run
    from alembic_guard.decide.later import dropped_later  # it reads facts as defined here

    wants = wanted_facts(st)
    notes: list[str] = []
    differ: list[tuple[ObjRef, str]] = []  # IF NOT EXISTS objects there with another definition
    not_made: set[tuple[str, str]] = set()  # views not made again: their columns neither
    twins: set[tuple[str, str]] = set()  # unnamed keys there under another name: their indexes too
    gone_columns: set[tuple[str, str, str]] = set()  # columns not added again on a re-run
    for ref in st.creates:
        have = fact(model, ref)
        if ref.kind == "column" and (ref.schema, ref.parent) in not_made:
            continue
        view = ref.kind == "relation" and hasattr(wants.get(ref), "materialized")  # a view, not a table
        if have is None and rerun and (ref.kind != "relation" or view) and dropped_later(ref, later):
            notes.append(f"{ref} not made again: a later revision drops it")
            if view:
                not_made.add((ref.schema, ref.name))
            continue
        if have is None and ref.kind == "column" and rerun:
            moved = column_moved_on(model, ref, st.changes, later)
            if moved:
                notes.append(f"{ref} not added again: {moved}")
                gone_columns.add((ref.schema, ref.parent or "", ref.name))
                continue
        if have is None and ref.kind in ("constraint", "index") and gone_columns:
            keyed = [
                (f.table, f.columns)
                for c in st.changes
                if (f := getattr(c, "constraint", None) or getattr(c, "index", None)) is not None
                and getattr(f, "name", None) == ref.name
            ]
            if keyed and all(
                cols and all((t[0], t[1], c) in gone_columns for c in cols) for t, cols in keyed
            ):
                continue  # on a column not added again: neither is it
        if have is None and ref.kind == "constraint" and ref in st.named_by_server:
            # PostgreSQL would name it anew (``t_a_key1``): one of the same definition is it
            made = next(
                (
                    c.constraint
                    for c in st.changes
                    if isinstance(c, PutConstraint) and c.constraint.name == ref.name
                ),
                None,
            )
            twin = find_same_constraint(model, made) if made is not None else None
            if twin is not None:
                twins.add((ref.schema, ref.name))
                if twin.name != ref.name:
                    notes.append(f"{ref} is there as {twin.name}")
                continue
        if have is None and ref.kind == "index" and (ref.schema, ref.name) in twins:
            continue
        if have is None:
            return run
        want = wants.get(ref)
        if want is None or same_fact(ref.kind, have, want):
            continue
        if ref.kind == "index" and not have.valid:
            return run  # the adapter drops the INVALID leftover first
        if ref.kind == "function":
            return run  # another argument list: an overload, PostgreSQL decides
        if evolved(model, st, ref, later):
            notes.append(f"{ref} has the shape a later revision gives it")
            continue
        if ref in st.ensures:
            differ.append((ref, both(describe(ref.kind, have), describe(ref.kind, want), "SQL")))
            continue
        return refuse(
            op,
            target,
            f"{ref} exists with another definition",
            "change the SQL to match the database, or change the object in a statement of its own",
            both(describe(ref.kind, have), describe(ref.kind, want), "SQL"),
        )
    if differ:
        return kept(op, target, ", ".join(str(r) for r, _ in differ), "\n".join(d for _, d in differ))
    shown = ", ".join(str(r) for r in st.creates[:4]) + (" ..." if len(st.creates) > 4 else "")
    reason = f"already there: {shown}"
    if notes:
        reason += "; re-running the history: " + "; ".join(notes)
    return skip(op, target, reason)
