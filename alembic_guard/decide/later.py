"""Where later revisions take an object this revision makes: renamed, or dropped.

Pure.  Re-running a history (``alembic stamp base`` + ``upgrade head``, or
``upgrade head`` after an adoption) meets a database where a later revision
already renamed the column or table this revision adds: adding it again
leaves an extra object and makes the later rename fail (42701).  The object
is absent because the history moved it on; :func:`fate` says where
to (:func:`fate`), and :func:`moved_on` lets the guards skip the addition
with a note when the renamed object is there with the shape the history
gives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from alembic_guard.changes import Change, DropObject, RenameObject, SetSchema, apply
from alembic_guard.decide.statements import fact, same_fact
from alembic_guard.model import ObjRef, SchemaModel

__all__ = ["Fate", "dropped_later", "fate", "moved_on"]


@dataclass(frozen=True, slots=True)
class Fate:
    """What the later revisions do to one object: ``renamed`` (to ``ref``) or ``dropped``."""

    how: Literal["kept", "renamed", "dropped"]
    ref: ObjRef
    # the name it is renamed to belongs, until then, to another object the history drops first
    # (``DROP COLUMN inbox_url`` then ``RENAME shared_inbox_url TO inbox_url``): an object of
    # that name in the database now is that other one, not this one moved on
    displaced: bool = False

    def describe(self) -> str:
        if self.how == "dropped":
            return "a later revision drops it"
        return f"a later revision renames it to {self.ref.name}"


def fate(ref: ObjRef, later: Sequence[Change]) -> Fate:
    """Follow a relation or column through the later changes (renames, schema moves, drops)."""
    schema, table, name = ref.schema, ref.parent if ref.kind == "column" else ref.name, ref.name
    column = ref.kind == "column"
    renamed = displaced = False
    dropped_before: set[tuple[str, str | None, str]] = set()  # columns and relations dropped so far
    for c in later:
        if isinstance(c, DropObject):
            r = c.ref
            if r.kind == "relation" and (r.schema, r.name) == (schema, table):
                return Fate("dropped", ref)
            if column and (r.kind, r.schema, r.parent, r.name) == ("column", schema, table, name):
                return Fate("dropped", ref)
            if r.kind in ("relation", "column"):
                dropped_before.add((r.schema, r.parent, r.name))
        elif isinstance(c, RenameObject):
            r = c.ref
            if r.kind == "relation" and (r.schema, r.name) == (schema, table):
                table, renamed = c.new_name, True
                displaced = displaced or (schema, None, table) in dropped_before
            elif column and (r.kind, r.schema, r.parent, r.name) == ("column", schema, table, name):
                name, renamed = c.new_name, True
                displaced = displaced or (schema, table, name) in dropped_before
        elif isinstance(c, SetSchema):
            r = c.ref
            if r.kind == "relation" and (r.schema, r.name) == (schema, table):
                schema, renamed = c.new_schema, True
    assert table is not None
    if ref.kind == "column":
        final = ObjRef.column(schema, table, name)
    else:
        final = ObjRef.relation(schema, table)
    return Fate("renamed" if renamed else "kept", final, displaced)


def moved_on(
    model: SchemaModel, ref: ObjRef, made: Sequence[Change], later: Sequence[Change], rerun: bool = False
) -> Fate | None:
    """Why an object this revision makes (``made``) and ``model`` lacks needs no making, or ``None``.

    A later revision renames it and the renamed object is in ``model`` with the
    definition ``made`` followed by ``later`` gives it.  An object a later
    revision drops is made again: the revisions in between may still use it.
    """
    if not later:
        return None
    f = fate(ref, later)
    if f.how != "renamed" or fact(model, f.ref) is None:
        return None
    if f.displaced and not rerun:
        # a first run (the ledger has not seen this revision applied): the object of the later
        # name is the one the history drops before the rename, not this one moved on
        return None
    # replay this revision's object through the later changes, without the renamed one in the way
    scratch = model.copy()
    apply(scratch, DropObject(f.ref))
    for change in (*made, *later):
        try:
            apply(scratch, change)
        except (KeyError, AssertionError, ValueError):  # a change for something this scratch lacks
            continue
    have, then = fact(model, f.ref), fact(scratch, f.ref)
    if have is not None and then is not None and same_fact(f.ref.kind, have, then):
        return f
    return None


def dropped_later(ref: ObjRef, later: Sequence[Change]) -> bool:
    """Does a later revision drop the index, constraint or view ``ref`` (by name)?

    Re-running a history (the revision applied to this database before, per
    the ledger) must not make again an index or a constraint the history
    dropped since: it would be an object no revision leaves behind, and a
    CHECK or UNIQUE made again may reject rows written since, a view made
    again over tables that evolved since may not even be valid any more (its
    ``t.*`` now lists a column twice: 42701).  (On a fresh run the object is
    made: the revisions in between may use it.)  ``ref`` of kind ``relation``
    is for views: the caller knows the statement makes one.
    """
    if ref.kind not in ("index", "constraint", "relation"):
        return False
    for c in later:
        if isinstance(c, DropObject):
            r = c.ref
            same_parent = ref.kind != "constraint" or r.parent == ref.parent
            if (r.kind, r.schema, r.name) == (ref.kind, ref.schema, ref.name) and same_parent:
                return True
    return False
