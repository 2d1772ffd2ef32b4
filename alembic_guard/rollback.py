"""Rollback verification: after a failed revision, is the schema what it was before?

PostgreSQL rolls back a failed revision's transaction, but not what an
``autocommit_block()`` committed on its way (``CREATE INDEX CONCURRENTLY``,
``ALTER TYPE ... ADD VALUE``, or the revision's earlier work, which such a
block commits).  The runtime records each such step in the ledger
(``alembic_guard_log.steps``).  :func:`verify_rollback` compares a snapshot
taken before the revision with one taken after the rollback, names every
difference, lists the completed non-transactional steps, and offers the
inverse of each (:func:`inverse_steps`): dropping what it created, which is
destructive and so only planned with ``--allow-destructive``.

:func:`verify_rollback` and :func:`inverse_steps` are pure;
:func:`verify_after_failure` is the runtime's hook (reads the catalog).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from alembic_guard import ddl
from alembic_guard.diff import Drift, compare, make_drift
from alembic_guard.model import ObjRef, QName, SchemaModel, format_qname
from alembic_guard.repair.plan import NEEDS_DESTRUCTIVE, RepairStep, Unrepaired

__all__ = [
    "RollbackReport",
    "inverse_steps",
    "scope",
    "undo_steps",
    "verify_after_failure",
    "verify_rollback",
]

FAILED_STATUSES = ("failed", "abandoned", "rolled_back")


@dataclass(frozen=True, slots=True)
class RollbackReport:
    """What a failed revision left behind.

    ``clean``: the schema equals the pre-revision snapshot.  ``differences``:
    each difference as drift (expected = before, live = after).
    ``nontransactional``: the SQL of the steps that committed on their own.
    ``undo``: the inverse of each such step still in effect.
    """

    revision: str | None
    clean: bool
    differences: tuple[Drift, ...]
    nontransactional: tuple[str, ...]
    undo: tuple[RepairStep, ...]
    tables: tuple[QName, ...] = ()
    """The relations compared (the revision's, and those its completed steps created)."""

    def render(self) -> str:
        rev = f"revision {self.revision}" if self.revision else "the revision"
        if self.clean:
            of = f"of {', '.join(format_qname(t) for t in self.tables)} " if self.tables else ""
            head = f"{rev} was rolled back completely: the schema {of}equals the pre-revision snapshot"
        else:
            head = f"{rev} was NOT rolled back completely: {len(self.differences)} difference(s) remain"
        lines = [head]
        lines.extend(f"  {d.render()}" for d in self.differences)
        if self.nontransactional:
            lines.append("  non-transactional steps that completed (committed on their own):")
            lines.extend(f"    {' '.join(s.split())[:200]}" for s in self.nontransactional)
        if self.undo:
            lines.append("  to undo them (`alembic guard-repair --apply --allow-destructive` runs these):")
            lines.extend(f"    {sql};" for step in self.undo for sql in step.sql)
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        """What the ledger keeps (``events.rollback``) and ``guard-status`` shows."""
        return {
            "clean": self.clean,
            "tables": [format_qname(t) for t in self.tables],
            "differences": [d.render() for d in self.differences],
            "nontransactional": list(self.nontransactional),
            "undo": [sql for step in self.undo for sql in step.sql],
        }


def scope(model: SchemaModel, tables: Iterable[QName]) -> SchemaModel:
    """The facts ``model`` holds about ``tables`` (relations, their indexes, constraints, triggers).

    Pure; the facts are shared, not copied (they are immutable).  The same
    scope as ``snapshot(conn, tables=...)`` reads, so the two compare.
    """
    wanted = set(tables)
    out = SchemaModel(schemas=set())
    for q in wanted:
        if q in model.tables:
            out.tables[q] = model.tables[q]
        if q in model.views:
            out.views[q] = model.views[q]
    out.schemas.update(q[0] for q in (*out.tables, *out.views))
    out.indexes = {k: ix for k, ix in model.indexes.items() if ix.table in wanted}
    out.constraints = {k: c for k, c in model.constraints.items() if k[:2] in wanted}
    out.triggers = {k: t for k, t in model.triggers.items() if k[:2] in wanted}
    return out


def verify_rollback(
    before: SchemaModel,
    after: SchemaModel,
    completed_nontransactional_steps: Sequence[str | dict[str, Any]] = (),
    *,
    revision: str | None = None,
    tables: Iterable[QName] = (),
) -> RollbackReport:
    """Compare the pre-revision snapshot with the post-rollback one (pure).

    ``completed_nontransactional_steps``: the SQL of each completed step, or
    the ledger's step entries (dicts with ``sql``).  Compare snapshots of the
    same scope (e.g. the tables the revision touches) on both sides.
    """
    sqls = tuple(s if isinstance(s, str) else str(s.get("sql", "")) for s in completed_nontransactional_steps)
    diffs = tuple(compare(before, after, compare_expressions=True))
    undo = inverse_steps(sqls, after, revision=revision)
    return RollbackReport(revision, not diffs, diffs, sqls, undo, tables=tuple(sorted(tables)))


def _created(sqls: Iterable[str]) -> list[tuple[ObjRef, str]]:
    """Objects each statement creates, with the statement (parsed with PostgreSQL's grammar)."""
    from alembic_guard.search_path import search_path
    from alembic_guard.sql.effects import analyze_all
    from alembic_guard.sql.parse import parse_text

    out: list[tuple[ObjRef, str]] = []
    for sql in sqls:
        try:
            analyzed = analyze_all(parse_text(sql, "<ledger step>"), search_path=search_path())
        except Exception:  # a truncated or unparsable step: nothing known to undo
            continue
        for a in analyzed:
            out.extend((ref, sql) for ref in a.effect.provides)
    return out


def inverse_steps(
    sqls: Sequence[str], live: SchemaModel, *, revision: str | None = None
) -> tuple[RepairStep, ...]:
    """The inverse of each completed step whose object is still in ``live`` (pure).

    An index is dropped ``CONCURRENTLY`` (outside a transaction); a table,
    column, constraint or view with a plain ``DROP``.  All are destructive.
    """
    steps: list[RepairStep] = []
    seen: set[ObjRef] = set()
    for ref, sql in _created(sqls):
        if ref in seen or not live.has(ref):
            continue
        if ref.kind == "index" and (ref.schema, ref.name) not in live.indexes:
            continue  # the index behind a key: it goes with its constraint
        seen.add(ref)
        step = _inverse(ref, sql, live, revision)
        if step is not None:
            steps.append(step)
    return tuple(steps)


def _inverse(ref: ObjRef, sql: str, live: SchemaModel, revision: str | None) -> RepairStep | None:
    by = f"revision {revision}" if revision else "a failed revision"
    flat = " ".join(sql.split())
    drift = make_drift("leftover-step", ref, None, flat[:120], f"left by {by}'s completed step")
    if ref.kind == "index":
        ix = live.indexes[(ref.schema, ref.name)]
        return RepairStep(
            drift,
            "drop_index",
            (ddl.drop_index_sql((ref.schema, ref.name), concurrently=True),),
            f"SHARE UPDATE EXCLUSIVE on {ix.table[1]}",
            table=ix.table,
            transactional=False,
            destructive=True,
        )
    table: QName | None = ref.table
    if ref.kind == "column" and table is not None and table in live.tables:
        return RepairStep(
            drift,
            "drop_column",
            (ddl.drop_column_sql(table, ref.name, if_exists=True),),
            f"ACCESS EXCLUSIVE on {table[1]}, briefly; the column's values are lost",
            table=table,
            destructive=True,
        )
    if ref.kind == "constraint" and table is not None:
        return RepairStep(
            drift,
            "drop_constraint",
            (ddl.drop_constraint_sql(table, ref.name, if_exists=True),),
            f"ACCESS EXCLUSIVE on {table[1]}, briefly",
            table=table,
            destructive=True,
        )
    if ref.kind == "relation":
        q = (ref.schema, ref.name)
        kind = "VIEW" if q in live.views else "TABLE"
        if kind == "VIEW" and live.views[q].materialized:
            kind = "MATERIALIZED VIEW"
        return RepairStep(
            drift,
            "drop_view" if kind != "TABLE" else "drop_table",
            (ddl.drop_table_sql(q, kind=kind, if_exists=True),),
            f"ACCESS EXCLUSIVE on {ref.name}; rows are lost"
            if kind == "TABLE"
            else "ACCESS EXCLUSIVE, briefly",
            table=q if kind == "TABLE" else None,
            destructive=True,
        )
    return None  # enum values, functions, ...: no safe automatic inverse


def undo_steps(
    records: Sequence[Any],
    live: SchemaModel,
    expected: SchemaModel,
    *,
    allow_destructive: bool = False,
) -> tuple[tuple[RepairStep, ...], tuple[Unrepaired, ...]]:
    """Inverses of the completed non-transactional steps of failed revisions (from ledger records).

    A revision that later succeeded needs no undo.  Objects the expected schema
    has are kept (the revisions want them anyway).  Without
    ``allow_destructive`` every inverse is listed as not repaired.
    """
    later_ok = {r.revision for r in records if r.status == "succeeded" and r.direction == "upgrade"}
    steps: list[RepairStep] = []
    seen: set[ObjRef] = set()
    for r in records:
        if r.status not in FAILED_STATUSES or r.revision in later_ok or not r.steps:
            continue
        sqls = [s.get("sql", "") for s in r.steps if isinstance(s, dict)]
        for step in inverse_steps(sqls, live, revision=r.revision):
            assert step.drift is not None
            if step.drift.ref in seen or expected.has(step.drift.ref):
                continue
            seen.add(step.drift.ref)
            steps.append(step)
    if allow_destructive:
        return tuple(steps), ()
    return (), tuple(Unrepaired(s.drift, NEEDS_DESTRUCTIVE) for s in steps if s.drift is not None)


def verify_after_failure(
    connection: Any,
    before: SchemaModel,
    *,
    revision: str | None = None,
    completed_steps: Sequence[str | dict[str, Any]] = (),
    tables: Iterable[QName] = (),
) -> RollbackReport:
    """The runtime's hook: snapshot the tables ``before`` covers again and verify (read-only).

    ``before`` should be ``snapshot(conn, tables=touched)`` taken just before
    the revision ran; ``completed_steps`` the ledger steps of the failed record;
    ``tables`` relations in scope besides those ``before`` holds (a table the
    revision was creating is absent from ``before`` but must be compared).
    Call it after the rollback, with no transaction open on ``connection``.
    """
    from alembic_guard.live.snapshot import snapshot

    tables = sorted(
        set(tables) | set(before.tables) | set(before.views) | {ix.table for ix in before.indexes.values()}
    )
    for sql in completed_steps:
        text = sql if isinstance(sql, str) else str(sql.get("sql", ""))
        for ref, _ in _created([text]):
            if ref.kind == "index":
                continue  # its table is in scope already when the revision touched it
            if ref.kind == "relation":
                tables.append((ref.schema, ref.name))
            elif ref.table is not None:
                tables.append(ref.table)
    scoped = sorted(set(tables))
    after = snapshot(connection, tables=scoped)
    return verify_rollback(before, after, completed_steps, revision=revision, tables=scoped)
