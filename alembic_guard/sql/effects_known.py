"""What the statements before this one left behind, as far as a query needs to know it.

Pure.  A view, ``CREATE TABLE ... AS`` or ``SELECT ... INTO`` takes its
columns from its query, and ``SELECT *`` names whatever its tables hold when
it runs; an unqualified column inside a subquery belongs to the innermost
relation that has it; a table name used as a type is the table's row type.
None of that can be told from one statement alone.  :class:`Known` follows
the statements of a set in their original order (as :func:`analyze_all`
analyses them) and answers those questions: the columns of each relation
(in order, with their types where the analysis knows them), the relations
whose column list is not fully known ("open"), sequences and types.

It is a look-up aid for the analysis, not the schema model: dict updates on
DDL only, far cheaper than a replay.  A relation it has not seen (created
outside the set, or by dynamic SQL) is simply unknown, and the analysis then
falls back to what one statement can tell.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Container
from typing import Any

from alembic_guard import changes as ch
from alembic_guard.model import QName, SchemaModel, pg_object_name
from alembic_guard.sql.statement import Effect

_NEXTVAL = re.compile(r"nextval\('((?:[^']|'')+)'")

ColumnTypes = dict[str, str | None]
"""Column name → canonical type (``None`` when the analysis cannot tell), in column order."""

# Columns every sequence has (SELECT last_value FROM seq).
SEQUENCE_COLUMNS: ColumnTypes = {"last_value": "bigint", "log_cnt": "bigint", "is_called": "boolean"}

# System columns of every table (ctid, xmin ...): never created by a statement, always there.
SYSTEM_COLUMNS = frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"})


class Known:
    """Relations (with columns), sequences and types left by the statements followed so far."""

    __slots__ = ("_owned", "columns", "constraints", "indexes", "open", "sequences", "types")

    def __init__(self) -> None:
        self.columns: dict[QName, ColumnTypes] = {}
        self.open: set[QName] = set()
        self.sequences: set[QName] = set()
        self.types: set[QName] = set()
        # index and constraint names in use, with their tables: an unnamed key, index or
        # constraint gets the next free name, as PostgreSQL chooses it (a table renamed
        # keeps its key's name, so a new table of the old name gets ``..._pkey1``)
        self.indexes: dict[QName, QName] = {}
        self.constraints: dict[QName, QName] = {}
        self._owned: dict[QName, set[QName]] = {}  # table -> its index and constraint names (a superset)

    @classmethod
    def from_model(cls, model: SchemaModel | None) -> Known:
        """What a database (a live snapshot, a replayed model) already has."""
        from alembic_guard.sql.effects_common import split_qualified

        k = cls()
        if model is None:
            return k
        for q, t in model.tables.items():
            k.columns[q] = {c.name: c.type for c in t.columns}
            for c in t.columns:
                # a serial / identity column's sequence, even when the model holds no sequences
                m = _NEXTVAL.search(c.default) if c.default else None
                if m is not None:
                    seq = split_qualified(m.group(1))
                    k.sequences.add((seq[-2], seq[-1]) if len(seq) > 1 else (q[0], seq[0]))
                elif c.identity:
                    k.sequences.add((q[0], pg_object_name(q[1], c.name, "seq")))
        for q, v in model.views.items():
            k.columns[q] = dict.fromkeys(v.columns)
        k.sequences.update(model.sequences)
        k.types.update(model.enums)
        k.types.update(model.composites)
        for q, ix in model.indexes.items():
            k.indexes[q] = ix.table
            k._owned.setdefault(ix.table, set()).add(q)
        for schema, table, name in model.constraints:
            k.constraints[(schema, name)] = (schema, table)
            k._owned.setdefault((schema, table), set()).add((schema, name))
        return k

    def taken(
        self, schema: str, relation: bool, besides: QName, also: Collection[str] = ()
    ) -> Container[str]:
        """The names an unnamed object of ``schema`` must avoid (``name in taken``): every
        relation's (tables, views, sequences, indexes) and constraint's for an index or a key
        (``ChooseRelationName``), every constraint's for a foreign key or CHECK
        (``ChooseConstraintName``), and ``also`` (the statement's own).  Those of table
        ``besides`` (the one being created or altered) are left out: the analysis cannot always
        tell which of its own names are free (dynamic SQL may have dropped its key), and a
        statement run again names its keys as it did the first time; another table's names are
        the clash that matters (a renamed table keeps its ``..._pkey``)."""
        return _Taken(self, schema, relation, besides, also)

    # -- look-ups ----------------------------------------------------------

    def relation_columns(self, q: QName) -> ColumnTypes | None:
        """The columns of relation ``q`` when all of them are known, else ``None``."""
        if q in self.sequences:
            return SEQUENCE_COLUMNS
        cols = self.columns.get(q)
        if cols is None or q in self.open:
            return None
        return cols

    def is_row_type(self, q: QName) -> bool:
        """A table, view or sequence of that name exists: its row type does too."""
        return q in self.columns or q in self.sequences

    def is_type(self, q: QName) -> bool:
        return q in self.types or q in self.columns or q in self.sequences

    # -- following statements ------------------------------------------------

    def follow(self, eff: Effect) -> None:
        """Take in what one statement (analysed in original order) did."""
        for c in eff.changes:
            handler = _FOLLOW.get(type(c))
            if handler is not None:
                handler(self, c)
        fresh: set[QName] | None = None
        for group, replace in ((eff.creates, True), (eff.ensures, False)):
            for r in group:
                kind = r.kind
                if kind == "relation":
                    q = (r.schema, r.name)
                    if fresh is None:
                        fresh = _set_by_changes(eff)
                    if q not in self.columns or (replace and q not in fresh):
                        self.columns[q] = {}
                        self.open.discard(q)
                    fresh.add(q)
                elif kind == "column":
                    cols = self.columns.get((r.schema, r.parent))  # type: ignore[arg-type]
                    if cols is not None and r.name not in cols:
                        cols[r.name] = None
                elif kind == "sequence":
                    self.sequences.add((r.schema, r.name))
                elif kind == "type":
                    self.types.add((r.schema, r.name))
        for qc in eff.query_columns:
            # a query's columns, with the types the analysis could tell (a view's are in no change)
            self.columns[qc.relation] = dict(qc.columns)
            if qc.complete:
                self.open.discard(qc.relation)
            else:
                self.open.add(qc.relation)

    def _drop(self, c: ch.DropObject) -> None:
        r = c.ref
        q = (r.schema, r.name)
        if r.kind == "relation":
            self.columns.pop(q, None)
            self.open.discard(q)
            self.sequences.discard(q)
            for names in (self.indexes, self.constraints):
                for k in [k for k in self._owned.pop(q, ()) if names.get(k) == q]:
                    del names[k]
        elif r.kind == "index":
            self.indexes.pop(q, None)
        elif r.kind == "constraint":
            owner = self.constraints.pop(q, None)
            if owner is not None and self.indexes.get(q) == owner:
                del self.indexes[q]  # a key's index goes with it
        elif r.kind == "sequence":
            self.sequences.discard(q)
        elif r.kind == "type":
            self.types.discard(q)
        elif r.kind == "column" and r.parent is not None:
            cols = self.columns.get((r.schema, r.parent))
            if cols is not None:
                cols.pop(r.name, None)

    def _rename(self, c: ch.RenameObject) -> None:
        r = c.ref
        if r.kind in ("index", "constraint"):
            # a key and its index share the name: renaming either renames both (PostgreSQL)
            old, new = (r.schema, r.name), (r.schema, c.new_name)
            owner = self.indexes.get(old) if r.kind == "index" else self.constraints.get(old)
            for names in (self.indexes, self.constraints):
                if owner is not None and names.get(old) == owner:
                    names[new] = names.pop(old)
            if owner is not None:
                self._owned.setdefault(owner, set()).add(new)
            return
        if r.kind == "column" and r.parent is not None:
            cols = self.columns.get((r.schema, r.parent))
            if cols is not None and r.name in cols:
                # keep the column's place: SELECT * lists columns in order
                self.columns[(r.schema, r.parent)] = {
                    (c.new_name if k == r.name else k): v for k, v in cols.items()
                }
            return
        self._move((r.schema, r.name), (r.schema, c.new_name), r.kind)

    def _set_schema(self, c: ch.SetSchema) -> None:
        self._move((c.ref.schema, c.ref.name), (c.new_schema, c.ref.name), c.ref.kind)

    def _move(self, old: QName, new: QName, kind: str) -> None:
        if kind in ("relation", "sequence"):
            owned = self._owned.pop(old, set())
            for names in (self.indexes, self.constraints):  # they keep their names, not their table
                for k in owned:
                    if names.get(k) == old:
                        names[k] = new
            if owned:
                self._owned.setdefault(new, set()).update(owned)
            cols = self.columns.pop(old, None)
            if cols is not None:
                self.columns[new] = cols
            if old in self.open:
                self.open.discard(old)
                self.open.add(new)
            if old in self.sequences:
                self.sequences.discard(old)
                self.sequences.add(new)
        elif kind == "type" and old in self.types:
            self.types.discard(old)
            self.types.add(new)

    def _put_table(self, c: ch.PutTable) -> None:
        t = c.table
        cols = self.columns.get(t.qname)
        if cols is not None and c.if_not_exists:
            for col in t.columns:
                cols.setdefault(col.name, col.type)
        else:
            self.columns[t.qname] = {col.name: col.type for col in t.columns}

    def _copy_columns(self, c: ch.CopyColumns) -> None:
        q = (c.schema, c.table)
        have = self.columns.get(q)
        src = self.columns.get(c.source)
        if have is None:
            return
        if src is None or c.source in self.open:
            self.open.add(q)
            return
        new = {k: v for k, v in src.items() if k not in have}
        items = list(have.items())
        # LIKE columns come where the clause stands; inherited and partition columns first
        pos = min(c.position, len(items)) if c.mode == "like" else 0
        self.columns[q] = dict(items[:pos] + list(new.items()) + items[pos:])

    def _put_column(self, c: ch.PutColumn) -> None:
        cols = self.columns.get((c.schema, c.table))
        if cols is not None and not (c.if_not_exists and c.column.name in cols):
            cols[c.column.name] = c.column.type

    def _alter_column(self, c: ch.AlterColumn) -> None:
        cols = self.columns.get((c.schema, c.table))
        if c.type is not None and cols is not None and c.name in cols:
            cols[c.name] = c.type

    def _put_view(self, c: ch.PutView) -> None:
        v = c.view
        self.columns[v.qname] = dict.fromkeys(v.columns)

    def _put_index(self, c: ch.PutIndex) -> None:
        ix = c.index
        self.indexes.setdefault((ix.schema, ix.name), ix.table)
        self._owned.setdefault(ix.table, set()).add((ix.schema, ix.name))

    def _put_constraint(self, c: ch.PutConstraint) -> None:
        con = c.constraint
        if con.name is None:
            return
        self.constraints.setdefault((con.table[0], con.name), con.table)
        self._owned.setdefault(con.table, set()).add((con.table[0], con.name))
        if con.kind in ("primary_key", "unique", "exclude"):
            self.indexes.setdefault((con.table[0], con.name), con.table)  # its index, of its name


class _Taken:
    """``name in taken``: see :meth:`Known.taken` (dictionary look-ups, no scan of the schema)."""

    __slots__ = ("also", "besides", "known", "relation", "schema")

    def __init__(self, known: Known, schema: str, relation: bool, besides: QName, also: Collection[str]):
        self.known, self.schema, self.relation, self.besides, self.also = (
            known,
            schema,
            relation,
            besides,
            also,
        )

    def __contains__(self, name: object) -> bool:
        if name in self.also:
            return True
        q = (self.schema, str(name))
        k = self.known
        if k.constraints.get(q, self.besides) != self.besides:
            return True
        if not self.relation:
            return False
        if k.indexes.get(q, self.besides) != self.besides:
            return True
        return (q in k.columns and q != self.besides) or q in k.sequences


def _set_by_changes(eff: Effect) -> set[QName]:
    """Relations whose columns the statement's own changes gave (a new table or view, a rename)."""
    out: set[QName] = set()
    for c in eff.changes:
        t = type(c)
        if t is ch.PutTable:
            out.add(c.table.qname)
        elif t is ch.PutView:
            out.add(c.view.qname)
        elif t is ch.RenameObject and c.ref.kind == "relation":
            out.add((c.ref.schema, c.new_name))
        elif t is ch.SetSchema and c.ref.kind == "relation":
            out.add((c.new_schema, c.ref.name))
    return out


_FOLLOW: dict[type, Callable[[Known, Any], None]] = {
    ch.DropObject: Known._drop,
    ch.RenameObject: Known._rename,
    ch.SetSchema: Known._set_schema,
    ch.PutTable: Known._put_table,
    ch.CopyColumns: Known._copy_columns,
    ch.PutColumn: Known._put_column,
    ch.AlterColumn: Known._alter_column,
    ch.PutView: Known._put_view,
    ch.PutIndex: Known._put_index,
    ch.PutConstraint: Known._put_constraint,
}
