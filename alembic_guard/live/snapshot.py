"""Read a live PostgreSQL schema into the shared :class:`~alembic_guard.model.SchemaModel`.

Primary keys, unique, foreign-key and check constraints come from the
SQLAlchemy Inspector's batched ``get_multi_*`` methods (one round trip each
per schema, however many tables there are), overlaid with the ``pg_catalog``
facts the Inspector misses or blurs (:mod:`alembic_guard.live.catalog`).
Columns and indexes come from one catalog query each: measured on 2,000
tables, ``get_multi_columns`` and ``get_multi_indexes`` were the slowest calls
and still needed the catalog for exact type text, raw defaults and the
indexes behind primary keys, and replacing them made the snapshot faster than
``pg_dump --schema-only``.  Every other object kind comes from ``pg_catalog``
alone.  See ``docs/snapshot.md``.

A ``tables=`` read (what :func:`refresh` does before each revision of a
guarded run) is one catalog query instead: the Inspector's calls are round
trips that only pay off across many tables.

The edge of the library: this module opens transactions and reads the
catalog.  It never writes, and it takes no lock beyond the ``AccessShareLock``
every catalog read takes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.engine.reflection import Inspector, ObjectKind
from sqlalchemy.util import strip_outer_parens

from alembic_guard.errors import ConnectionFailed, UsageError
from alembic_guard.live import catalog
from alembic_guard.live.catalog import RelationRow
from alembic_guard.model import (
    BOOKKEEPING_TABLES,
    Column,
    CompositeType,
    Constraint,
    EnumType,
    Extension,
    Function,
    Index,
    QName,
    SchemaModel,
    Table,
    Trigger,
    View,
    canonical_type,
)
from alembic_guard.model import Sequence as SequenceFact
from alembic_guard.redact import error_line, mask_url

__all__ = ["BOOKKEEPING_TABLES", "SnapshotError", "refresh", "snapshot"]

# Alembic's version table, the ledger and the lease lock's table (behind a pooler)
"""Alembic's and alembic_guard's own tables; pass them as ``exclude=`` to leave them out."""

_TABLE_KINDS = {"r": "table", "p": "partitioned", "f": "foreign"}


class SnapshotError(UsageError):
    """The schema could not be read: a missing privilege, or the schema changed mid-read."""


def snapshot(
    connection: Connection,
    schemas: Sequence[str] | None = None,
    *,
    tables: Iterable[QName] | None = None,
    exclude: Iterable[str] = (),
) -> SchemaModel:
    """The schema of the database behind ``connection``, as a :class:`SchemaModel`.

    ``schemas``: the schemas to read (default: every non-system schema).
    ``tables``: read only these ``(schema, name)`` relations — their table or
    view, columns, indexes, constraints and triggers, nothing else; names
    that do not exist are simply absent from the result.  ``exclude``: table
    names (in any schema) to leave out, e.g. :data:`BOOKKEEPING_TABLES`.

    Read-only.  Runs in the caller's transaction when one is open, else in its
    own short ``REPEATABLE READ READ ONLY`` transaction, so every query sees
    one consistent catalog.  A fresh Inspector per call: a reused one caches
    table lists and goes stale after DDL.

    Raises :class:`ConnectionFailed` (connection lost) or :class:`SnapshotError`
    (missing privilege, inconsistent read); both are one line, URL masked.
    """
    with _read_transaction(connection):
        return _Reader(connection, schemas, tables, frozenset(exclude)).read()


def refresh(model: SchemaModel, connection: Connection, tables: Iterable[QName]) -> None:
    """Replace, in place, what ``model`` knows about ``tables`` by what the database has now.

    Each named relation's table or view, columns, indexes, constraints and
    triggers are dropped from ``model`` and read again; a relation that no
    longer exists is simply removed.  Everything else in ``model`` is kept.
    Read-only on the database (see :func:`snapshot`): one round trip, plus a
    ``PREPARE`` the first time on a database session.
    """
    wanted = sorted(set(tables))
    with _read_transaction(connection):
        # the runtime refreshes on one connection before every revision: prepared once per session
        fresh = _Reader(connection, None, wanted, frozenset(), prepared=True).read()
    # what SchemaModel.drop_table does, in one pass over the model for all of them:
    # once per revision on a model that grows with the run, so a scan per table adds up
    gone = set(wanted)
    for q in wanted:
        model.tables.pop(q, None)
        model.views.pop(q, None)
    for ikey in [k for k, ix in model.indexes.items() if ix.table in gone]:
        del model.indexes[ikey]
    for ckey in [k for k in model.constraints if k[:2] in gone]:
        del model.constraints[ckey]
    for tkey in [k for k in model.triggers if k[:2] in gone]:
        del model.triggers[tkey]
    model.merge(fresh)


# -- transaction and errors ----------------------------------------------------


def _where(connection: Connection) -> str:
    """The connection's URL with its secrets masked."""
    return mask_url(connection.engine.url)


@contextmanager
def _read_transaction(connection: Connection) -> Iterator[None]:
    """Use the caller's transaction, or open a short REPEATABLE READ READ ONLY one."""
    try:
        if connection.in_transaction():
            yield
            return
        with connection.begin():
            # must be the first statement of the transaction; harmless (a warning)
            # on a connection the caller put in autocommit mode
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    except sa.exc.DBAPIError as exc:
        first = error_line(exc, known=connection.engine.url)
        where = _where(connection)
        # SQLAlchemy marks a DBAPI error as a disconnect (and invalidates the
        # connection) when the server or network went away; anything else, a
        # statement timeout included, is an error of the read itself
        if exc.connection_invalidated:
            raise ConnectionFailed(
                f"lost the connection to {where} while reading its schema: {first}",
                hint="check that the server is up and reachable, then run the command again",
            ) from None
        # only a missing privilege is the role's fault; any other error is ours or the server's
        from alembic_guard.runtime.runner.results import sqlstate_of  # either driver's SQLSTATE

        denied = sqlstate_of(exc) == "42501"
        raise SnapshotError(
            f"cannot read the schema of {where}: {first}",
            hint="connect as a role that may read pg_catalog (the table owner or a superuser)"
            if denied
            else "run the command again with --raiseerr and report it if it persists",
        ) from None
    except sa.exc.ResourceClosedError as exc:
        raise ConnectionFailed(
            f"cannot read the schema of {_where(connection)}: the connection is closed ({exc})",
            hint="pass an open connection",
        ) from None


# -- reading -------------------------------------------------------------------


class _Reader:
    """One snapshot: the catalog queries, the Inspector calls, and the assembly."""

    def __init__(
        self,
        conn: Connection,
        schemas: Sequence[str] | None,
        tables: Iterable[QName] | None,
        exclude: frozenset[str],
        *,
        prepared: bool = False,
    ) -> None:
        self.conn = conn
        self.prepared = prepared
        self.wanted_schemas = schemas
        self.wanted_tables = None if tables is None else sorted(set(tables))
        self.exclude = exclude
        self.model = SchemaModel(schemas=set())

    def read(self) -> SchemaModel:
        if self.wanted_tables is not None:
            return self._read_named(self.wanted_tables)
        conn, model = self.conn, self.model
        schema_names = catalog.schemas(conn, self.wanted_schemas)
        model.schemas.update(schema_names)
        relations = catalog.relations_in(conn, schema_names)
        relations = [r for r in relations if not (r.relkind in _TABLE_KINDS and r.name in self.exclude)]
        by_oid = {r.oid: r for r in relations}
        oids = list(by_oid)

        cat_columns: dict[int, list[Column]] = defaultdict(list)
        for relid, *attribute in catalog.columns(conn, oids):
            cat_columns[relid].append(_column(*attribute))
        table_rels = [r for r in relations if r.relkind in _TABLE_KINDS]
        indexed = [r.oid for r in relations if r.relkind in _TABLE_KINDS or r.relkind == "m"]
        for row in catalog.indexes(conn, indexed):
            rel = by_oid[row["relid"]]
            model.indexes[(rel.schema, row["name"])] = _index(rel, row)
        self._tables(table_rels, cat_columns, catalog.constraints(conn, [r.oid for r in table_rels]))
        for r in relations:
            if r.relkind in ("v", "m"):
                model.views[(r.schema, r.name)] = View(
                    r.schema,
                    r.name,
                    definition=r.definition,
                    materialized=r.relkind == "m",
                    columns=tuple(c.name for c in cat_columns[r.oid]),
                )
            elif r.relkind == "c":
                model.composites[(r.schema, r.name)] = CompositeType(
                    r.schema, r.name, attributes=tuple(cat_columns[r.oid])
                )
        for row in catalog.triggers(conn, oids):
            rel = by_oid[row["relid"]]
            model.triggers[(rel.schema, rel.name, row["name"])] = Trigger(
                row["name"],
                (rel.schema, rel.name),
                function=(row["fschema"], row["fname"]),
                timing=catalog.trigger_timing(row["tgtype"]),
                events=catalog.trigger_events(row["tgtype"]),
            )
        self._schema_objects(schema_names)
        return model

    # -- a few named relations: one catalog query ------------------------------

    def _read_named(self, wanted: list[QName]) -> SchemaModel:
        """The ``tables=`` read: :func:`catalog.relations_detailed`, one round trip.

        Builds the same facts as the whole-schema path (a test compares the
        two on every object kind); only the source of PK / FK / UNIQUE / CHECK
        differs: ``pg_constraint`` here, the Inspector there.
        """
        model = self.model
        for det in catalog.relations_detailed(self.conn, wanted, prepared=self.prepared):
            r = det.relation
            if self.wanted_schemas is not None and r.schema not in self.wanted_schemas:
                continue
            if r.relkind in _TABLE_KINDS and r.name in self.exclude:
                continue
            model.schemas.add(r.schema)
            q = (r.schema, r.name)
            columns = tuple(_column(*c) for c in det.columns or ())
            if r.relkind in ("v", "m"):
                model.views[q] = View(
                    r.schema,
                    r.name,
                    definition=r.definition,
                    materialized=r.relkind == "m",
                    columns=tuple(c.name for c in columns),
                )
            else:
                kind = "unlogged" if r.persistence == "u" else _TABLE_KINDS[r.relkind]
                model.tables[q] = Table(r.schema, r.name, columns, kind)  # type: ignore[arg-type]
            for name, unique, valid, method, predicate, nkeys, elements in det.indexes or ():
                model.indexes[(r.schema, name)] = Index(
                    r.schema,
                    name,
                    q,
                    columns=tuple(elements[:nkeys]),
                    unique=bool(unique),
                    predicate=predicate,
                    include=tuple(elements[nkeys:]),
                    method=method,
                    valid=bool(valid),
                )
            for row in det.constraints or ():
                con = _constraint_from_catalog(q, *row)
                if con is not None:
                    model.constraints[(r.schema, r.name, row[0])] = con
            for name, fschema, fname, tgtype in det.triggers or ():
                model.triggers[(r.schema, r.name, name)] = Trigger(
                    name,
                    q,
                    function=(fschema, fname),
                    timing=catalog.trigger_timing(tgtype),
                    events=catalog.trigger_events(tgtype),
                )
        return model

    # -- tables and constraints: Inspector + catalog overlay -------------------

    def _tables(
        self,
        rels: list[RelationRow],
        cat_columns: dict[int, list[Column]],
        cat_constraints: list[sa.RowMapping],
    ) -> None:
        """Tables with their columns, and their constraints.

        PK / FK / UNIQUE / CHECK come from four batched Inspector calls per
        schema; ``pg_constraint`` adds what the Inspector cannot say
        (``convalidated`` of a foreign key, the columns a CHECK reads, the
        referenced table by OID) and the exclusion constraints it skips.
        """
        if not rels:
            return
        insp: Inspector = sa.inspect(self.conn)  # fresh per snapshot: no stale cache
        ins_pk: dict[QName, Any] = {}
        ins_fk: dict[QName, list[Any]] = {}
        ins_uq: dict[QName, list[Any]] = {}
        ins_ck: dict[QName, list[Any]] = {}
        for schema in sorted({r.schema for r in rels}):
            kw: dict[str, Any] = {"schema": schema, "filter_names": None, "kind": ObjectKind.TABLE}
            ins_pk.update(_keyed(insp.get_multi_pk_constraint(**kw), schema))
            ins_fk.update(_keyed(insp.get_multi_foreign_keys(**kw), schema))
            ins_uq.update(_keyed(insp.get_multi_unique_constraints(**kw), schema))
            ins_ck.update(_keyed(insp.get_multi_check_constraints(**kw), schema))

        con_rows = {(row["relid"], row["name"]): row for row in cat_constraints}
        # grouped per table once: scanning all rows per table is quadratic at 2,000 tables
        exclusions: dict[int, list[sa.RowMapping]] = defaultdict(list)
        for row in cat_constraints:
            if row["kind"] == "x":
                exclusions[row["relid"]].append(row)
        model = self.model
        for r in rels:
            q = (r.schema, r.name)
            kind = "unlogged" if r.persistence == "u" else _TABLE_KINDS[r.relkind]
            model.tables[q] = Table(r.schema, r.name, tuple(cat_columns[r.oid]), kind)  # type: ignore[arg-type]

            pk = ins_pk.get(q)
            if pk and pk.get("name"):
                _need(con_rows, (r.oid, pk["name"]), "primary key", q)
                model.constraints[(r.schema, r.name, pk["name"])] = Constraint(
                    pk["name"], q, "primary_key", columns=tuple(pk["constrained_columns"])
                )
            for fk in ins_fk.get(q, ()):
                row = _need(con_rows, (r.oid, fk["name"]), "foreign key", q)
                opts = fk.get("options", {})
                model.constraints[(r.schema, r.name, fk["name"])] = Constraint(
                    fk["name"],
                    q,
                    "foreign_key",
                    columns=tuple(fk["constrained_columns"]),
                    # by OID, not from the Inspector's re-parse of the definition text,
                    # which guesses the schema when the target is on the search_path
                    ref_table=(row["ref_schema"], row["ref_name"]),
                    ref_columns=tuple(fk["referred_columns"]),
                    validated=bool(row["validated"]),  # the Inspector cannot tell NOT VALID
                    on_delete=_action(opts.get("ondelete")),
                    on_update=_action(opts.get("onupdate")),
                    deferrable=bool(opts.get("deferrable", False)),
                )
            for uq in ins_uq.get(q, ()):
                row = _need(con_rows, (r.oid, uq["name"]), "unique constraint", q)
                model.constraints[(r.schema, r.name, uq["name"])] = Constraint(
                    uq["name"],
                    q,
                    "unique",
                    columns=tuple(uq["column_names"]),
                    deferrable=bool(row["deferrable"]),
                )
            for ck in ins_ck.get(q, ()):
                row = _need(con_rows, (r.oid, ck["name"]), "check constraint", q)
                model.constraints[(r.schema, r.name, ck["name"])] = Constraint(
                    ck["name"],
                    q,
                    "check",
                    columns=tuple(row["columns"]),
                    expression=ck["sqltext"],
                    validated=bool(row["validated"]),
                )
            for row in exclusions[r.oid]:  # nothing in the Inspector
                model.constraints[(r.schema, r.name, row["name"])] = Constraint(
                    row["name"],
                    q,
                    "exclude",
                    columns=tuple(row["columns"]),
                    expression=row["definition"],
                    deferrable=bool(row["deferrable"]),
                )

    # -- schema-level objects: pg_catalog only ----------------------------------

    def _schema_objects(self, schema_names: list[str]) -> None:
        conn, model = self.conn, self.model
        for row in catalog.sequences(conn, schema_names):
            owner = None
            if row["tname"] is not None and row["cname"] is not None:
                owner = (row["tschema"], row["tname"], row["cname"])
            if row["tname"] is not None and row["tname"] in self.exclude:
                continue  # a serial of an excluded table (alembic_guard_log_id_seq) goes with it
            model.sequences[(row["schema"], row["name"])] = SequenceFact(row["schema"], row["name"], owner)
        for row in catalog.enums(conn, schema_names):
            model.enums[(row["schema"], row["name"])] = EnumType(
                row["schema"], row["name"], tuple(row["labels"])
            )
        for row in catalog.extensions(conn):
            model.extensions[row["name"]] = Extension(row["name"], row["schema"], row["version"])
        for row in catalog.functions(conn, schema_names):
            key = (row["schema"], row["name"])
            # overloads share one key; rows come sorted by argument list, keep the first
            if key not in model.functions:
                model.functions[key] = Function(
                    row["schema"],
                    row["name"],
                    kind=catalog.PROKINDS.get(row["kind"], "function"),  # type: ignore[arg-type]
                    arguments=row["arguments"],
                    returns=row["returns"],
                    language=row["language"],
                )


# -- helpers -------------------------------------------------------------------


def _keyed(result: dict[tuple[str | None, str], Any], schema: str) -> Iterator[tuple[QName, Any]]:
    for (_, name), value in result.items():
        yield (schema, name), value


def _need(rows: dict[Any, Any], key: Any, what: str, table: QName) -> Any:
    """The catalog overlay row for ``key``; missing only if DDL ran between two reads."""
    row = rows.get(key)
    if row is None:
        name = key[1] if isinstance(key, tuple) else key
        raise SnapshotError(
            f"the schema changed while it was being read: {what} {name} of table "
            f"{table[0]}.{table[1]} vanished between two catalog queries",
            hint="run again; pass a connection with no transaction open so the snapshot "
            "runs in its own REPEATABLE READ transaction",
        )
    return row


# a database has few distinct format_type() spellings and thousands of columns
_canonical_type = lru_cache(maxsize=1024)(canonical_type)


def _column(
    name: str, type_: str, notnull: bool, default: str | None, identity: str, generated: str
) -> Column:
    """A column (or composite attribute) from its pg_attribute row."""
    gen_expr = None
    if generated:  # 's' (stored); its expression is kept in pg_attrdef like a default
        gen_expr, default = default, None
    return Column(
        name,
        _canonical_type(type_),
        nullable=not notnull,
        default=default,
        # GENERATED ... AS IDENTITY, or serial's sequence default
        identity=bool(identity) or (default is not None and default.startswith("nextval(")),
        generated=gen_expr,
    )


def _index(rel: RelationRow, row: sa.RowMapping) -> Index:
    """An index (those behind a PK / UNIQUE / EXCLUDE constraint included)."""
    elements = list(row["elements"])
    nkeys = row["nkeys"]
    return Index(
        rel.schema,
        row["name"],
        (rel.schema, rel.name),
        columns=tuple(elements[:nkeys]),
        unique=bool(row["unique"]),
        predicate=row["predicate"],
        include=tuple(elements[nkeys:]),
        method=row["method"],
        valid=bool(row["valid"]),
    )


# pg_get_constraintdef prints ON UPDATE before ON DELETE, each only when not NO ACTION;
# SET NULL / SET DEFAULT may name columns (PostgreSQL 15+)
_FK_ACTION = re.compile(
    r"ON (UPDATE|DELETE) (CASCADE|RESTRICT|NO ACTION|SET (?:NULL|DEFAULT)(?: \([^)]*\))?)"
)
_CHECK_DEF = re.compile(r"^CHECK *\((.+)\)( NO INHERIT)?( NOT VALID)?$", re.DOTALL)


def _constraint_from_catalog(
    table: QName,
    name: str,
    contype: str,
    validated: bool,
    deferrable: bool,
    columns: list[str],
    ref_schema: str | None,
    ref_name: str | None,
    ref_columns: list[str],
    definition: str | None,
) -> Constraint | None:
    """A constraint from its ``pg_constraint`` row, spelled as the Inspector-based path spells it.

    CHECK text is ``pg_get_constraintdef(oid, true)`` without ``CHECK (...)`` and
    its outer parentheses; foreign-key actions come from the same text, lower
    case, ``NO ACTION`` as ``None`` (see :func:`_action`).
    """
    if contype == "p":
        return Constraint(name, table, "primary_key", columns=tuple(columns))
    if contype == "u":
        return Constraint(name, table, "unique", columns=tuple(columns), deferrable=bool(deferrable))
    if contype == "f":
        actions = dict(_FK_ACTION.findall(definition or ""))
        return Constraint(
            name,
            table,
            "foreign_key",
            columns=tuple(columns),
            ref_table=(ref_schema, ref_name) if ref_schema is not None and ref_name is not None else None,
            ref_columns=tuple(ref_columns),
            validated=bool(validated),
            on_delete=_action(actions.get("DELETE")),
            on_update=_action(actions.get("UPDATE")),
            deferrable=bool(deferrable),
        )
    if contype == "c":
        m = _CHECK_DEF.match(definition or "")
        return Constraint(
            name,
            table,
            "check",
            columns=tuple(columns),
            # the Inspector's reading of the same text (it warns and keeps "" when it cannot parse it)
            expression=strip_outer_parens(m.group(1)) if m else "",
            validated=bool(validated),
        )
    if contype == "x":
        return Constraint(
            name,
            table,
            "exclude",
            columns=tuple(columns),
            expression=definition,
            deferrable=bool(deferrable),
        )
    return None


def _action(text: str | None) -> str | None:
    """``CASCADE`` → ``cascade``; NO ACTION (the default) → ``None``."""
    if text is None or text.upper() == "NO ACTION":
        return None
    return text.lower()
