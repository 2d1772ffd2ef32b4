"""Model changes: what a statement does to a :class:`SchemaModel`, as inert data.

SQL analysis (:mod:`alembic_guard.sql.effects`) turns each statement into a
tuple of these changes (``Effect.changes``); :func:`apply` performs one change
on a model and :func:`replay` performs every change of a sequence of analysed
statements, in order, on a copy of a starting model.  The goal is that
replaying a migration set gives the model a live snapshot of a database built
from the same set gives.

Pure: no connection, no filesystem.  ``apply`` is tolerant by design: a
change whose target is missing (``ALTER TABLE IF EXISTS`` on nothing, a drop
of something already gone) leaves the model unchanged, because deciding
whether that is an error is the planner's and the guards' job, not replay's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from alembic_guard.expression_names import is_plain_name, mentions_name, rename_name
from alembic_guard.model import (
    DEFAULT_SCHEMA,
    Column,
    CompositeType,
    Constraint,
    EnumType,
    Extension,
    Function,
    Index,
    ObjRef,
    QName,
    SchemaModel,
    Sequence,
    Table,
    Trigger,
    View,
    pg_object_name,
)
from alembic_guard.sql.statement import AnalyzedStatement

# --------------------------------------------------------------------------
# The changes
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PutSchema:
    name: str
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class PutTable:
    """Create a table; with ``if_not_exists`` on an existing table, add its missing columns."""

    table: Table
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class CopyColumns:
    """Columns a table takes from another relation (``LIKE``, ``INHERITS``, ``PARTITION OF``).

    ``LIKE`` columns come where the clause stands; inherited and partition
    columns come first, as PostgreSQL puts them.
    """

    schema: str
    table: str
    source: QName
    mode: Literal["like", "inherits", "partition"] = "like"
    # LIKE: PostgreSQL's TableLikeOption bits (INCLUDING DEFAULTS = 8 ...); where the clause stands
    options: int = 0
    position: int = 0


@dataclass(frozen=True, slots=True)
class PutColumn:
    schema: str
    table: str
    column: Column
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class AlterColumn:
    """Change one property of a column; ``None`` means "unchanged"."""

    schema: str
    table: str
    name: str
    type: str | None = None
    nullable: bool | None = None
    default: str | None = None
    drop_default: bool = False
    identity: bool | None = None


@dataclass(frozen=True, slots=True)
class DropObject:
    ref: ObjRef
    cascade: bool = False


@dataclass(frozen=True, slots=True)
class RenameObject:
    ref: ObjRef
    new_name: str


@dataclass(frozen=True, slots=True)
class SetSchema:
    ref: ObjRef
    new_schema: str


@dataclass(frozen=True, slots=True)
class PutIndex:
    index: Index
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class PutConstraint:
    """Add a constraint (always named: analysis applies PostgreSQL's naming rule)."""

    constraint: Constraint
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class ValidateConstraint:
    schema: str
    table: str
    name: str


@dataclass(frozen=True, slots=True)
class AlterConstraint:
    """``ALTER TABLE ... ALTER CONSTRAINT name [NOT] DEFERRABLE``."""

    schema: str
    table: str
    name: str
    deferrable: bool


@dataclass(frozen=True, slots=True)
class PutView:
    view: View
    replace: bool = False


@dataclass(frozen=True, slots=True)
class PutSequence:
    sequence: Sequence
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class PutEnum:
    enum: EnumType


@dataclass(frozen=True, slots=True)
class AddEnumValue:
    schema: str
    name: str
    value: str
    before: str | None = None
    after: str | None = None


@dataclass(frozen=True, slots=True)
class RenameEnumValue:
    schema: str
    name: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class PutComposite:
    composite: CompositeType


@dataclass(frozen=True, slots=True)
class PutExtension:
    extension: Extension
    if_not_exists: bool = False


@dataclass(frozen=True, slots=True)
class PutFunction:
    function: Function
    replace: bool = False


@dataclass(frozen=True, slots=True)
class PutTrigger:
    trigger: Trigger
    replace: bool = False


Change = (
    PutSchema
    | PutTable
    | CopyColumns
    | PutColumn
    | AlterColumn
    | DropObject
    | RenameObject
    | SetSchema
    | PutIndex
    | PutConstraint
    | ValidateConstraint
    | AlterConstraint
    | PutView
    | PutSequence
    | PutEnum
    | AddEnumValue
    | RenameEnumValue
    | PutComposite
    | PutExtension
    | PutFunction
    | PutTrigger
)


# --------------------------------------------------------------------------
# apply
# --------------------------------------------------------------------------


def _put_schema(m: SchemaModel, c: PutSchema) -> None:
    m.schemas.add(c.name)


def _put_table(m: SchemaModel, c: PutTable) -> None:
    t = c.table
    old = m.tables.get(t.qname)
    if old is None:
        m.put_table(t)
    elif c.if_not_exists:
        # the designed "ensures every column" semantics: the guarded form adds what is missing
        have = set(old.column_names())
        extra = tuple(col for col in t.columns if col.name not in have)
        if extra:
            m.tables[t.qname] = dataclasses.replace(old, columns=old.columns + extra)
    else:
        m.put_table(t)


LIKE_CONSTRAINTS, LIKE_DEFAULTS, LIKE_GENERATED, LIKE_IDENTITY, LIKE_INDEXES = 4, 8, 16, 32, 64


def _copy_columns(m: SchemaModel, c: CopyColumns) -> None:
    """LIKE / INHERITS / PARTITION OF: columns, and what PostgreSQL copies or clones with them."""
    t = m.tables.get((c.schema, c.table))
    src = m.tables.get(c.source)
    if t is None or src is None:
        return
    have = set(t.column_names())
    new: list[Column] = []
    for col in src.columns:
        if col.name in have:
            continue
        if c.mode == "like":
            col = dataclasses.replace(
                col,
                default=col.default if c.options & LIKE_DEFAULTS and not col.identity else None,
                identity=col.identity and bool(c.options & LIKE_IDENTITY),
                generated=col.generated if c.options & LIKE_GENERATED else None,
            )
            if col.default is not None and "nextval(" in col.default and not c.options & LIKE_DEFAULTS:
                col = dataclasses.replace(col, default=None)
            if col.identity:
                seq = pg_object_name(c.table, col.name, "seq")
                m.sequences[(c.schema, seq)] = Sequence(c.schema, seq, (c.schema, c.table, col.name))
        new.append(col)
    if c.mode == "like":
        pos = min(c.position, len(t.columns))
        cols = t.columns[:pos] + tuple(new) + t.columns[pos:]
    else:
        cols = tuple(new) + t.columns
    partition_of = c.source if c.mode == "partition" else t.partition_of
    m.tables[t.qname] = dataclasses.replace(t, columns=cols, partition_of=partition_of)
    for con in m.constraints_of(*c.source):
        if (
            c.mode == "partition"
            or (con.kind == "check" and (c.mode == "inherits" or c.options & LIKE_CONSTRAINTS))
            or (
                c.mode == "like"
                and c.options & LIKE_INDEXES
                and con.kind in ("primary_key", "unique", "exclude")
            )
        ):
            _clone_constraint(m, con, (c.schema, c.table))
    if c.mode == "partition" or (c.mode == "like" and c.options & LIKE_INDEXES):
        for ix in m.indexes_of(*c.source):
            _clone_index(m, ix, (c.schema, c.table))


_KEY_KINDS = frozenset({"primary_key", "unique", "exclude"})  # constraints an index of the same name backs


def clone_constraint_name(con: Constraint, table: QName) -> str | None:
    """The name a parent's constraint gets on a partition or copy ``table``: index-backed ones
    (primary key, unique, exclusion) are named after the new table, the others keep theirs."""
    if con.kind == "primary_key":
        return pg_object_name(table[1], None, "pkey")
    if con.kind in ("unique", "exclude"):
        return pg_object_name(table[1], "_".join(con.columns), "key" if con.kind == "unique" else "excl")
    return con.name


def clone_index_name(ix: Index, table: QName) -> str:
    """The name PostgreSQL gives the index a partitioned table's index creates on partition ``table``."""
    addition = "_".join(c if _is_plain_ident(c) else "expr" for c in ix.columns)
    return pg_object_name(table[1], addition, "idx")


def _clone_constraint(m: SchemaModel, con: Constraint, table: QName) -> None:
    """A parent's constraint on a partition or copy: index-backed ones get the new table's name."""
    m.put_constraint(dataclasses.replace(con, name=clone_constraint_name(con, table), table=table))


def _clone_index(m: SchemaModel, ix: Index, table: QName) -> None:
    name = clone_index_name(ix, table)
    m.put_index(dataclasses.replace(ix, schema=table[0], name=name, table=table))


def _is_plain_ident(text: str) -> bool:
    return text.replace("_", "a").isalnum() and not text[:1].isdigit()


def _partitions(m: SchemaModel, table: QName) -> list[QName]:
    t = m.tables.get(table)
    if t is None or t.kind != "partitioned":  # the common case: no scan of every table
        return []
    return [q for q, t in m.tables.items() if t.partition_of == table]


def _put_column(m: SchemaModel, c: PutColumn) -> None:
    t = m.tables.get((c.schema, c.table))
    if t is None:
        return
    if c.if_not_exists and t.column(c.column.name) is not None:
        return
    m.put_column(c.schema, c.table, c.column)


def _alter_column(m: SchemaModel, c: AlterColumn) -> None:
    col = m.column(c.schema, c.table, c.name)
    if col is None:
        return
    changes: dict[str, Any] = {}
    if c.type is not None:
        changes["type"] = c.type
    if c.nullable is not None:
        changes["nullable"] = c.nullable
    if c.drop_default:
        changes["default"] = None
    elif c.default is not None:
        changes["default"] = c.default
    if c.identity is not None:
        changes["identity"] = c.identity
    m.put_column(c.schema, c.table, dataclasses.replace(col, **changes))


def _drop_object(m: SchemaModel, c: DropObject) -> None:
    r = c.ref
    q = (r.schema, r.name)
    k = r.kind
    if k == "relation":
        if q in m.tables:
            for sk, seq in list(m.sequences.items()):
                if seq.owned_by is not None and seq.owned_by[:2] == q:
                    del m.sequences[sk]
        m.views.pop(q, None)
        # its indexes, constraints and triggers go with it, also when the model holds them
        # without the relation (a materialized view's index, a CREATE TABLE AS table's)
        m.drop_table(*q)
    elif k == "column":
        assert r.parent is not None
        m.drop_column(r.schema, r.parent, r.name)
        for sk, seq in list(m.sequences.items()):
            if seq.owned_by == (r.schema, r.parent, r.name):
                del m.sequences[sk]
    elif k == "index":
        m.indexes.pop(q, None)
    elif k == "constraint":
        assert r.parent is not None
        con = m.constraints.pop((r.schema, r.parent, r.name), None)
        if con is not None and con.kind in ("primary_key", "unique", "exclude"):
            # the index behind the constraint (of the constraint's name) goes with it
            ix = m.indexes.get((r.schema, r.name))
            if ix is not None and ix.table == (r.schema, r.parent):
                del m.indexes[(r.schema, r.name)]
    elif k == "sequence":
        m.sequences.pop(q, None)
    elif k == "type":
        m.enums.pop(q, None)
        m.composites.pop(q, None)
    elif k == "extension":
        m.extensions.pop(r.name, None)
    elif k == "function":
        m.functions.pop(q, None)
        if c.cascade:  # the triggers that call it go with it
            for tkey in [key for key, trg in m.triggers.items() if trg.function == q]:
                del m.triggers[tkey]
    elif k == "trigger":
        assert r.parent is not None
        m.triggers.pop((r.schema, r.parent, r.name), None)
    elif k == "schema":
        m.schemas.discard(r.name)
        if c.cascade:
            _drop_schema_contents(m, r.name)


def _retype_columns(m: SchemaModel, schema: str, old: str, new: str) -> None:
    """Columns of a renamed type keep it under its new name (PostgreSQL refers to it by OID)."""
    spellings = {f"{schema}.{old}": f"{schema}.{new}"}
    if schema == DEFAULT_SCHEMA:
        spellings[old] = new  # format_type() leaves a type on the search_path unqualified
    for tq, t in list(m.tables.items()):
        cols = tuple(_retyped(c, spellings) for c in t.columns)
        if cols != t.columns:
            m.tables[tq] = dataclasses.replace(t, columns=cols)


def _retyped(col: Column, spellings: dict[str, str]) -> Column:
    base = col.type.rstrip("[]")
    if base not in spellings:
        return col
    return dataclasses.replace(col, type=spellings[base] + col.type[len(base) :])


def _drop_schema_contents(m: SchemaModel, schema: str) -> None:
    for d in (m.tables, m.views, m.indexes, m.sequences, m.enums, m.composites, m.functions):
        for key in [key for key in d if key[0] == schema]:
            del d[key]
    for d3 in (m.constraints, m.triggers):
        for key3 in [key for key in d3 if key[0] == schema]:
            del d3[key3]


def _rename_in(cols: tuple[str, ...], old: str, new: str) -> tuple[str, ...]:
    return tuple(new if x == old else x for x in cols)


def _rename_expression(text: str | None, old: str, new: str) -> str | None:
    """An index predicate or CHECK with the column ``old`` renamed."""
    return text if text is None else _rename_key(text, old, new)


def _rename_key(text: str, old: str, new: str) -> str:
    """An index key (a column name, or an expression) with the column ``old`` renamed."""
    if is_plain_name(text) or not mentions_name(text, old):
        return text  # a column's own name was renamed (or not) by _rename_in: exactly
    return rename_name(text, old, new)


def _rename_relation(m: SchemaModel, schema: str, old: str, new: str, new_schema: str | None = None) -> None:
    ns = new_schema or schema
    oq, nq = (schema, old), (ns, new)
    if oq in m.views:
        m.views[nq] = dataclasses.replace(m.views.pop(oq), schema=ns, name=new)
        return
    t = m.tables.pop(oq, None)
    if t is None:
        return
    m.tables[nq] = dataclasses.replace(t, schema=ns, name=new)
    for key, ix in list(m.indexes.items()):
        if ix.table == oq:
            # indexes move with their table on SET SCHEMA; RENAME keeps index names
            del m.indexes[key]
            m.indexes[(ns, ix.name)] = dataclasses.replace(ix, schema=ns, table=nq)
    for ckey, con in list(m.constraints.items()):
        if con.table == oq:
            del m.constraints[ckey]
            con = dataclasses.replace(con, table=nq)
            m.constraints[(ns, new, ckey[2])] = con
        if con.ref_table == oq:
            m.constraints[(con.table[0], con.table[1], ckey[2])] = dataclasses.replace(con, ref_table=nq)
    for tkey, trg in list(m.triggers.items()):
        if trg.table == oq:
            del m.triggers[tkey]
            m.triggers[(ns, new, tkey[2])] = dataclasses.replace(trg, table=nq)
    for skey, seq in list(m.sequences.items()):
        if seq.owned_by is not None and seq.owned_by[:2] == oq:
            m.sequences[skey] = dataclasses.replace(seq, owned_by=(ns, new, seq.owned_by[2]))


def _rename_column(m: SchemaModel, schema: str, table: str, old: str, new: str) -> None:
    t = m.tables.get((schema, table))
    if t is None:
        v = m.views.get((schema, table))
        if v is not None:
            m.views[(schema, table)] = dataclasses.replace(v, columns=_rename_in(v.columns, old, new))
        return
    col = t.column(old)
    if col is None and t.column(new) is None:
        return
    if col is not None:
        m.tables[(schema, table)] = dataclasses.replace(
            t, columns=tuple(dataclasses.replace(c, name=new) if c.name == old else c for c in t.columns)
        )
    # (renamed already: a history replayed over a database that moved on; what the replay made
    # with the old name - an index, a constraint - follows the column, as it did in PostgreSQL)
    q = (schema, table)
    for key, ix in list(m.indexes.items()):
        if ix.table == q:
            # an expression key and the predicate name the column too (the catalog shows
            # them with the new name)
            m.indexes[key] = dataclasses.replace(
                ix,
                columns=tuple(_rename_key(x, old, new) for x in _rename_in(ix.columns, old, new)),
                include=_rename_in(ix.include, old, new),
                predicate=_rename_expression(ix.predicate, old, new),
            )
    for ckey, con in list(m.constraints.items()):
        if con.table == q:
            con = dataclasses.replace(
                con,
                columns=_rename_in(con.columns, old, new),
                expression=_rename_expression(con.expression, old, new),
            )
        if con.ref_table == q:
            con = dataclasses.replace(con, ref_columns=_rename_in(con.ref_columns, old, new))
        m.constraints[ckey] = con
    for skey, seq in list(m.sequences.items()):
        if seq.owned_by == (schema, table, old):
            m.sequences[skey] = dataclasses.replace(seq, owned_by=(schema, table, new))


def _rename_object(m: SchemaModel, c: RenameObject) -> None:
    r, new = c.ref, c.new_name
    q = (r.schema, r.name)
    k = r.kind
    if k == "relation":
        _rename_relation(m, r.schema, r.name, new)
    elif k == "column":
        assert r.parent is not None
        _rename_column(m, r.schema, r.parent, r.name, new)
    elif k == "constraint":
        assert r.parent is not None
        con = m.constraints.pop((r.schema, r.parent, r.name), None)
        if con is not None:
            m.constraints[(r.schema, r.parent, new)] = dataclasses.replace(con, name=new)
            ix = m.indexes.pop(q, None) if con.kind in _KEY_KINDS else None
            if ix is not None:  # its index is renamed with it
                m.indexes[(r.schema, new)] = dataclasses.replace(ix, name=new)
    elif k == "index":
        ix = m.indexes.pop(q, None)
        if ix is not None:
            m.indexes[(r.schema, new)] = dataclasses.replace(ix, name=new)
        # the index behind a primary key / unique / exclusion constraint (a live snapshot may
        # list it among the indexes too): renaming it renames the constraint, they share one name
        if ix is None or ix.unique:
            for ckey, kcon in list(m.constraints.items()):
                if ckey[0] == r.schema and ckey[2] == r.name and kcon.kind in _KEY_KINDS:
                    del m.constraints[ckey]
                    m.constraints[(ckey[0], ckey[1], new)] = dataclasses.replace(kcon, name=new)
                    break
    elif k == "sequence":
        seq = m.sequences.pop(q, None)
        if seq is not None:
            m.sequences[(r.schema, new)] = dataclasses.replace(seq, name=new)
    elif k == "type":
        if q in m.enums:
            m.enums[(r.schema, new)] = dataclasses.replace(m.enums.pop(q), name=new)
        if q in m.composites:
            m.composites[(r.schema, new)] = dataclasses.replace(m.composites.pop(q), name=new)
        _retype_columns(m, r.schema, r.name, new)
    elif k == "function":
        fn = m.functions.pop(q, None)
        if fn is not None:
            m.functions[(r.schema, new)] = dataclasses.replace(fn, name=new)
        # a trigger calls the function, whatever its name: it follows the rename
        for tkey, caller in list(m.triggers.items()):
            if caller.function == q:
                m.triggers[tkey] = dataclasses.replace(caller, function=(r.schema, new))
    elif k == "trigger":
        assert r.parent is not None
        trg = m.triggers.pop((r.schema, r.parent, r.name), None)
        if trg is not None:
            m.triggers[(r.schema, r.parent, new)] = dataclasses.replace(trg, name=new)
    elif k == "schema" and r.name in m.schemas:
        m.schemas.discard(r.name)
        m.schemas.add(new)
        dicts: tuple[dict[QName, Any], ...] = (
            m.tables,
            m.views,
            m.indexes,
            m.sequences,
            m.enums,
            m.composites,
            m.functions,
        )
        for d in dicts:
            for key in [key for key in d if key[0] == r.name]:
                d[(new, key[1])] = dataclasses.replace(d.pop(key), schema=new)


def _set_schema(m: SchemaModel, c: SetSchema) -> None:
    r, ns = c.ref, c.new_schema
    q = (r.schema, r.name)
    m.schemas.add(ns)
    if r.kind == "relation":
        _rename_relation(m, r.schema, r.name, r.name, ns)
    elif r.kind == "sequence" and q in m.sequences:
        m.sequences[(ns, r.name)] = dataclasses.replace(m.sequences.pop(q), schema=ns)
    elif r.kind == "type":
        if q in m.enums:
            m.enums[(ns, r.name)] = dataclasses.replace(m.enums.pop(q), schema=ns)
        if q in m.composites:
            m.composites[(ns, r.name)] = dataclasses.replace(m.composites.pop(q), schema=ns)
    elif r.kind == "function" and q in m.functions:
        m.functions[(ns, r.name)] = dataclasses.replace(m.functions.pop(q), schema=ns)


def _put_index(m: SchemaModel, c: PutIndex) -> None:
    if c.if_not_exists and c.index.qname in m.indexes:
        return
    m.put_index(c.index)
    # an index on a partitioned table is built on every partition too
    stack = _partitions(m, c.index.table)
    while stack:
        child = stack.pop()
        _clone_index(m, c.index, child)
        stack.extend(_partitions(m, child))


def _put_constraint(m: SchemaModel, c: PutConstraint) -> None:
    con = c.constraint
    if con.table not in m.tables:
        return
    if c.if_not_exists and con.name is not None and (con.table[0], con.table[1], con.name) in m.constraints:
        return
    m.put_constraint(con)
    for child in _partitions(m, con.table):
        _clone_constraint(m, con, child)
    if con.kind == "primary_key":
        # a primary key makes its columns NOT NULL
        for name in con.columns:
            col = m.column(con.table[0], con.table[1], name)
            if col is not None and col.nullable:
                m.put_column(con.table[0], con.table[1], dataclasses.replace(col, nullable=False))


def _validate_constraint(m: SchemaModel, c: ValidateConstraint) -> None:
    key = (c.schema, c.table, c.name)
    con = m.constraints.get(key)
    if con is not None:
        m.constraints[key] = dataclasses.replace(con, validated=True)


def _alter_constraint(m: SchemaModel, c: AlterConstraint) -> None:
    key = (c.schema, c.table, c.name)
    con = m.constraints.get(key)
    if con is not None:
        m.constraints[key] = dataclasses.replace(con, deferrable=c.deferrable)


def _put_view(m: SchemaModel, c: PutView) -> None:
    m.views[c.view.qname] = c.view


def _put_sequence(m: SchemaModel, c: PutSequence) -> None:
    if c.if_not_exists and c.sequence.qname in m.sequences:
        return
    m.sequences[c.sequence.qname] = c.sequence


def _put_enum(m: SchemaModel, c: PutEnum) -> None:
    m.enums[c.enum.qname] = c.enum


def _add_enum_value(m: SchemaModel, c: AddEnumValue) -> None:
    e = m.enums.get((c.schema, c.name))
    if e is None or c.value in e.values:
        return
    vals = list(e.values)
    if c.before is not None and c.before in vals:
        vals.insert(vals.index(c.before), c.value)
    elif c.after is not None and c.after in vals:
        vals.insert(vals.index(c.after) + 1, c.value)
    else:
        vals.append(c.value)
    m.enums[e.qname] = dataclasses.replace(e, values=tuple(vals))


def _rename_enum_value(m: SchemaModel, c: RenameEnumValue) -> None:
    e = m.enums.get((c.schema, c.name))
    if e is not None:
        m.enums[e.qname] = dataclasses.replace(e, values=_rename_in(e.values, c.old, c.new))


def _put_composite(m: SchemaModel, c: PutComposite) -> None:
    m.composites[c.composite.qname] = c.composite


def _put_extension(m: SchemaModel, c: PutExtension) -> None:
    if c.if_not_exists and c.extension.name in m.extensions:
        return
    m.extensions[c.extension.name] = c.extension


def _put_function(m: SchemaModel, c: PutFunction) -> None:
    m.schemas.add(c.function.schema)
    have = m.functions.get(c.function.qname)
    # overloads share one key; like the live snapshot, keep the first by argument list
    if have is None or have.arguments == c.function.arguments or c.function.arguments < have.arguments:
        m.functions[c.function.qname] = c.function


def _put_trigger(m: SchemaModel, c: PutTrigger) -> None:
    t = c.trigger
    m.triggers[(t.table[0], t.table[1], t.name)] = t


_APPLY: dict[type, Callable[[SchemaModel, Any], None]] = {
    PutSchema: _put_schema,
    PutTable: _put_table,
    CopyColumns: _copy_columns,
    PutColumn: _put_column,
    AlterColumn: _alter_column,
    DropObject: _drop_object,
    RenameObject: _rename_object,
    SetSchema: _set_schema,
    PutIndex: _put_index,
    PutConstraint: _put_constraint,
    ValidateConstraint: _validate_constraint,
    AlterConstraint: _alter_constraint,
    PutView: _put_view,
    PutSequence: _put_sequence,
    PutEnum: _put_enum,
    AddEnumValue: _add_enum_value,
    RenameEnumValue: _rename_enum_value,
    PutComposite: _put_composite,
    PutExtension: _put_extension,
    PutFunction: _put_function,
    PutTrigger: _put_trigger,
}


def apply(model: SchemaModel, change: Change) -> None:
    """Perform one change on ``model`` in place (tolerant of missing targets)."""
    _APPLY[type(change)](model, change)


def replay(analyzed: Iterable[AnalyzedStatement], start: SchemaModel | None = None) -> SchemaModel:
    """A copy of ``start`` (or an empty model) with every statement's changes applied in order."""
    model = start.copy() if start is not None else SchemaModel()
    for a in analyzed:
        for change in a.effect.changes:
            apply(model, change)
    return model
