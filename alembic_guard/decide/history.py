"""What a whole history of revisions leaves behind, and whether a live database shows it.

Pure.  Two users, one judgement:

- adoption (:mod:`alembic_guard.importer.adopt`) replays every revision's
  model changes and asks, revision by revision, whether the live schema
  agrees with the state the history reaches;
- re-running a history (``alembic stamp base`` + ``upgrade head`` with the
  ledger kept, :attr:`GuardContext.rerun`) asks, operation by operation,
  whether everything the operation touches is already as the *whole* history
  leaves it (:func:`settled`).  Then running it again can only take the
  database back to an older state the later revisions already moved on from
  (drop the key a later statement of the same revision remade, make a view
  over tables that changed since, add a column a later revision dropped): it
  is skipped with a note.  Anything the live database shows differently runs
  through the usual guards.

Objects judged: :func:`touched` by a change (both names for a rename).  An
object the history made and later removed agrees when it is absent; one the
history leaves in doubt (a conditional drop, a partition made by dynamic SQL)
agrees either way (:class:`Unknown`).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from alembic_guard import changes as ch
from alembic_guard.decide.statements import fact, same_fact
from alembic_guard.identity import describe_column, describe_index, same_type
from alembic_guard.model import Column, Constraint, Index, ObjRef, QName, SchemaModel, Table, format_qname
from alembic_guard.sql.statement import AnalyzedStatement, bounded, dynamic_key, may_create

__all__ = [
    "HistoryEnd",
    "HistoryStep",
    "Judged",
    "Unknown",
    "Unsure",
    "agree",
    "dynamic_may_have_made",
    "effect_changes",
    "footprint",
    "history_end",
    "judge",
    "made_by_pattern",
    "relation_patterns",
    "settled",
    "touched",
    "unsure_of",
]


@dataclass(frozen=True, slots=True)
class Unsure:
    """What a revision may have done that its model changes cannot say.

    - ``maybe_dropped``: objects it drops only if a condition holds (``IF ... THEN DROP`` in a
      ``DO`` block) and that no later statement of the revision settles: afterwards they may
      be there or not;
    - ``dynamic``: glob patterns (over :func:`~alembic_guard.sql.statement.dynamic_key`) of
      what its dynamic SQL may create (``EXECUTE format(...)``, a call of a function whose
      body does): a table made that way (a partition) is one the history cannot follow, nor
      what hangs on it (its indexes, dropped with it by a ``DROP`` of its parent).

    Such objects are not judged (either state agrees) until a later revision settles them.
    """

    maybe_dropped: tuple[ObjRef, ...] = ()
    dynamic: tuple[str, ...] = ()


def unsure_of(analyzed: Iterable[AnalyzedStatement]) -> Unsure:
    """What statements (in order: one revision's, or a whole history's) may have done beyond
    their changes: a conditional drop stays in doubt unless a later statement touches the
    object again; dynamic SQL's patterns add up."""
    doubt: dict[ObjRef, None] = {}
    patterns: list[str] = []
    for a in analyzed:
        for c in a.effect.changes:
            for ref in touched(c):
                doubt.pop(ref, None)
        doubt.update(dict.fromkeys(a.effect.maybe_drops))
        patterns.extend(p for p in a.effect.dynamic if p not in patterns)
    return Unsure(tuple(doubt), tuple(patterns))


def touched(change: ch.Change) -> tuple[ObjRef, ...]:
    """The objects one model change creates, changes or removes (renames: both names)."""
    c: object = change
    if isinstance(c, ch.PutTable):
        t = c.table
        return (
            ObjRef.relation(t.schema, t.name),
            *(ObjRef.column(t.schema, t.name, x.name) for x in t.columns),
        )
    if isinstance(c, ch.CopyColumns):
        return (ObjRef.relation(c.schema, c.table),)
    if isinstance(c, ch.PutColumn):
        return (ObjRef.column(c.schema, c.table, c.column.name),)
    if isinstance(c, ch.AlterColumn):
        return (ObjRef.column(c.schema, c.table, c.name),)
    if isinstance(c, ch.DropObject):
        return (c.ref,)
    if isinstance(c, ch.RenameObject):
        return (c.ref, ObjRef(c.ref.kind, c.ref.schema, c.new_name, c.ref.parent))
    if isinstance(c, ch.SetSchema):
        return (c.ref, ObjRef(c.ref.kind, c.new_schema, c.ref.name, c.ref.parent))
    if isinstance(c, ch.PutIndex):
        return (ObjRef("index", c.index.schema, c.index.name),)
    if isinstance(c, ch.PutConstraint):
        con = c.constraint
        return (ObjRef("constraint", con.table[0], con.name, con.table[1]),) if con.name else ()
    if isinstance(c, ch.ValidateConstraint | ch.AlterConstraint):
        return (ObjRef("constraint", c.schema, c.name, c.table),)
    if isinstance(c, ch.PutView):
        return (ObjRef.relation(c.view.schema, c.view.name),)
    if isinstance(c, ch.PutSequence):
        return (ObjRef("sequence", c.sequence.schema, c.sequence.name),)
    if isinstance(c, ch.PutEnum):
        return (ObjRef("type", c.enum.schema, c.enum.name),)
    if isinstance(c, ch.AddEnumValue | ch.RenameEnumValue):
        return (ObjRef("type", c.schema, c.name),)
    if isinstance(c, ch.PutComposite):
        return (ObjRef("type", c.composite.schema, c.composite.name),)
    if isinstance(c, ch.PutExtension):
        return (ObjRef("extension", c.extension.schema, c.extension.name),)
    if isinstance(c, ch.PutFunction):
        return (ObjRef("function", c.function.schema, c.function.name),)
    if isinstance(c, ch.PutTrigger):
        tr = c.trigger
        return (ObjRef("trigger", tr.table[0], tr.name, tr.table[1]),)
    return ()


def shown(ref: ObjRef, value: object) -> str:
    if isinstance(value, Column):
        return describe_column(value)
    if isinstance(value, Constraint):
        target = f" → {format_qname(value.ref_table)}" if value.ref_table else ""
        return f"{value.kind.replace('_', ' ')} ({', '.join(value.columns)}){target}"
    if isinstance(value, Index):
        return describe_index(value)
    return "there" if value is not None else "absent"


def agree(ref: ObjRef, expected: object, live: object) -> bool:
    """Does the live object have the definition the history gives it (both absent counts)?"""
    if expected is None or live is None:
        return expected is None and live is None
    if ref.kind == "relation":
        return True  # its columns are judged one by one
    # the shape only: expressions (a generated column's, a CHECK) as the
    # analysis keeps them and as the catalog deparses them differ in form; guard-check
    # compares them once the database is adopted
    if isinstance(expected, Column) and isinstance(live, Column):
        return same_type(live.type, expected.type) and (live.nullable, live.generated is None) == (
            expected.nullable,
            expected.generated is None,
        )
    if isinstance(expected, Index) and isinstance(live, Index):
        # the guards' comparison (casts and literals normalised); a predicate still counts
        return bool(same_fact("index", live, expected))
    if isinstance(expected, Constraint) and isinstance(live, Constraint):
        return (
            live.kind == expected.kind
            and (not live.columns or not expected.columns or set(live.columns) == set(expected.columns))
            and (expected.ref_table is None or live.ref_table == expected.ref_table)
        )
    return bool(same_fact(ref.kind, live, expected))


@dataclass(slots=True)
class Judged:
    missing: list[ObjRef]
    still: list[ObjRef]
    invalid: list[ObjRef]
    different: list[tuple[ObjRef, str, str]]
    agreed: int
    unjudged: list[ObjRef] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Unknown:
    """What the history cannot tell at one point of it: objects a conditional drop left in doubt,
    and the patterns of what dynamic SQL may have made so far."""

    maybe_dropped: frozenset[ObjRef] = frozenset()
    dynamic: tuple[str, ...] = ()

    def __call__(self, ref: ObjRef, expected: SchemaModel, live: SchemaModel) -> bool:
        if ref in self.maybe_dropped:
            return True
        if not self.dynamic:
            return False
        owner = owner_of(ref, expected, live)
        if owner is None or expected.has(ObjRef.relation(*owner)) or fact(expected, ref) is None:
            return False
        # the history made it on a table the history does not have, one dynamic SQL may have
        # made (a partition): what happened to it since (a DROP of the parent takes it
        # along) is not known
        key = dynamic_key(ObjRef.relation(*owner))
        return any(fnmatch.fnmatchcase(key, p) for p in self.dynamic)


def owner_of(ref: ObjRef, expected: SchemaModel, live: SchemaModel) -> QName | None:
    """The table an object belongs to (a column's, constraint's, trigger's, index's)."""
    if ref.kind in ("column", "constraint", "trigger"):
        return (ref.schema, ref.parent) if ref.parent is not None else None
    if ref.kind == "index":
        ix = expected.indexes.get((ref.schema, ref.name)) or live.indexes.get((ref.schema, ref.name))
        return ix.table if ix is not None else None
    return None


def judge(
    refs: Sequence[ObjRef], expected: SchemaModel, live: SchemaModel, unknown: Unknown | None = None
) -> Judged:
    j = Judged([], [], [], [], 0)
    for ref in refs:
        if unknown is not None and unknown(ref, expected, live):
            j.unjudged.append(ref)
            continue
        want, have = fact(expected, ref), fact(live, ref)
        if want is None and ref.kind == "index" and key_named(expected, ref):
            continue  # the index of a key: the replayed model holds it as the constraint only
        if agree(ref, want, have):
            j.agreed += want is not None  # something it leaves behind is there
        elif have is None:
            j.missing.append(ref)
        elif want is None:
            j.still.append(ref)
        else:
            if ref.kind == "index" and not getattr(have, "valid", True):
                j.invalid.append(ref)
                j.missing.append(ref)
            else:
                j.different.append((ref, shown(ref, want), shown(ref, have)))
    return j


def key_named(model: SchemaModel, ref: ObjRef) -> bool:
    """Is ``ref`` (an index) the index behind a primary key / unique / exclusion constraint?"""
    return any(
        k[0] == ref.schema and k[2] == ref.name and c.kind in ("primary_key", "unique", "exclude")
        for k, c in model.constraints.items()
    )


def footprint(changes: Sequence[ch.Change]) -> tuple[ObjRef, ...]:
    seen: dict[ObjRef, None] = {}
    for c in changes:
        for ref in touched(c):
            seen.setdefault(ref, None)
    return tuple(seen)


# --------------------------------------------------------------------------
# Re-running a history: the state it ends in
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryStep:
    """One statement or typed operation of the history, as replay needs it."""

    changes: tuple[ch.Change, ...]
    maybe_drops: tuple[ObjRef, ...] = ()
    dynamic: tuple[str, ...] = ()

    @classmethod
    def of_effect(cls, effect: Any) -> HistoryStep:
        """A raw SQL statement's step, from its analysed :class:`~alembic_guard.sql.statement.Effect`."""
        return cls(effect_changes(effect), tuple(effect.maybe_drops), tuple(effect.dynamic))


def effect_changes(effect: Any) -> tuple[ch.Change, ...]:
    """A statement's model changes, with the relations it makes from a query whose column types
    it cannot tell (``CREATE TABLE ... AS``) as tables of untyped columns: replay then knows they
    were made (and what a later ``DROP`` removes), which is all a re-run needs of them."""
    made = {(r.schema, r.name) for c in effect.changes for r in touched(c) if r.kind == "relation"}
    extra: list[ch.Change] = []
    for ref in (*effect.creates, *effect.ensures):
        if ref.kind == "relation" and (ref.schema, ref.name) not in made:
            columns = tuple(
                Column(r.name, "")
                for r in (*effect.creates, *effect.ensures)
                if r.kind == "column" and (r.schema, r.parent) == (ref.schema, ref.name)
            )
            extra.append(ch.PutTable(Table(ref.schema, ref.name, columns)))
            made.add((ref.schema, ref.name))
    return (*effect.changes, *extra)


@dataclass(frozen=True, slots=True)
class HistoryEnd:
    """The model the whole history leaves (``model``), every object some change of it made
    (``made``: an object made and later removed is expected absent, not merely unknown to
    the replay), and what the history cannot tell (``unknown``)."""

    model: SchemaModel
    made: frozenset[ObjRef]
    unknown: Unknown
    # what dynamic SQL each raw statement of the history may make, by its text, as the whole
    # history tells it (a call of a function an earlier revision made reads that body)
    dynamic: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


def history_end(
    steps: Iterable[HistoryStep], dynamic: dict[str, tuple[str, ...]] | None = None
) -> HistoryEnd:
    """Replay the history's changes from an empty model, base first (tolerant, as adoption's)."""
    model = SchemaModel()
    made: set[ObjRef] = set()
    doubt: set[ObjRef] = set()
    patterns: list[str] = []
    for step in steps:
        for c in step.changes:
            try:
                ch.apply(model, c)
            except (KeyError, AssertionError, ValueError):  # a change for something replay lacks
                continue
            refs = touched(c)
            doubt.difference_update(refs)
            if isinstance(c, ch.PutView):
                # a view's columns are not judged (its query is), but a statement needs them
                v = c.view
                made.update(ObjRef.column(v.schema, v.name, name) for name in v.columns)
            if isinstance(c, ch.RenameObject | ch.SetSchema) and c.ref.kind == "relation":
                # its columns, keys and triggers were made under the old name: they are the same
                old, new = refs[0], refs[1]
                made.update(
                    ObjRef(r.kind, new.schema, r.name, new.name)
                    for r in list(made)
                    if r.parent == old.name and r.schema == old.schema
                )
            for r in refs:
                f = fact(model, r)
                if f is not None or (r.kind == "index" and key_named(model, r)):
                    made.add(r)
                if isinstance(f, Constraint) and f.kind in ("primary_key", "unique", "exclude"):
                    made.add(ObjRef("index", r.schema, r.name))  # the key's index, of its name
        doubt.update(step.maybe_drops)
        patterns.extend(p for p in step.dynamic if p not in patterns)
    return HistoryEnd(model, frozenset(made), Unknown(frozenset(doubt), tuple(patterns)), dict(dynamic or {}))


def settled(
    end: HistoryEnd, live: SchemaModel, changes: Sequence[ch.Change], server_named: Iterable[ObjRef] = ()
) -> str | None:
    """Why an operation re-run on this database needs no running (``None``: it does).

    Every object its ``changes`` touch is in ``live`` as the whole history
    leaves it: there with that shape, or absent where the history made it and
    took it away again.  ``live`` must hold those objects (the guards read the
    tables and named objects an operation touches before deciding).  An
    operation that touches nothing the model follows (data, grants) is not
    judged here.  ``server_named``: the keys the statement leaves PostgreSQL to
    name (:attr:`Effect.named_by_server`), named now against the database as it
    is (``t_pkey1`` where a renamed table holds ``t_pkey``): absent both in the
    database and in the history, they are not held against it.
    """
    refs = footprint(changes)
    if not refs:
        return None
    j = judge(refs, end.model, live, end.unknown)
    if j.missing or j.still or j.different:
        return None
    there = [r for r in refs if fact(live, r) is not None and r not in j.unjudged]
    gone = [r for r in refs if fact(live, r) is None and r not in j.unjudged]
    loose = {(r.schema, r.name) for r in server_named}
    if any(
        r not in end.made and (r.schema, r.name) not in loose
        for r in gone
        if fact(end.model, r) is None and _provided(r, changes)
    ):
        return None  # absent in both, but the replay never made it: the history does not say
    parts = []
    if there:
        parts.append(
            _few(there) + " there as the later revisions leave " + ("it" if len(there) == 1 else "them")
        )
    if gone:
        parts.append(
            _few(gone) + " gone, as the later revisions leave " + ("it" if len(gone) == 1 else "them")
        )
    if j.unjudged:
        parts.append(_few(j.unjudged) + " left in doubt by a condition or dynamic SQL")
    return "re-running the history: " + "; ".join(parts)


def _provided(ref: ObjRef, changes: Sequence[ch.Change]) -> bool:
    """Does one of ``changes`` make ``ref`` (rather than only remove it, or rename it away)?"""
    for c in changes:
        if isinstance(c, ch.DropObject):
            continue
        refs = touched(c)
        if isinstance(c, ch.RenameObject | ch.SetSchema):
            refs = refs[1:]  # the old name is what it takes away
        if ref in refs:
            return True
    return False


def _them(refs: Sequence[ObjRef]) -> str:
    return "it" if len(refs) == 1 else "them"


def _few(refs: Sequence[ObjRef]) -> str:
    return ", ".join(str(r) for r in refs[:3]) + (f" and {len(refs) - 3} more" if len(refs) > 3 else "")


def relation_patterns(patterns: Sequence[str]) -> list[tuple[str, str]] | None:
    """``relation:schema.name*`` patterns as (schema, name glob); ``None`` when one of them is of
    another kind or not :func:`~alembic_guard.sql.statement.bounded` (then what the statement
    may make is not known), or holds a character class (not said in ``LIKE``)."""
    out: list[tuple[str, str]] = []
    for p in patterns:
        kind, _, rest = p.partition(":")
        if kind != "relation" or not bounded(p) or "[" in rest:
            return None
        schema, _, name = rest.partition(".")
        out.append((schema, name))
    return out


def made_by_pattern(end: HistoryEnd, patterns: Sequence[str]) -> bool:
    """Does the state the history ends in hold a relation dynamic SQL of ``patterns`` may make?"""
    return any(may_create(patterns, ObjRef.relation(*q)) for q in (*end.model.tables, *end.model.views))


def dynamic_may_have_made(end: HistoryEnd, ref: ObjRef) -> bool:
    """Is ``ref`` (or the relation holding it) of a name the history's dynamic SQL may have made,
    by a pattern that says kind, schema and part of the name (``relation:public.events_*``)?"""
    return may_create([p for p in end.unknown.dynamic if bounded(p)], ref)
