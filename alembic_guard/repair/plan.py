"""Repair planning: drift in, ordered SQL steps out.

:func:`plan_repair` turns the :class:`~alembic_guard.diff.Drift` list of
:func:`alembic_guard.diff.compare` into a :class:`RepairPlan`: one
:class:`RepairStep` per drift it can repair, each with the SQL it runs, the
lock it takes and whether it must run outside a transaction; and the drift it
leaves alone, with the reason (``needs --allow-destructive``, no definition
known, ...).  Nothing is dropped or rewritten (extra columns, tables, indexes
and constraints; type changes; changed definitions) unless
``allow_destructive`` is set.

The SQL shown is the SQL :mod:`alembic_guard.repair.apply` sends.  Steps that
add a constraint go through the guarded operations at apply time, which count
offending rows first (orphans, duplicates, NULLs, rows failing a CHECK) and
refuse without changing anything when there are any; the printed plan says so
in a comment.

Pure: no connection, no filesystem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from alembic_guard.ddl import (
    add_column_sql,
    add_constraint_not_valid_sql,
    add_constraint_sql,
    attach_unique_sql,
    create_index_sql,
    create_table_sql,
    create_view_sql,
    drop_column_sql,
    drop_constraint_sql,
    drop_index_sql,
    drop_table_sql,
    qualified,
    set_not_null_sql,
    validate_constraint_sql,
)
from alembic_guard.diff import Drift
from alembic_guard.identity import describe_constraint
from alembic_guard.model import (
    Column,
    Constraint,
    Index,
    ObjRef,
    QName,
    SchemaModel,
    format_qname,
)
from alembic_guard.quoting import quote_ident, quote_literal

# quote_ident and qualified stay importable from here (rollback.py uses them)
__all__ = [
    "RepairPlan",
    "RepairStep",
    "Unrepaired",
    "create_index_sql",
    "plan_repair",
    "qualified",
    "quote_ident",
]

Action = Literal[
    "create_extension",
    "create_type",
    "add_enum_value",
    "create_sequence",
    "create_table",
    "add_column",
    "set_not_null",
    "drop_not_null",
    "set_default",
    "alter_type",
    "create_function",
    "create_index",
    "rebuild_index",
    "add_constraint",
    "validate_constraint",
    "create_view",
    "create_trigger",
    "drop_constraint",
    "drop_index",
    "drop_column",
    "drop_table",
    "drop_view",
    "sql",
]

# apply order: what later steps need comes first; drops after everything they could block
_PHASE: dict[str, int] = {
    "create_extension": 0,
    "create_type": 1,
    "add_enum_value": 1,
    "create_sequence": 2,
    "create_table": 3,
    "add_column": 4,
    "drop_view": 5,  # a changed view is dropped before the columns it reads change
    "alter_type": 6,
    "set_default": 7,
    "drop_not_null": 7,
    "set_not_null": 8,
    "create_function": 9,
    "drop_index": 10,
    "drop_constraint": 10,
    "rebuild_index": 11,
    "create_index": 11,
    "add_constraint": 12,
    "validate_constraint": 13,
    "create_view": 14,
    "create_trigger": 15,
    "drop_column": 16,
    "drop_table": 17,
    "sql": 18,
}


@dataclass(frozen=True, slots=True)
class RepairStep:
    """One repair: the drift it fixes, the SQL, the lock, and how it must run.

    ``fact`` is the expected-side fact (``Column``, ``Index``, ``Constraint``,
    ...) the apply stage hands to the guarded operation; ``table`` the table
    the step works on.  ``transactional=False``: runs outside a transaction
    (``CONCURRENTLY``, ``ALTER TYPE ... ADD VALUE``); ``guarded``: the rows
    are checked before it (see the module docstring).
    """

    drift: Drift | None
    action: Action
    sql: tuple[str, ...]
    lock: str
    table: QName | None = None
    transactional: bool = True
    destructive: bool = False
    guarded: str | None = None  # the data check apply runs first, in words
    fact: Any = None

    def render(self, number: int) -> str:
        what = self.drift.render() if self.drift is not None else self.action.replace("_", " ")
        lines = [f"-- [{number}] repairs {what}"]
        lines.append(f"--     lock: {self.lock}")
        if not self.transactional:
            lines.append("--     runs outside a transaction (each statement commits on its own)")
        if self.guarded:
            lines.append(f"--     checked first: {self.guarded}; refused with the offending keys if any")
        lines.extend(s.rstrip().rstrip(";") + ";" for s in self.sql)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Unrepaired:
    """Drift the plan leaves alone, and why."""

    drift: Drift
    reason: str

    def render(self) -> str:
        d = self.drift
        sides = f" (expected {d.expected or 'nothing'}; database has {d.actual or 'nothing'})"
        return f"-- not repaired: {d.kind} {d.ref.describe()}{sides}: {self.reason}"


NEEDS_DESTRUCTIVE = "needs --allow-destructive"


@dataclass(frozen=True, slots=True)
class RepairPlan:
    steps: tuple[RepairStep, ...]
    not_repaired: tuple[Unrepaired, ...]

    @property
    def empty(self) -> bool:
        return not self.steps and not self.not_repaired

    def render(self) -> str:
        """The plan as an SQL script with a comment per step (what ``guard-repair`` prints)."""
        if self.empty:
            return "-- alembic_guard repair plan: no drift, nothing to do"
        head = (
            f"-- alembic_guard repair plan: {len(self.steps)} step(s), "
            f"{len(self.not_repaired)} drift(s) not repaired"
        )
        parts = [head, *(s.render(i) for i, s in enumerate(self.steps, 1))]
        parts.extend(u.render() for u in self.not_repaired)
        return "\n\n".join(parts)


def plan_repair(
    drifts: Sequence[Drift],
    expected: SchemaModel,
    live: SchemaModel,
    *,
    allow_destructive: bool = False,
    definitions: Mapping[ObjRef, str] | None = None,
) -> RepairPlan:
    """The steps that repair ``drifts`` (from :func:`alembic_guard.diff.compare`).

    ``definitions``: full SQL definitions from the expected side for what the
    model does not hold (``CREATE FUNCTION ...`` by function ref, ``CREATE
    TRIGGER ...`` by trigger ref), as the scratch-database method reads them
    with ``pg_get_functiondef`` / ``pg_get_triggerdef``.  Steps come in a
    dependency order (tables, columns, functions, indexes, constraints,
    validations, views, triggers, then drops), ties in drift order.
    """
    p = _Planner(expected, live, allow_destructive, definitions or {})
    # columns a set_not_null step makes NOT NULL (it runs before any constraint is added)
    p.not_null_first = {
        (d.ref.schema, d.ref.parent, d.ref.name)
        for d in drifts
        if d.id == "column-nullability" and d.ref.parent is not None
    }
    for d in drifts:
        p.plan(d)
    order = {id(s): i for i, s in enumerate(p.steps)}
    steps = sorted(p.steps, key=lambda s: (_PHASE[s.action], _referenced_later(s), order[id(s)]))
    return RepairPlan(tuple(steps), tuple(p.skipped))


def _referenced_later(step: RepairStep) -> int:
    """Keys before foreign keys: a foreign key needs the referenced PRIMARY KEY / UNIQUE to exist."""
    fact = step.fact
    return (
        1
        if step.action == "add_constraint" and isinstance(fact, Constraint) and fact.kind == "foreign_key"
        else 0
    )


class _Planner:
    def __init__(
        self, expected: SchemaModel, live: SchemaModel, destructive: bool, definitions: Mapping[ObjRef, str]
    ) -> None:
        self.exp, self.live = expected, live
        self.destructive = destructive
        self.defs = definitions
        self.steps: list[RepairStep] = []
        self.skipped: list[Unrepaired] = []
        self.not_null_first: set[tuple[str, str | None, str]] = set()

    def index_sql(self, ix: Index) -> str:
        """``CREATE INDEX CONCURRENTLY``, keys told apart by the table's columns once repaired."""
        t = self.exp.tables.get(ix.table) or self.live.tables.get(ix.table)
        return create_index_sql(ix, concurrently=True, columns=t.column_names() if t is not None else ())

    def skip(self, d: Drift, reason: str) -> None:
        self.skipped.append(Unrepaired(d, reason))

    def add(self, d: Drift | None, action: Action, sql: Sequence[str], lock: str, **kw: Any) -> None:
        if kw.get("destructive") and not self.destructive:
            assert d is not None
            self.skip(d, NEEDS_DESTRUCTIVE)
            return
        self.steps.append(RepairStep(d, action, tuple(sql), lock, **kw))

    def plan(self, d: Drift) -> None:
        handler = getattr(self, "_" + d.id.replace("-", "_"), None)
        if handler is None:  # pragma: no cover - every kind has a handler
            self.skip(d, "no automatic repair for this kind of drift")
            return
        handler(d)

    # -- tables and columns -----------------------------------------------------------------

    def _missing_table(self, d: Drift) -> None:
        q = (d.ref.schema, d.ref.name)
        t = self.exp.tables[q]
        cons = self.exp.constraints_of(*q)
        sql = [create_table_sql(t, [c for c in cons if c.kind != "foreign_key"])]
        owned = {c.name for c in cons}
        for ix in sorted(self.exp.indexes_of(*q), key=lambda i: i.name):
            if ix.name not in owned:
                sql.append(create_index_sql(ix, concurrently=False, columns=t.column_names()))
        # foreign keys last: a new, empty table has no orphans to check
        fks = sorted((c for c in cons if c.kind == "foreign_key"), key=lambda c: c.name or "")
        sql.extend(add_constraint_sql(c) for c in fks)
        self.add(
            d, "create_table", sql, f"ACCESS EXCLUSIVE on the new table {format_qname(q)}", table=q, fact=t
        )

    def _extra_table(self, d: Drift) -> None:
        q = (d.ref.schema, d.ref.name)
        self.add(
            d,
            "drop_table",
            [drop_table_sql(q)],
            f"ACCESS EXCLUSIVE on {format_qname(q)}; its rows are lost",
            table=q,
            destructive=True,
        )

    def _column(self, d: Drift) -> tuple[QName, Column | None, Column | None]:
        assert d.ref.table is not None
        q = d.ref.table
        return q, self.exp.column(*q, d.ref.name), self.live.column(*q, d.ref.name)

    def _missing_column(self, d: Drift) -> None:
        q, want, _ = self._column(d)
        assert want is not None
        sql = add_column_sql(q, want, with_not_null=want.default is not None)
        self.add(
            d,
            "add_column",
            [sql],
            f"ACCESS EXCLUSIVE on {format_qname(q)}, briefly (no rewrite unless the default is volatile)",
            table=q,
            fact=want,
        )
        if not want.nullable and want.default is None:
            # NOT NULL without a default fails on a table with rows: add, then tighten (checked)
            self._set_not_null(None, q, want)

    def _extra_column(self, d: Drift) -> None:
        q, _, have = self._column(d)
        self.add(
            d,
            "drop_column",
            [drop_column_sql(q, d.ref.name)],
            f"ACCESS EXCLUSIVE on {format_qname(q)}, briefly; the column's values are lost",
            table=q,
            destructive=True,
            fact=have,
        )

    def _column_type(self, d: Drift) -> None:
        q, want, _ = self._column(d)
        assert want is not None
        c = quote_ident(want.name)
        self.add(
            d,
            "alter_type",
            [f"ALTER TABLE {qualified(q)} ALTER COLUMN {c} TYPE {want.type} USING {c}::{want.type}"],
            f"ACCESS EXCLUSIVE on {format_qname(q)} while the table is rewritten",
            table=q,
            destructive=True,
            fact=want,
        )

    def _column_nullability(self, d: Drift) -> None:
        q, want, _ = self._column(d)
        assert want is not None
        if want.nullable:
            self.add(
                d,
                "drop_not_null",
                [set_not_null_sql(q, want.name, null=True)],
                f"ACCESS EXCLUSIVE on {format_qname(q)}, briefly",
                table=q,
                fact=want,
            )
        else:
            self._set_not_null(d, q, want)

    def _set_not_null(self, d: Drift | None, q: QName, want: Column) -> None:
        self.add(
            d,
            "set_not_null",
            [set_not_null_sql(q, want.name)],
            f"ACCESS EXCLUSIVE on {format_qname(q)} while the rows are scanned",
            table=q,
            guarded=f"rows of {format_qname(q)} with {want.name} NULL",
            fact=want,
        )

    def _column_default(self, d: Drift) -> None:
        q, want, _ = self._column(d)
        assert want is not None
        col = f"ALTER TABLE {qualified(q)} ALTER COLUMN {quote_ident(want.name)}"
        sql = f"{col} DROP DEFAULT" if want.default is None else f"{col} SET DEFAULT {want.default}"
        self.add(
            d,
            "set_default",
            [sql],
            f"ACCESS EXCLUSIVE on {format_qname(q)}, briefly; no row changes",
            table=q,
            fact=want,
        )

    # -- indexes --------------------------------------------------------------------------------

    def _missing_index(self, d: Drift) -> None:
        ix = self.exp.indexes[(d.ref.schema, d.ref.name)]
        self.add(
            d,
            "create_index",
            [self.index_sql(ix)],
            f"SHARE UPDATE EXCLUSIVE on {format_qname(ix.table)} (reads and writes go on)",
            table=ix.table,
            transactional=False,
            fact=ix,
            guarded=f"duplicate ({', '.join(ix.columns)}) groups" if ix.unique else None,
        )

    def _invalid_index(self, d: Drift) -> None:
        q = (d.ref.schema, d.ref.name)
        ix = self.exp.indexes.get(q) or self.live.indexes[q]
        # dropping an INVALID index loses nothing: PostgreSQL never reads it
        self.add(
            d,
            "rebuild_index",
            [
                drop_index_sql(q, concurrently=True),
                self.index_sql(ix),
            ],
            f"SHARE UPDATE EXCLUSIVE on {format_qname(ix.table)} (reads and writes go on)",
            table=ix.table,
            transactional=False,
            fact=ix,
            guarded=f"duplicate ({', '.join(ix.columns)}) groups" if ix.unique else None,
        )

    def _index_definition(self, d: Drift) -> None:
        q = (d.ref.schema, d.ref.name)
        ix = self.exp.indexes[q]
        self.add(
            d,
            "rebuild_index",
            [
                drop_index_sql(q, concurrently=True),
                self.index_sql(ix),
            ],
            f"SHARE UPDATE EXCLUSIVE on {format_qname(ix.table)}; queries using the old index scan until "
            "the new one is built",
            table=ix.table,
            transactional=False,
            destructive=True,
            fact=ix,
        )

    def _extra_index(self, d: Drift) -> None:
        q = (d.ref.schema, d.ref.name)
        have = self.live.indexes[q]
        owner = next((c for c in self.live.constraints_of(*have.table) if c.name == have.name), None)
        if owner is not None:
            self.skip(d, f"it backs {describe_constraint(owner)}; the constraint's drift covers it")
            return
        self.add(
            d,
            "drop_index",
            [drop_index_sql(q, concurrently=True)],
            f"SHARE UPDATE EXCLUSIVE on {format_qname(have.table)}",
            table=have.table,
            transactional=False,
            destructive=True,
            fact=have,
        )

    # -- constraints ------------------------------------------------------------------------------

    def _constraint(self, d: Drift) -> tuple[QName, Constraint | None, Constraint | None]:
        assert d.ref.table is not None
        key = (d.ref.schema, d.ref.parent or "", d.ref.name)
        return d.ref.table, self.exp.constraints.get(key), self.live.constraints.get(key)

    def _missing_constraint(self, d: Drift) -> None:
        q, want, _ = self._constraint(d)
        assert want is not None
        self._add_constraint(d, q, want)

    def _add_constraint(self, d: Drift, q: QName, want: Constraint) -> None:
        if want.kind == "exclude":
            self.skip(d, "exclusion constraints are not repaired automatically; add them in a revision")
            return
        t, n = qualified(q), quote_ident(want.name or "")
        cols = ", ".join(quote_ident(c) for c in want.columns)
        if want.kind in ("unique", "primary_key"):
            kind = "UNIQUE" if want.kind == "unique" else "PRIMARY KEY"
            sql = [
                f"CREATE UNIQUE INDEX CONCURRENTLY {n} ON {t} ({cols})",
                attach_unique_sql(q, want.name or "", kind),
            ]
            check = f"duplicate ({', '.join(want.columns)}) groups"
            if want.kind == "primary_key":
                check += f" and NULLs in ({', '.join(want.columns)})"
            # ADD PRIMARY KEY USING INDEX sets its columns NOT NULL: on a nullable column that
            # is a full scan for NULLs under ACCESS EXCLUSIVE, not a brief catalog change
            nullable = [
                c
                for c in want.columns
                if want.kind == "primary_key"
                and (col := self.live.column(*q, c)) is not None
                and col.nullable
                and (q[0], q[1], c) not in self.not_null_first
            ]
            attach = (
                f"ACCESS EXCLUSIVE while it scans the table for NULLs in ({', '.join(nullable)}) "
                "(SET NOT NULL is implied) and attaches it"
                if nullable
                else "ACCESS EXCLUSIVE briefly to attach it"
            )
            self.add(
                d,
                "add_constraint",
                sql,
                f"SHARE UPDATE EXCLUSIVE on {format_qname(q)} for the index build, then {attach}",
                table=q,
                transactional=False,
                guarded=check,
                fact=want,
            )
            return
        if want.kind == "foreign_key":
            assert want.ref_table is not None
            lock = (
                f"SHARE ROW EXCLUSIVE on {format_qname(q)} and {format_qname(want.ref_table)} "
                "(no scan), then SHARE UPDATE EXCLUSIVE while validating"
            )
            check = f"rows of {format_qname(q)} referring to missing rows of {format_qname(want.ref_table)}"
        else:
            lock = f"ACCESS EXCLUSIVE on {format_qname(q)} (no scan), then SHARE UPDATE EXCLUSIVE to validate"
            check = f"rows failing CHECK ({want.expression})"
        sql = [add_constraint_not_valid_sql(want), validate_constraint_sql(q, want.name or "")]
        self.add(d, "add_constraint", sql, lock, table=q, guarded=check, fact=want)

    def _not_valid_constraint(self, d: Drift) -> None:
        q, want, have = self._constraint(d)
        con = want or have
        assert con is not None
        what = (
            f"rows failing CHECK ({con.expression})"
            if con.kind == "check"
            else f"rows of {format_qname(q)} referring to missing rows"
        )
        self.add(
            d,
            "validate_constraint",
            [validate_constraint_sql(q, d.ref.name)],
            f"SHARE UPDATE EXCLUSIVE on {format_qname(q)} (reads and writes go on)",
            table=q,
            guarded=what,
            fact=con,
        )

    def _constraint_definition(self, d: Drift) -> None:
        q, want, _ = self._constraint(d)
        assert want is not None
        if not self.destructive:
            self.skip(d, NEEDS_DESTRUCTIVE)
            return
        self._drop_constraint(d, q, None)
        self._add_constraint(d, q, want)

    def _extra_constraint(self, d: Drift) -> None:
        q, _, have = self._constraint(d)
        self._drop_constraint(d, q, have)

    def _drop_constraint(self, d: Drift, q: QName, have: Constraint | None) -> None:
        lock = f"ACCESS EXCLUSIVE on {format_qname(q)}, briefly"
        sql = [drop_constraint_sql(q, d.ref.name)]
        self.add(d, "drop_constraint", sql, lock, table=q, destructive=True, fact=have)

    # -- views, routines, types ------------------------------------------------------------------------

    def _missing_view(self, d: Drift) -> None:
        v = self.exp.views[(d.ref.schema, d.ref.name)]
        if not v.definition:
            self.skip(d, "the expected side has no definition of the view")
            return
        self.add(d, "create_view", [create_view_sql(v)], "none on tables (catalog only)", fact=v)

    def _view_definition(self, d: Drift) -> None:
        q = (d.ref.schema, d.ref.name)
        v = self.exp.views[q]
        if not v.definition:
            self.skip(d, "the expected side has no definition of the view")
            return
        kind = "MATERIALIZED VIEW" if v.materialized else "VIEW"
        self.add(
            d,
            "drop_view",
            [drop_table_sql(q, kind=kind)],
            "ACCESS EXCLUSIVE on the view, briefly",
            destructive=True,
        )
        if self.destructive:
            self.add(d, "create_view", [create_view_sql(v)], "none on tables (catalog only)", fact=v)

    def _missing_function(self, d: Drift) -> None:
        text = self.defs.get(d.ref)
        if not text:
            self.skip(
                d, "no definition known (the expected model was replayed, not built in a scratch database)"
            )
            return
        self.add(d, "create_function", [text], "none on tables (catalog only)")

    def _missing_trigger(self, d: Drift) -> None:
        text = self.defs.get(d.ref)
        if not text:
            self.skip(
                d, "no definition known (the expected model was replayed, not built in a scratch database)"
            )
            return
        assert d.ref.table is not None
        self.add(
            d,
            "create_trigger",
            [text],
            f"SHARE ROW EXCLUSIVE on {format_qname(d.ref.table)}, briefly",
            table=d.ref.table,
        )

    def _missing_enum_value(self, d: Drift) -> None:
        enum = d.ref.name.rsplit(".", 1)[0]
        assert d.expected is not None
        value = quote_literal(d.expected)
        sql = f"ALTER TYPE {qualified((d.ref.schema, enum))} ADD VALUE IF NOT EXISTS {value}"
        # a new enum value cannot be used in the transaction that adds it
        self.add(d, "add_enum_value", [sql], "none on tables (catalog only)", transactional=False)

    def _missing_type(self, d: Drift) -> None:
        q = (d.ref.schema, d.ref.name)
        enum = self.exp.enums.get(q)
        if enum is None:
            self.skip(d, "composite types are not repaired automatically; add them in a revision")
            return
        values = ", ".join(quote_literal(v) for v in enum.values)
        self.add(d, "create_type", [f"CREATE TYPE {qualified(q)} AS ENUM ({values})"], "none (catalog only)")

    def _missing_sequence(self, d: Drift) -> None:
        q = (d.ref.schema, d.ref.name)
        self.add(
            d, "create_sequence", [f"CREATE SEQUENCE IF NOT EXISTS {qualified(q)}"], "none (catalog only)"
        )

    def _missing_extension(self, d: Drift) -> None:
        ext = self.exp.extensions[d.ref.name]
        sql = f"CREATE EXTENSION IF NOT EXISTS {quote_ident(ext.name)}"
        if ext.schema:
            sql += f" SCHEMA {quote_ident(ext.schema)}"
        self.add(d, "create_extension", [sql], "none on tables (catalog only)")
