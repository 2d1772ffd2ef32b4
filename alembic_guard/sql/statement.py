"""Statements and their effects: the facts SQL analysis hands to the planner.

Pure data.  A :class:`Statement` is one SQL statement of one source file with
its position; an :class:`Effect` says what that statement creates, ensures
(``IF NOT EXISTS``), requires, drops and alters, as :class:`ObjRef` values of
the shared schema model, plus the model changes replay applies.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from alembic_guard.model import ObjRef


@dataclass(frozen=True, slots=True, eq=False)
class SourceFile:
    """The text of one migration file (or the up part of it).

    ``path`` is the name shown to users (relative to the directory given on
    the command line); ``order`` is the file's place in the tool's order;
    ``text`` is the part that is analysed.  ``base_line`` / ``base_col`` say
    where ``text`` starts inside the real file (an up section of a dbmate or
    goose file starts below its marker comment) so positions point into the
    real file.
    """

    path: str
    text: str
    order: int = 0
    base_line: int = 1
    down_text: str | None = None  # the down part, kept for later use (downgrades)
    checksum: str = ""
    # the file carries its tool's marker for running outside a transaction block
    # (goose ``-- +goose NO TRANSACTION``, dbmate ``transaction:false`` ...): see sql.source
    no_transaction: bool = False
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def line_col(self, char_offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset into ``text``."""
        starts = self._line_starts
        if not starts:
            starts.append(0)
            i = self.text.find("\n")
            while i != -1:
                starts.append(i + 1)
                i = self.text.find("\n", i + 1)
        n = bisect.bisect_right(starts, char_offset) - 1
        return self.base_line + n, char_offset - starts[n] + 1

    def char_offset(self, byte_offset: int) -> int:
        """Character offset into ``text`` of a UTF-8 byte offset (pglast's ``location``).

        O(size of the text) for non-ASCII text: meant for messages, not for hot loops
        (:meth:`Statement.position_of_byte` only decodes the statement itself).
        """
        if byte_offset <= 0 or self.text.isascii():
            return max(byte_offset, 0)
        # errors="ignore" drops a partial character when the offset falls inside one
        return len(self.text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))

    def position_of_byte(self, byte_offset: int) -> tuple[int, int]:
        """1-based (line, column) in the real file of a UTF-8 byte offset into ``text``."""
        return self.line_col(self.char_offset(byte_offset))


@dataclass(frozen=True, slots=True, eq=False)
class Statement:
    """One SQL statement as written, with where it came from.

    ``index`` is its 0-based position inside its file; ``offset`` the
    character offset of its first character in ``source.text``;
    ``line`` / ``col`` are 1-based.  ``node`` is the statement's parse tree as
    pglast's JSON gives it (``{"CreateStmt": {...}}``), ``byte_offset`` the
    UTF-8 byte offset pglast's ``location`` values are relative to (node
    locations are file byte offsets; use :meth:`position_of_byte`).
    """

    source: SourceFile
    index: int
    text: str
    offset: int
    line: int
    col: int
    node: dict[str, Any] = field(repr=False)
    byte_offset: int = 0

    @property
    def file(self) -> str:
        return self.source.path

    @property
    def kind(self) -> str:
        """The parse node's type name, e.g. ``CreateStmt``."""
        return next(iter(self.node)) if self.node else "Unknown"

    @property
    def sort_key(self) -> tuple[int, int]:
        """Original order: file order, then position inside the file."""
        return (self.source.order, self.index)

    @property
    def where(self) -> str:
        """``file:line:col`` for messages."""
        return f"{self.source.path}:{self.line}:{self.col}"

    def position_of_byte(self, byte_offset: int) -> tuple[int, int]:
        """1-based (line, column) in the real file of a node ``location`` (a byte offset into
        ``source.text``), e.g. of a reference inside this statement; -1 gives the statement's own.

        Decodes only the statement's text when the location falls inside it.
        """
        rel = byte_offset - self.byte_offset
        if byte_offset < 0:
            return self.line, self.col
        if rel < 0 or self.text.isascii():
            if rel >= 0:
                return self.source.line_col(self.offset + rel)
            return self.source.position_of_byte(byte_offset)
        head = self.text.encode("utf-8")[:rel]
        if len(head) < rel:  # past the statement's end (a trailing comment): use the whole file
            return self.source.position_of_byte(byte_offset)
        return self.source.line_col(self.offset + len(head.decode("utf-8", errors="ignore")))

    def excerpt(self, width: int = 72) -> str:
        """The statement on one line, cut to ``width`` characters."""
        one = " ".join(self.text.split())
        return one if len(one) <= width else one[: width - 1] + "…"


@dataclass(frozen=True, slots=True, order=True)
class Requirement:
    """An object a statement needs, and where in the source it is named.

    ``location`` is a UTF-8 byte offset into the statement's source file as
    pglast reports it, or -1 when only the statement's own position is known.
    """

    ref: ObjRef
    location: int = -1


@dataclass(frozen=True, slots=True)
class QueryColumns:
    """The columns of a relation made from a query, as the analysis derived them.

    ``columns`` are (name, canonical type or ``None`` when it is not plain to
    see) in order.  ``complete`` is False when ``SELECT *`` ran over a relation
    the analysis does not know: the relation has other columns too, and a
    reference to one of them cannot be judged.
    """

    relation: tuple[str, str]
    columns: tuple[tuple[str, str | None], ...]
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Effect:
    """What one statement does to the schema.

    - ``creates``: objects that must not exist yet (plain ``CREATE``);
    - ``ensures``: objects that exist afterwards whatever was there
      (``IF NOT EXISTS``, ``CREATE OR REPLACE``, DDL guarded inside a DO block);
    - ``requires``: objects that must exist before it runs;
    - ``drops`` / ``alters``: objects removed or changed in place;
    - ``changes``: the same, as model changes replay applies
      (:mod:`alembic_guard.changes`);
    - ``opaque``: why the statement was not understood (``None`` when it was);
      an opaque statement is kept in its place, never dropped;
    - ``transactional``: False for statements that cannot run inside a
      transaction block (``CREATE INDEX CONCURRENTLY``, ``VACUUM`` ...);
    - ``query_columns``: the columns of each relation it makes from a query
      (view, materialized view, ``CREATE TABLE … AS``, ``SELECT … INTO``),
      with their types where the analysis can tell them.
    - ``uses``: objects needed only when something runs later or maybe
      (a PL/pgSQL function body, a branch of ``IF`` in a ``DO`` block): the
      planner orders after an earlier provider, never moves the statement
      for them and never reports them missing;
    - ``maybe_drops``: objects dropped only if a condition holds (a ``DROP``
      inside ``IF ... THEN``): ordered like drops, but afterwards the object
      may still be there;
    - ``dynamic``: what dynamic SQL (``EXECUTE format(...)``, or a call of a
      function whose body creates objects) may create, as glob patterns over
      :func:`dynamic_key` (``*`` alone: anything).  A statement whose every
      pattern names the kind, schema and part of the name (``relation:public.
      events_*``) is understood, with names known only when it runs; with
      ``*`` or a wholly unknown name it is also opaque.  Either way it keeps its
      place (:attr:`kept_in_place`).
    - ``named_by_server``: of ``creates``, the keys and constraints the SQL left
      unnamed: PostgreSQL named them (``t_pkey``, ``t_a_key1`` on a clash).  Run
      again, the statement would make a second one of another name, so a guard
      looks for one of the same definition instead of the name.
    """

    creates: tuple[ObjRef, ...] = ()
    ensures: tuple[ObjRef, ...] = ()
    requires: tuple[Requirement, ...] = ()
    drops: tuple[ObjRef, ...] = ()
    alters: tuple[ObjRef, ...] = ()
    changes: tuple[Any, ...] = ()
    opaque: str | None = None
    transactional: bool = True
    query_columns: tuple[QueryColumns, ...] = ()
    uses: tuple[Requirement, ...] = ()
    maybe_drops: tuple[ObjRef, ...] = ()
    dynamic: tuple[str, ...] = ()
    named_by_server: tuple[ObjRef, ...] = ()

    @property
    def provides(self) -> tuple[ObjRef, ...]:
        """Objects that exist after the statement: creates + ensures."""
        return self.creates + self.ensures

    @property
    def kept_in_place(self) -> bool:
        """Not understood, or creating names known only when it runs: nothing moves across it
        where it may matter, and the runtime runs it as written."""
        return self.opaque is not None or bool(self.dynamic)


def dynamic_key(ref: ObjRef) -> str:
    """``kind:schema.name`` (``kind:schema.table.name`` for columns, constraints, triggers): what the
    glob patterns of :attr:`Effect.dynamic` are matched against."""
    if ref.parent is not None:
        return f"{ref.kind}:{ref.schema}.{ref.parent}.{ref.name}"
    return f"{ref.kind}:{ref.schema}.{ref.name}"


@dataclass(frozen=True, slots=True, eq=False)
class AnalyzedStatement:
    """A statement with its effect; what the planner orders."""

    statement: Statement
    effect: Effect

    @property
    def sort_key(self) -> tuple[int, int]:
        return self.statement.sort_key


def bounded(pattern: str) -> bool:
    """A dynamic pattern that says the kind, schema and part of the name (``relation:public.
    events_*``), not "anything" (``*``) or "any name" (``relation:public.*``)."""
    kind, sep, rest = pattern.partition(":")
    if not sep or "*" in kind or "." not in rest:
        return False
    schema, _, name = rest.partition(".")
    return "*" not in schema and name.replace("*", "").strip(".") != ""


def may_create(patterns: Sequence[str], ref: ObjRef) -> bool:
    """Whether dynamic SQL with these :attr:`Effect.dynamic` patterns may create ``ref`` (or, for
    a column, constraint or trigger, the relation holding it)."""
    keys = [dynamic_key(ref)]
    if ref.parent is not None:
        keys.append(dynamic_key(ObjRef.relation(ref.schema, ref.parent)))
    return any(p == "*" or fnmatchcase(k, p) for p in patterns for k in keys)
