"""The one schema model every part of alembic_guard speaks.

SQL analysis, the live snapshot, replay of revisions and the guarded
operations all produce or consume a :class:`SchemaModel`.  The facts inside
it are frozen dataclasses; the model itself is a small mutable container of
dictionaries keyed by qualified, normalized names, because replay and the
guarded operations update it one effect at a time and copying thousands of
tables per operation would make a 2,000-table run quadratic.

Pure: no connection, no filesystem.

Identifiers are stored the way PostgreSQL stores them: unquoted names folded
to lower case by the producer (see :func:`normalize_ident`), quoted names kept
exactly.  Every relation-level key is ``(schema, name)``.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from typing import Literal

from alembic_guard.expression_names import is_plain_name, mentions_name

DEFAULT_SCHEMA = "public"

# The tables alembic_guard and Alembic keep in a migrated database: never the application's
# schema, so drift, snapshots, autogenerate and reviews leave them out.
LEDGER_TABLE = "alembic_guard_log"
LOCK_TABLE = "alembic_guard_lock"
BOOKKEEPING_TABLES = ("alembic_version", LEDGER_TABLE, LOCK_TABLE)

QName = tuple[str, str]
"""``(schema, name)`` of a schema-level object (table, view, index, type...)."""

ObjKind = Literal[
    "schema",
    "relation",  # a table, view, materialized view or foreign table: one namespace
    "column",
    "index",
    "constraint",
    "sequence",
    "type",
    "extension",
    "function",
    "trigger",
]


def normalize_ident(name: str, quoted: bool = False) -> str:
    """Fold an identifier the way PostgreSQL does: unquoted → lower case."""
    return name if quoted else name.lower()


def qualify(name: str, schema: str | None = None) -> QName:
    """``(schema or public, name)``."""
    return (schema or DEFAULT_SCHEMA, name)


def format_qname(q: QName) -> str:
    """Human form: ``tasks`` for public objects, ``app.tasks`` otherwise."""
    schema, name = q
    return name if schema == DEFAULT_SCHEMA else f"{schema}.{name}"


# --------------------------------------------------------------------------
# References: what a statement creates, ensures, requires, drops or alters.
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class ObjRef:
    """A reference to one schema object, by kind and qualified name.

    ``parent`` is the owning relation's name for columns, constraints and
    triggers (same schema as the object), else ``None``.  Schemas and
    extensions use ``schema=""``.
    """

    kind: ObjKind
    schema: str
    name: str
    parent: str | None = None

    @staticmethod
    def relation(schema: str, name: str) -> ObjRef:
        return ObjRef("relation", schema, name)

    @staticmethod
    def column(schema: str, table: str, column: str) -> ObjRef:
        return ObjRef("column", schema, column, table)

    @property
    def table(self) -> QName | None:
        """The owning relation of a column / constraint / trigger."""
        return (self.schema, self.parent) if self.parent is not None else None

    def describe(self) -> str:
        """``column tasks.project_id``, ``relation app.users``, ``extension pgcrypto``."""
        if self.kind in ("schema", "extension"):
            return f"{self.kind} {self.name}"
        prefix = "" if self.schema == DEFAULT_SCHEMA else f"{self.schema}."
        if self.parent is not None:
            return f"{self.kind} {prefix}{self.parent}.{self.name}"
        return f"{self.kind} {prefix}{self.name}"

    def __str__(self) -> str:
        return self.describe()


# --------------------------------------------------------------------------
# Type names
# --------------------------------------------------------------------------

_TYPE_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "integer": "integer",
    "serial": "integer",
    "serial4": "integer",
    "int8": "bigint",
    "bigint": "bigint",
    "bigserial": "bigint",
    "serial8": "bigint",
    "int2": "smallint",
    "smallint": "smallint",
    "smallserial": "smallint",
    "serial2": "smallint",
    "bool": "boolean",
    "boolean": "boolean",
    "float8": "double precision",
    "double precision": "double precision",
    "float": "double precision",
    "float4": "real",
    "real": "real",
    "varchar": "character varying",
    "character varying": "character varying",
    "char": "character",
    "bpchar": "character",
    "character": "character",
    "decimal": "numeric",
    "numeric": "numeric",
    "timestamptz": "timestamp with time zone",
    "timestamp with time zone": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "timestamp without time zone": "timestamp without time zone",
    "timetz": "time with time zone",
    "time with time zone": "time with time zone",
    "time": "time without time zone",
    "time without time zone": "time without time zone",
    "varbit": "bit varying",
    "bit varying": "bit varying",
}

_TYPE_RE = re.compile(
    r"^(?P<base>.*?)\s*(?:\((?P<mods>[^)]*)\))?\s*(?P<tail>with(?:out)? time zone)?\s*(?P<arr>(\[\d*\])*)$",
    re.IGNORECASE,
)


def canonical_type(spec: str) -> str:
    """Canonical spelling of a column type, as ``format_type()`` prints it.

    ``varchar(255)`` → ``character varying(255)``, ``int4`` → ``integer``,
    ``timestamptz`` → ``timestamp with time zone``, ``int[]`` → ``integer[]``,
    ``pg_catalog.int8`` → ``bigint``.  Unknown (user) types keep their name,
    lower-cased unless quoted, with a ``public.`` qualifier removed, so that a
    type written in a migration and the same type read from ``pg_catalog``
    compare equal.
    """
    s = " ".join(spec.strip().split())
    m = _TYPE_RE.match(s)
    if not m:
        return s
    base = m.group("base").strip()
    mods = m.group("mods")
    tail = (m.group("tail") or "").lower()
    # format_type() prints one [] whatever the declared dimensions
    arr = "[]" if "[" in (m.group("arr") or "") else ""
    if base.startswith('"') and base.endswith('"'):
        inner = base[1:-1]
        # format_type() quotes only names that need it
        base = inner if re.fullmatch(r"[a-z_][a-z0-9_$]*", inner) else base
    else:
        base = base.lower()
    for prefix in ("pg_catalog.", "public."):
        if base.startswith(prefix):
            base = base[len(prefix) :]
    if tail:
        # "timestamp(3) with time zone" arrives as base="timestamp", tail
        base = f"{base} {tail}"
    base = _TYPE_ALIASES.get(base, base)
    if mods is not None:
        mods = ",".join(p.strip() for p in mods.split(","))
        if base == "numeric" and "," not in mods:
            mods += ",0"  # numeric(5) is numeric(5,0)
        if base.endswith(" with time zone") or base.endswith(" without time zone"):
            head, _, zone = base.partition(" with")
            return f"{head}({mods}) with{zone}{arr}"
        return f"{base}({mods}){arr}"
    return f"{base}{arr}"


SERIAL_TYPES = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"})


# --------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # canonical_type() spelling
    nullable: bool = True
    default: str | None = None  # SQL expression text, None when there is none
    identity: bool = False  # GENERATED ... AS IDENTITY (or serial's sequence default)
    generated: str | None = None  # GENERATED ALWAYS AS (expr) STORED


ConstraintKind = Literal["primary_key", "foreign_key", "unique", "check", "exclude"]


@dataclass(frozen=True, slots=True)
class Constraint:
    name: str | None  # None when the SQL left it to PostgreSQL to name
    table: QName
    kind: ConstraintKind
    columns: tuple[str, ...] = ()
    ref_table: QName | None = None  # foreign keys
    ref_columns: tuple[str, ...] = ()
    expression: str | None = None  # CHECK expression text
    validated: bool = True  # False for NOT VALID
    on_delete: str | None = None  # "cascade", "set null", ... for foreign keys
    on_update: str | None = None
    deferrable: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...] = ()
    kind: Literal["table", "partitioned", "foreign", "unlogged"] = "table"
    # the partitioned table this one is a partition of (replay cascades indexes and
    # constraints added to the parent); not compared, so a snapshot may leave it unset
    partition_of: QName | None = field(default=None, compare=False)

    @property
    def qname(self) -> QName:
        return (self.schema, self.name)

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True, slots=True)
class Index:
    schema: str
    name: str
    table: QName
    columns: tuple[str, ...]  # column names, or expression text for expression keys
    unique: bool = False
    predicate: str | None = None  # partial index WHERE text
    include: tuple[str, ...] = ()
    method: str = "btree"
    valid: bool = True  # False for an INVALID index left by a failed concurrent build

    @property
    def qname(self) -> QName:
        return (self.schema, self.name)


@dataclass(frozen=True, slots=True)
class View:
    schema: str
    name: str
    definition: str | None = None
    materialized: bool = False
    columns: tuple[str, ...] = ()

    @property
    def qname(self) -> QName:
        return (self.schema, self.name)


@dataclass(frozen=True, slots=True)
class Sequence:
    schema: str
    name: str
    owned_by: tuple[str, str, str] | None = None  # (schema, table, column)

    @property
    def qname(self) -> QName:
        return (self.schema, self.name)


@dataclass(frozen=True, slots=True)
class EnumType:
    schema: str
    name: str
    values: tuple[str, ...]

    @property
    def qname(self) -> QName:
        return (self.schema, self.name)


@dataclass(frozen=True, slots=True)
class CompositeType:
    schema: str
    name: str
    attributes: tuple[Column, ...] = ()

    @property
    def qname(self) -> QName:
        return (self.schema, self.name)


@dataclass(frozen=True, slots=True)
class Extension:
    name: str
    schema: str = DEFAULT_SCHEMA
    version: str | None = None


@dataclass(frozen=True, slots=True)
class Function:
    schema: str
    name: str
    kind: Literal["function", "procedure", "aggregate"] = "function"
    arguments: str = ""  # identity argument types, e.g. "integer, text"
    returns: str | None = None
    language: str | None = None

    @property
    def qname(self) -> QName:
        return (self.schema, self.name)


@dataclass(frozen=True, slots=True)
class Trigger:
    name: str
    table: QName
    function: QName | None = None
    timing: str | None = None  # "before", "after", "instead of"
    events: tuple[str, ...] = ()  # "insert", "update", "delete", "truncate"


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------


@dataclass(slots=True)
class SchemaModel:
    """What exists in a database (or what a set of statements leaves behind).

    Mutable container of frozen facts.  Use :meth:`copy` before handing a
    model to code that will apply effects you do not want to keep.
    """

    schemas: set[str] = field(default_factory=lambda: {DEFAULT_SCHEMA})
    tables: dict[QName, Table] = field(default_factory=dict)
    views: dict[QName, View] = field(default_factory=dict)
    indexes: dict[QName, Index] = field(default_factory=dict)
    # keyed by (schema, table, constraint name)
    constraints: dict[tuple[str, str, str], Constraint] = field(default_factory=dict)
    sequences: dict[QName, Sequence] = field(default_factory=dict)
    enums: dict[QName, EnumType] = field(default_factory=dict)
    composites: dict[QName, CompositeType] = field(default_factory=dict)
    extensions: dict[str, Extension] = field(default_factory=dict)
    # keyed by (schema, name); overloads share one key (the planner only
    # needs "a function of this name exists")
    functions: dict[QName, Function] = field(default_factory=dict)
    # keyed by (schema, table, trigger name)
    triggers: dict[tuple[str, str, str], Trigger] = field(default_factory=dict)

    # -- copying ---------------------------------------------------------

    def copy(self) -> SchemaModel:
        """Shallow copy of the containers; facts are immutable and shared."""
        return SchemaModel(
            schemas=set(self.schemas),
            tables=dict(self.tables),
            views=dict(self.views),
            indexes=dict(self.indexes),
            constraints=dict(self.constraints),
            sequences=dict(self.sequences),
            enums=dict(self.enums),
            composites=dict(self.composites),
            extensions=dict(self.extensions),
            functions=dict(self.functions),
            triggers=dict(self.triggers),
        )

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, object]) -> SchemaModel:
        return copy.copy(self)

    # -- look-ups ----------------------------------------------------------

    def table(self, schema: str, name: str) -> Table | None:
        return self.tables.get((schema, name))

    def relation_exists(self, schema: str, name: str) -> bool:
        """A table, view or materialized view of that name exists."""
        q = (schema, name)
        return q in self.tables or q in self.views

    def column(self, schema: str, table: str, column: str) -> Column | None:
        t = self.tables.get((schema, table))
        return t.column(column) if t is not None else None

    def relation_columns(self, schema: str, name: str) -> tuple[str, ...] | None:
        """Column names of a table or view, ``None`` when there is no such relation."""
        t = self.tables.get((schema, name))
        if t is not None:
            return t.column_names()
        v = self.views.get((schema, name))
        if v is not None:
            return v.columns
        return None

    def constraints_of(self, schema: str, table: str) -> list[Constraint]:
        return [c for (s, t, _), c in self.constraints.items() if s == schema and t == table]

    def indexes_of(self, schema: str, table: str) -> list[Index]:
        return [i for i in self.indexes.values() if i.table == (schema, table)]

    def has(self, ref: ObjRef) -> bool:
        """Does the object ``ref`` names exist in this model?"""
        k = ref.kind
        if k == "schema":
            return ref.name in self.schemas
        if k == "relation":
            # a sequence is a relation too: SELECT last_value FROM seq reads it like a table
            return self.relation_exists(ref.schema, ref.name) or (ref.schema, ref.name) in self.sequences
        if k == "column":
            assert ref.parent is not None
            cols = self.relation_columns(ref.schema, ref.parent)
            return cols is not None and ref.name in cols
        if k == "index":
            if (ref.schema, ref.name) in self.indexes:
                return True
            # the index behind a primary key / unique / exclusion constraint shares its name
            return any(
                key[0] == ref.schema and key[2] == ref.name and con.kind in _INDEX_BACKED
                for key, con in self.constraints.items()
            )
        if k == "constraint":
            assert ref.parent is not None
            return (ref.schema, ref.parent, ref.name) in self.constraints
        if k == "sequence":
            return (ref.schema, ref.name) in self.sequences
        if k == "type":
            q = (ref.schema, ref.name)
            # a table's row type is a type too
            return q in self.enums or q in self.composites or q in self.tables
        if k == "extension":
            return ref.name in self.extensions
        if k == "function":
            return (ref.schema, ref.name) in self.functions
        if k == "trigger":
            assert ref.parent is not None
            return (ref.schema, ref.parent, ref.name) in self.triggers
        raise ValueError(f"unknown object kind {k!r}")

    def refs(self) -> Iterator[ObjRef]:
        """Every object in the model as an :class:`ObjRef` (deterministic order)."""
        for s in sorted(self.schemas):
            yield ObjRef("schema", "", s)
        for e in sorted(self.extensions):
            yield ObjRef("extension", "", e)
        for (s, n), tbl in sorted(self.tables.items()):
            yield ObjRef("relation", s, n)
            for col in tbl.columns:
                yield ObjRef("column", s, col.name, n)
        for s, n in sorted(self.views):
            yield ObjRef("relation", s, n)
            for colname in self.views[(s, n)].columns:
                yield ObjRef("column", s, colname, n)
        for s, n in sorted(self.indexes):
            yield ObjRef("index", s, n)
        for s, owner, n in sorted(self.constraints):
            yield ObjRef("constraint", s, n, owner)
        for s, n in sorted(self.sequences):
            yield ObjRef("sequence", s, n)
        for s, n in sorted(set(self.enums) | set(self.composites)):
            yield ObjRef("type", s, n)
        for s, n in sorted(self.functions):
            yield ObjRef("function", s, n)
        for s, owner, n in sorted(self.triggers):
            yield ObjRef("trigger", s, n, owner)

    # -- updates (used by replay and the guarded operations) -----------------

    def put_table(self, table: Table) -> None:
        self.schemas.add(table.schema)
        self.tables[table.qname] = table

    def put_column(self, schema: str, table: str, column: Column) -> None:
        """Add or replace one column of an existing table."""
        t = self.tables[(schema, table)]
        cols = [c for c in t.columns if c.name != column.name]
        existing = t.column(column.name)
        if existing is not None:
            i = t.columns.index(existing)
            cols.insert(i, column)
        else:
            cols.append(column)
        self.tables[(schema, table)] = dataclasses.replace(t, columns=tuple(cols))

    def drop_column(self, schema: str, table: str, column: str) -> None:
        t = self.tables.get((schema, table))
        if t is None:
            return
        self.tables[(schema, table)] = dataclasses.replace(
            t, columns=tuple(c for c in t.columns if c.name != column)
        )
        # PostgreSQL drops indexes and constraints that used the column: as a key, in a key's
        # expression, in INCLUDE, in an index's predicate, in a CHECK
        for ikey, ix in list(self.indexes.items()):
            # a key or INCLUDE entry is the column's own name as written ("A" is not a)
            if ix.table == (schema, table) and (
                column in ix.columns
                or column in ix.include
                or any(
                    mentions_name(part, column)
                    for part in (*(k for k in ix.columns if not is_plain_name(k)), ix.predicate)
                )
            ):
                del self.indexes[ikey]
        for ckey, con in list(self.constraints.items()):
            if con.table == (schema, table) and (
                column in con.columns or mentions_name(con.expression, column)
            ):
                del self.constraints[ckey]

    def put_constraint(self, con: Constraint) -> None:
        name = con.name or _default_constraint_name(con)
        self.constraints[(con.table[0], con.table[1], name)] = dataclasses.replace(con, name=name)

    def put_index(self, index: Index) -> None:
        self.indexes[index.qname] = index

    def drop_table(self, schema: str, name: str) -> None:
        self.tables.pop((schema, name), None)
        for ikey in [k for k, i in self.indexes.items() if i.table == (schema, name)]:
            del self.indexes[ikey]
        for ckey in [k for k in self.constraints if k[0] == schema and k[1] == name]:
            del self.constraints[ckey]
        for tkey in [k for k in self.triggers if k[0] == schema and k[1] == name]:
            del self.triggers[tkey]

    def merge(self, other: SchemaModel) -> None:
        """Add every fact of ``other`` (its facts win on a key clash)."""
        self.schemas |= other.schemas
        self.tables.update(other.tables)
        self.views.update(other.views)
        self.indexes.update(other.indexes)
        self.constraints.update(other.constraints)
        self.sequences.update(other.sequences)
        self.enums.update(other.enums)
        self.composites.update(other.composites)
        self.extensions.update(other.extensions)
        self.functions.update(other.functions)
        self.triggers.update(other.triggers)

    def is_empty(self) -> bool:
        return not any(
            (
                self.tables,
                self.views,
                self.indexes,
                self.constraints,
                self.sequences,
                self.enums,
                self.composites,
                self.extensions,
                self.functions,
                self.triggers,
            )
        )


_INDEX_BACKED = frozenset({"primary_key", "unique", "exclude"})


def _default_constraint_name(con: Constraint) -> str:
    """The name PostgreSQL would choose for an unnamed constraint (``ChooseConstraintName``)."""
    table = con.table[1]
    if con.kind == "primary_key":
        return pg_object_name(table, None, "pkey")
    suffix = {"foreign_key": "fkey", "unique": "key", "check": "check", "exclude": "excl"}[con.kind]
    return pg_object_name(table, "_".join(con.columns) or None, suffix)


NAMEDATALEN = 64


def choose_name(name1: str, name2: str | None, label: str, taken: Container[str]) -> str:
    """The name PostgreSQL's ``ChooseRelationName`` / ``ChooseConstraintName`` picks: ``label``,
    then ``label1``, ``label2`` ... until the name is free, each try shortened anew to 63 bytes
    (so ``..._key1`` is not ``..._key`` with a digit appended past the limit)."""
    name = pg_object_name(name1, name2, label)
    n = 0
    while name in taken:
        n += 1
        name = pg_object_name(name1, name2, f"{label}{n}")
    return name


def pg_object_name(name1: str, name2: str | None, label: str | None) -> str:
    """The name PostgreSQL's ``makeObjectName`` builds: ``name1_name2_label`` ≤ 63 bytes.

    When too long, the longer of ``name1`` / ``name2`` is shortened one byte
    at a time, exactly as PostgreSQL does, so implicit index, constraint and
    sequence names match the catalog.  A clash is :func:`choose_name`'s.
    """
    b1 = name1.encode()
    b2 = name2.encode() if name2 is not None else b""
    overhead = (len(label.encode()) + 1 if label else 0) + (1 if name2 is not None else 0)
    avail = NAMEDATALEN - 1 - overhead
    n1, n2 = len(b1), len(b2)
    while n1 + n2 > avail:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    # never cut a multibyte character in half
    s1 = b1[:n1].decode(errors="ignore")
    out = s1
    if name2 is not None:
        out += "_" + b2[:n2].decode(errors="ignore")
    if label:
        out += "_" + label
    return out
