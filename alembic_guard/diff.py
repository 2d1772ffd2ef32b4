"""Drift: how a live schema differs from the schema the migrations should have left.

:func:`compare` takes two :class:`~alembic_guard.model.SchemaModel` values —
``expected`` (a scratch database upgraded to head, or the replayed
revisions) and ``live`` (a snapshot of the real database) — and returns one
:class:`Drift` per difference, each with a stable code (``AG5xx``), the harm in
one sentence and the fix.  ``guard-check`` reports them; ``guard-repair``
plans from them (:mod:`alembic_guard.repair.plan`).

Expression text (defaults, CHECK expressions, index predicates, view bodies)
is spelled differently by source SQL and by ``pg_catalog``
(``'todo'::character varying`` for ``'todo'``, extra parentheses, layout).
Such text is compared only with ``compare_expressions=True``, meant for the
case where both models come from the catalog (the scratch-database method),
and even then through :func:`normalize_expression`.  Structural facts (names,
column types, nullability, index keys, foreign-key targets, validity) are
always compared.

Pure: no connection, no filesystem.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from alembic_guard import codes
from alembic_guard.codes import Code, Severity
from alembic_guard.identity import (
    describe_column,
    describe_constraint,
    describe_index,
    normalize_expression,
    same_constraint,
    same_index,
    same_type,
)
from alembic_guard.model import (
    BOOKKEEPING_TABLES,
    DEFAULT_SCHEMA,
    Constraint,
    ObjRef,
    QName,
    SchemaModel,
    Table,
    format_qname,
)

__all__ = ["DRIFT_KINDS", "Drift", "compare", "normalize_expression"]

DEFAULT_IGNORED = BOOKKEEPING_TABLES


# the drift kinds (AG5xx), by id; declared with every other code in alembic_guard.codes
DRIFT_KINDS: dict[str, Code] = {k.id: k for k in codes.family("drift")}


@dataclass(frozen=True, slots=True)
class Drift:
    """One difference between the expected and the live schema.

    ``kind`` is ``"AG501 missing-column"``; ``expected`` / ``actual`` are short
    text forms (``None`` when that side has nothing).
    """

    kind: str
    ref: ObjRef
    expected: str | None
    actual: str | None
    severity: Severity
    message: str
    hint: str

    @property
    def code(self) -> str:
        return self.kind.split(" ", 1)[0]

    @property
    def id(self) -> str:
        return self.kind.split(" ", 1)[1]

    def render(self) -> str:
        return f"{self.kind} {self.ref.describe()}: {self.message}"


def make_drift(kind_id: str, ref: ObjRef, expected: str | None, actual: str | None, what: str) -> Drift:
    """A :class:`Drift` of the kind ``kind_id`` (``"missing-column"``), its harm after ``what``."""
    return _drift(kind_id, ref, expected, actual, what)


def _drift(kind_id: str, ref: ObjRef, expected: str | None, actual: str | None, what: str) -> Drift:
    k = DRIFT_KINDS[kind_id]
    return Drift(k.label, ref, expected, actual, k.severity, f"{what}: {k.summary}", k.help)


# -- comparison ----------------------------------------------------------------------


def compare(
    expected: SchemaModel,
    live: SchemaModel,
    *,
    ignore_tables: Iterable[str] = DEFAULT_IGNORED,
    compare_expressions: bool = False,
    search_path: Iterable[str] = (DEFAULT_SCHEMA,),
) -> list[Drift]:
    """Every difference between ``expected`` and ``live``, sorted by code then object.

    ``ignore_tables``: table names (any schema) left out on both sides, with
    their indexes, constraints and triggers.  ``compare_expressions``: also
    compare defaults, CHECK expressions, index predicates and view bodies
    (normalized); pass it when both models come from ``pg_catalog``.

    Only schemas the expected model has are compared, so a database shared
    with other applications' schemas is not reported as drift.

    ``search_path``: the database's (``current_schemas(false)``).  A replayed
    model files an object created without a schema under ``public``; with a
    database-level ``search_path = app, public`` PostgreSQL created it in
    ``app``.  Such a function found in another schema of the path is not missing.
    """
    ignored = frozenset(ignore_tables)
    schemas = expected.schemas | {q[0] for q in expected.tables}
    c = _Comparer(expected, live, ignored, schemas, compare_expressions)
    c.search_path = tuple(search_path)
    c.run()
    return sorted(c.out, key=lambda d: (d.code, d.ref))


class _Comparer:
    def __init__(
        self,
        expected: SchemaModel,
        live: SchemaModel,
        ignored: frozenset[str],
        schemas: set[str],
        exprs: bool,
    ) -> None:
        self.exp, self.live = expected, live
        self.ignored, self.schemas, self.exprs = ignored, schemas, exprs
        self.search_path: tuple[str, ...] = (DEFAULT_SCHEMA,)
        self.out: list[Drift] = []

    def _in_scope(self, table: QName) -> bool:
        return table[1] not in self.ignored and table[0] in self.schemas

    def run(self) -> None:
        self.tables()
        self.constraints()  # before indexes: a missing constraint explains its missing index
        self.indexes()
        self.views()
        self.types()
        self.routines()

    # -- tables and columns --------------------------------------------------------------

    def tables(self) -> None:
        for q, want in sorted(self.exp.tables.items()):
            if not self._in_scope(q):
                continue
            have = self.live.tables.get(q)
            if have is None:
                ref = ObjRef.relation(*q)
                cols = ", ".join(f"{c.name} {c.type}" for c in want.columns)
                self.out.append(_drift("missing-table", ref, f"table ({cols})", None, "the table is missing"))
                continue
            self.columns(want, have)
        for q in sorted(self.live.tables):
            if self._in_scope(q) and q not in self.exp.tables and q not in self.exp.views:
                self.out.append(
                    _drift("extra-table", ObjRef.relation(*q), None, "table", "the database has this table")
                )

    def columns(self, want: Table, have: Table) -> None:
        s, t = want.schema, want.name
        for wc in want.columns:
            ref = ObjRef.column(s, t, wc.name)
            hc = have.column(wc.name)
            if hc is None:
                self.out.append(
                    _drift("missing-column", ref, describe_column(wc), None, "the column is missing")
                )
                continue
            if not same_type(hc.type, wc.type, self.search_path):
                self.out.append(
                    _drift("column-type", ref, wc.type, hc.type, f"the column is {hc.type}, not {wc.type}")
                )
            if wc.nullable != hc.nullable:
                self.out.append(
                    _drift(
                        "column-nullability",
                        ref,
                        "NULL" if wc.nullable else "NOT NULL",
                        "NULL" if hc.nullable else "NOT NULL",
                        "the column is "
                        + ("NOT NULL" if not hc.nullable else "nullable")
                        + ", the revisions make it "
                        + ("nullable" if wc.nullable else "NOT NULL"),
                    )
                )
            if (
                self.exprs
                and not (wc.identity or hc.identity)
                and normalize_expression(wc.default) != normalize_expression(hc.default)
            ):
                self.out.append(
                    _drift("column-default", ref, wc.default, hc.default, "the column default differs")
                )
        wanted = {c.name for c in want.columns}
        for hc in have.columns:
            if hc.name not in wanted:
                self.out.append(
                    _drift(
                        "extra-column",
                        ObjRef.column(s, t, hc.name),
                        None,
                        describe_column(hc),
                        "the database has this column",
                    )
                )

    # -- constraints and indexes -----------------------------------------------------------

    def constraints(self) -> None:
        self.missing_constraint_names: set[QName] = set()
        for key, want in sorted(self.exp.constraints.items()):
            s, t, n = key
            if not self._in_scope((s, t)) or (s, t) not in self.live.tables:
                continue  # a missing table is one drift, not one per constraint
            target = want.ref_table
            if (
                want.kind == "foreign_key"
                and target is not None
                and target not in self.exp.tables
                and target not in self.live.tables
            ):
                # the referenced table is gone on both sides: PostgreSQL dropped the key with it
                # (DROP TABLE ... CASCADE), whatever the replayed model kept
                continue
            want = _resolved(want, self.exp)
            ref = ObjRef("constraint", s, n, t)
            have = self.live.constraints.get(key)
            have = _resolved(have, self.live) if have is not None else None
            if have is None:
                self.missing_constraint_names.add((s, n))
                self.out.append(
                    _drift(
                        "missing-constraint",
                        ref,
                        describe_constraint(want),
                        None,
                        f"the {_kind(want)} is missing",
                    )
                )
            elif not same_constraint(have, want, expressions=self.exprs):
                self.out.append(
                    _drift(
                        "constraint-definition",
                        ref,
                        describe_constraint(want),
                        describe_constraint(have),
                        f"the {_kind(want)} has another definition",
                    )
                )
            elif want.validated and not have.validated:
                self.out.append(
                    _drift(
                        "not-valid-constraint",
                        ref,
                        describe_constraint(want),
                        describe_constraint(have),
                        f"the {_kind(want)} is NOT VALID",
                    )
                )
        for key, have in sorted(self.live.constraints.items()):
            s, t, n = key
            if self._in_scope((s, t)) and (s, t) in self.exp.tables and key not in self.exp.constraints:
                self.out.append(
                    _drift(
                        "extra-constraint",
                        ObjRef("constraint", s, n, t),
                        None,
                        describe_constraint(have),
                        f"no revision creates this {_kind(have)}",
                    )
                )

    def indexes(self) -> None:
        for q, want in sorted(self.exp.indexes.items()):
            if not self._in_scope(want.table) or want.table not in self.live.tables:
                continue
            ref = ObjRef("index", *q)
            have = self.live.indexes.get(q)
            if have is None:
                if q not in self.missing_constraint_names:  # the constraint's drift covers it
                    what = (
                        "the unique index is missing, so duplicates can be written"
                        if want.unique
                        else "the index is missing"
                    )
                    self.out.append(_drift("missing-index", ref, describe_index(want), None, what))
            elif not same_index(have, want, expressions=self.exprs):
                self.out.append(
                    _drift(
                        "index-definition",
                        ref,
                        describe_index(want),
                        describe_index(have),
                        "the index has another definition",
                    )
                )
            elif want.valid and not have.valid:
                self.out.append(
                    _drift(
                        "invalid-index",
                        ref,
                        describe_index(want),
                        describe_index(have),
                        "the index is INVALID",
                    )
                )
        for q, have in sorted(self.live.indexes.items()):
            # a replayed model may hold a PK / UNIQUE constraint without the index behind it
            backs = (q[0], have.table[1], q[1]) in self.exp.constraints
            if (
                self._in_scope(have.table)
                and have.table in self.exp.tables
                and q not in self.exp.indexes
                and not backs
            ):
                self.out.append(
                    _drift(
                        "extra-index",
                        ObjRef("index", *q),
                        None,
                        describe_index(have),
                        "the database has this index" + ("" if have.valid else " (INVALID)"),
                    )
                )

    # -- views, types, routines ---------------------------------------------------------------

    def views(self) -> None:
        for q, want in sorted(self.exp.views.items()):
            if q[0] not in self.schemas:
                continue
            ref = ObjRef.relation(*q)
            have = self.live.views.get(q)
            kind = "materialized view" if want.materialized else "view"
            if have is None:
                self.out.append(
                    _drift(
                        "missing-view", ref, _short(want.definition) or kind, None, f"the {kind} is missing"
                    )
                )
            elif self.exprs and normalize_expression(want.definition) != normalize_expression(
                have.definition
            ):
                self.out.append(
                    _drift(
                        "view-definition",
                        ref,
                        _short(want.definition),
                        _short(have.definition),
                        f"the {kind} has another definition",
                    )
                )

    def types(self) -> None:
        for q, want in sorted(self.exp.enums.items()):
            if q[0] not in self.schemas:
                continue
            have = self.live.enums.get(q)
            if have is None:
                self.out.append(
                    _drift(
                        "missing-type",
                        ObjRef("type", *q),
                        f"enum ({', '.join(want.values)})",
                        None,
                        "the enum type is missing",
                    )
                )
                continue
            for v in want.values:
                if v not in have.values:
                    self.out.append(
                        _drift(
                            "missing-enum-value",
                            ObjRef("type", q[0], f"{q[1]}.{v}"),
                            v,
                            ", ".join(have.values),
                            f"enum {format_qname(q)} has no value {v!r}",
                        )
                    )
        for q in sorted(self.exp.composites):
            if q[0] in self.schemas and q not in self.live.composites:
                self.out.append(
                    _drift("missing-type", ObjRef("type", *q), "composite type", None, "the type is missing")
                )
        for q, seq in sorted(self.exp.sequences.items()):
            owner = seq.owned_by[1] if seq.owned_by else None
            if q[0] in self.schemas and q not in self.live.sequences and owner not in self.ignored:
                self.out.append(
                    _drift(
                        "missing-sequence",
                        ObjRef("sequence", *q),
                        "sequence",
                        None,
                        "the sequence is missing",
                    )
                )
        for name in sorted(self.exp.extensions):
            if name not in self.live.extensions:
                self.out.append(
                    _drift(
                        "missing-extension",
                        ObjRef("extension", "", name),
                        name,
                        None,
                        "the extension is not installed",
                    )
                )

    def routines(self) -> None:
        for q, fn in sorted(self.exp.functions.items()):
            if q[0] in self.schemas and q not in self.live.functions and not self._elsewhere_on_path(q):
                self.out.append(
                    _drift(
                        "missing-function",
                        ObjRef("function", *q),
                        f"{fn.kind} {q[1]}({fn.arguments})",
                        None,
                        f"the {fn.kind} is missing",
                    )
                )
        for key, tg in sorted(self.exp.triggers.items()):
            s, t, n = key
            if self._in_scope((s, t)) and (s, t) in self.live.tables and key not in self.live.triggers:
                func = format_qname(tg.function) if tg.function else "?"
                when = f"{tg.timing or ''} {' or '.join(tg.events)}".strip()
                self.out.append(
                    _drift(
                        "missing-trigger",
                        ObjRef("trigger", s, n, t),
                        f"{when} execute {func}()",
                        None,
                        "the trigger is missing",
                    )
                )

    def _elsewhere_on_path(self, q: QName) -> bool:
        """Was a function filed under ``public`` created in another schema of the search path?"""
        if q[0] != DEFAULT_SCHEMA:
            return False
        return any((s, q[1]) in self.live.functions for s in self.search_path if s != DEFAULT_SCHEMA)


def _resolved(con: Constraint, model: SchemaModel) -> Constraint:
    """A foreign key written ``REFERENCES t`` (no column list) references t's primary key in ``model``."""
    if con.kind != "foreign_key" or con.ref_columns or con.ref_table is None:
        return con
    for (s, t, _), c in model.constraints.items():
        if (s, t) == con.ref_table and c.kind == "primary_key":
            return replace(con, ref_columns=c.columns)
    return con


def _kind(c: Constraint) -> str:
    return {
        "primary_key": "primary key",
        "foreign_key": "foreign key",
        "unique": "unique constraint",
        "check": "check constraint",
        "exclude": "exclusion constraint",
    }[c.kind]


def _short(text: str | None, limit: int = 120) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
