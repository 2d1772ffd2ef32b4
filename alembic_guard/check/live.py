"""Live checks of ``guard-check``: what the database says about the revisions.

Read-only on the database: ``alembic_version``, the ledger
(``alembic_guard_log``), one schema snapshot and ``pg_class`` sizes.  Takes
no lock beyond ACCESS SHARE on catalogs (inside one REPEATABLE READ READ
ONLY snapshot transaction for the schema).

- pending revisions pre-flighted against the live schema plus the effects of
  the pending revisions before them (a missing table or column → error);
- drift between the live schema and the replayed one of the applied
  revisions (through :mod:`alembic_guard.diff`, when it is installed);
- failed runs and lenient-mode debts from the ledger; applied revision files
  whose checksum changed since they ran;
- invalid indexes and never-validated constraints;
- beside every lock-heavy pending statement, the size of the table it locks.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from alembic_guard import changes as ch
from alembic_guard.check.static import RevisionRun, finding
from alembic_guard.errors import ConnectionFailed
from alembic_guard.importer.adopt import unsure_of
from alembic_guard.model import DEFAULT_SCHEMA, QName, SchemaModel, format_qname
from alembic_guard.output.report import (
    DriftItem,
    Finding,
    Location,
    RevisionInfo,
    Section,
    Severity,
    TableSize,
)
from alembic_guard.search_path import search_path, unqualified_schema
from alembic_guard.sql.statement import may_create

# SHARE and stronger block writes (and ACCESS EXCLUSIVE reads) for as long as the statement runs
_HEAVY = frozenset({"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"})
_LEDGER_FAILED = frozenset({"failed", "abandoned"})


@dataclass(slots=True)
class LiveResult:
    applied: set[str]
    heads: tuple[str, ...]
    findings: list[Finding] = field(default_factory=list)
    drift: Section = field(default_factory=lambda: Section("skipped"))
    drift_items: list[DriftItem] = field(default_factory=list)
    # (revision, statement index) -> sizes of the existing tables the statement locks heavily
    statement_sizes: dict[tuple[str, int], tuple[TableSize, ...]] = field(default_factory=dict)


def connect(url: str) -> Any:
    """A NullPool engine for ``url``; a malformed URL is a :class:`UsageError` (password masked)."""
    from alembic_guard.dburl import create_engine

    return create_engine(url)


def connection_error(url: str, e: Any) -> ConnectionFailed:
    from alembic_guard.dburl import connection_failed

    return connection_failed(url, e)


def check_live(
    conn: Any,
    script_dir: Any,
    runs: Sequence[RevisionRun],
    expected_models: dict[str, SchemaModel],
    *,
    version_table: str = "alembic_version",
    version_table_schema: str | None = None,
    outside: SchemaModel | None = None,
) -> LiveResult:
    """Run every live check on ``conn`` (read-only).

    ``version_table`` / ``version_table_schema``: as env.py passes them to
    ``context.configure``; the ledger is read from the version table's schema,
    where the runtime writes it.  ``outside``: the objects declared as coming
    from outside the set (:mod:`alembic_guard.outside`): where no revision
    makes them, they are not drift.
    """
    from alembic.runtime.migration import MigrationContext

    from alembic_guard.live.snapshot import BOOKKEEPING_TABLES, snapshot
    from alembic_guard.runtime.ledger import Ledger

    mc = MigrationContext.configure(
        conn, opts={"version_table": version_table, "version_table_schema": version_table_schema}
    )
    heads = tuple(sorted(mc.get_current_heads()))
    applied: set[str] = set()
    if heads:
        applied = {str(s.revision) for s in script_dir.revision_map.iterate_revisions(heads, "base")}
    conn.rollback()
    live = snapshot(conn, exclude=BOOKKEEPING_TABLES)
    live.drop_table(version_table_schema or unqualified_schema(), version_table)
    ledger = Ledger(conn, schema=version_table_schema)
    records = ledger.records() if ledger.exists() else []
    conn.rollback()

    result = LiveResult(applied, heads)
    result.findings.extend(_preflight(runs, applied, live))
    result.findings.extend(_ledger(runs, applied, records))
    unadopted = _unadopted(conn, script_dir, runs, expected_models, live) if not heads else None
    if unadopted is not None:
        # every table would be "extra" against an empty expected schema, with advice to drop
        # tables full of rows: what guard-adopt finds is the useful report instead
        result.findings.append(unadopted)
        result.drift = Section("skipped", "not checked: the database is not adopted (see AG612)")
    else:
        _drift(result, runs, applied, expected_models, live, search_path(), outside)
        _count_rows_of_extra_tables(conn, result)
    if result.drift.status != "ok":
        # the drift kinds invalid-index / not-valid-constraint cover these when drift runs
        result.findings.extend(_catalog_state(live))
    targets = _heavy_targets(runs, applied, live)
    sizes = _sizes(conn, {q for qs in targets.values() for q in qs})
    result.statement_sizes = {
        key: tuple(sizes[q] for q in qs if q in sizes)
        for key, qs in targets.items()
        if any(q in sizes for q in qs)
    }
    conn.rollback()
    return result


def _preflight(runs: Sequence[RevisionRun], applied: set[str], live: SchemaModel) -> list[Finding]:
    """Pending revisions, in order, against the live schema plus the pending ones before them."""
    from alembic_guard.runtime.preflight import check as requirements_check

    model = live.copy()
    out: list[Finding] = []
    for run in runs:
        if run.revision in applied:
            continue
        for a in run.analyzed:
            for p in requirements_check([a], model):
                out.append(
                    finding(
                        "AG611",
                        f"pending revision {run.revision} requires {p.ref.describe()}, which the database "
                        "does not have and no earlier pending revision provides",
                        revision=run.revision,
                        location=run.location(a.statement),
                        sql=a.statement.text,
                        source="preflight",
                    )
                )
            for change in a.effect.changes:
                ch.apply(model, change)
    return out


def _sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None


def _rollback_note(report: dict[str, Any] | None) -> str:
    """The runner's rollback verification of a failed record, as the end of its finding."""
    if not report:
        return ""
    if report.get("clean"):
        return "; rollback verified: schema as before the revision"
    left = "; ".join(str(d).split(":")[0] for d in report.get("differences", ()))
    return f"; rollback NOT complete ({left}): alembic guard-repair --allow-destructive plans the undo"


def _ledger(runs: Sequence[RevisionRun], applied: set[str], records: Sequence[Any]) -> list[Finding]:
    last: dict[str, Any] = {}
    last_ok: dict[str, Any] = {}
    for rec in records:  # in insertion order: the last one wins
        if rec.direction != "upgrade":
            continue
        last[rec.revision] = rec
        if rec.status == "succeeded":
            last_ok[rec.revision] = rec
    out: list[Finding] = []
    for run in runs:
        rev = run.revision
        rec = last.get(rev)
        where = Location(run.file, 1, 1)
        if rev not in applied and rec is not None and rec.status in _LEDGER_FAILED:
            code = f"SQLSTATE {rec.sqlstate}: " if rec.sqlstate else ""
            when = rec.started_at.strftime("%Y-%m-%d %H:%M:%S") if rec.started_at else "?"
            error = " ".join(str(rec.error or "no error recorded").split())
            error += _rollback_note((rec.events or {}).get("rollback"))
            out.append(
                finding(
                    "AG621",
                    f"revision {rev} {rec.status} at {when} (attempt {rec.attempt}, host {rec.host}): "
                    f"{code}{error}",
                    revision=rev,
                    location=where,
                    sql=rec.statement,
                    source="ledger",
                )
            )
        ok = last_ok.get(rev)
        if rev in applied and ok is not None:
            for debt in ok.debts or ():
                what = " ".join(str(debt.get(k, "")) for k in ("op", "target") if debt.get(k))
                out.append(
                    finding(
                        "AG622",
                        f"revision {rev} skipped {what or 'an operation'}: "
                        f"{debt.get('reason', 'no reason recorded')}",
                        revision=rev,
                        location=where,
                        source="ledger",
                    )
                )
            current = _sha256(run.path)
            if ok.checksum and current and ok.checksum != current:
                out.append(
                    finding(
                        "AG603",
                        f"revision {rev} was applied from a file with checksum {ok.checksum[:12]}, "
                        f"the file now has {current[:12]}",
                        revision=rev,
                        location=where,
                        source="checksum",
                    )
                )
    return out


def _catalog_state(live: SchemaModel) -> list[Finding]:
    out: list[Finding] = []
    for key in sorted(live.indexes):
        ix = live.indexes[key]
        if not ix.valid:
            out.append(
                finding(
                    "AG641",
                    f"index {format_qname(ix.qname)} on {format_qname(ix.table)} is INVALID",
                    source="live",
                )
            )
    for ckey in sorted(live.constraints):
        con = live.constraints[ckey]
        if not con.validated:
            out.append(
                finding(
                    "AG642",
                    f"constraint {con.name} on {format_qname(con.table)} is NOT VALID",
                    source="live",
                )
            )
    return out


def _drift(
    result: LiveResult,
    runs: Sequence[RevisionRun],
    applied: set[str],
    expected_models: dict[str, SchemaModel],
    live: SchemaModel,
    search_path: tuple[str, ...] = (DEFAULT_SCHEMA,),
    outside: SchemaModel | None = None,
) -> None:
    try:
        diff = importlib.import_module("alembic_guard.diff")
    except ImportError:
        result.drift = Section("unavailable", "not available (alembic_guard.diff is not installed)")
        return
    unreadable = [
        r.revision for r in runs if r.revision in applied and (r.rendered.sql is None or r.parse_error)
    ]
    if unreadable:
        result.drift = Section(
            "unavailable", f"not checked: applied revision(s) {', '.join(unreadable)} could not be rendered"
        )
        return
    last_applied = [r.revision for r in runs if r.revision in applied]
    expected = expected_models[last_applied[-1]] if last_applied else SchemaModel()
    # drift kinds carry their own codes (AG5xx, declared in alembic_guard.diff): a finding each
    items: list[DriftItem] = []
    # objects the applied revisions' dynamic SQL may have made: replay cannot know them
    dynamic = [p for r in runs if r.revision in applied for a in r.analyzed for p in a.effect.dynamic]
    # objects the last revision touching them dropped only if a condition held: either state is
    # what the revisions give (guard-adopt leaves them unjudged the same way)
    doubt = set(unsure_of(a for r in runs if r.revision in applied for a in r.analyzed).maybe_dropped)
    for d in diff.compare(expected, live, search_path=search_path):
        if (dynamic and may_create(dynamic, d.ref)) or d.ref in doubt:
            continue
        if outside is not None and outside.has(d.ref) and not expected.has(d.ref):
            continue  # declared as made outside the set, and no revision makes it
        severity: Severity = "warning" if d.severity == "warning" else "error"
        items.append(DriftItem(d.kind, d.ref.describe(), severity, d.message, d.hint))
        code, _, kind_id = d.kind.partition(" ")
        result.findings.append(
            Finding(
                code=code,
                rule_id=kind_id,
                severity=severity,
                message=f"{d.ref.describe()}: {d.message}",
                help=d.hint,
                source="drift",
            )
        )
    items.sort(key=lambda i: (i.object, i.kind, i.message))
    result.drift_items = items
    result.drift = Section("ok", f"{len(items)} difference(s)")


def _unadopted(
    conn: Any,
    script_dir: Any,
    runs: Sequence[RevisionRun],
    expected_models: dict[str, SchemaModel],
    live: SchemaModel,
) -> Finding | None:
    """AG612 when a database with no Alembic version holds objects the revisions create.

    Says what ``guard-adopt`` finds (revisions present, partly present, absent) when the
    revisions were written by guard-import; else which of the revisions' tables exist.
    Read-only (the legacy table ``schema_migrations`` is read when it exists).
    """
    if not runs or runs[-1].revision not in expected_models:
        return None
    wanted = expected_models[runs[-1].revision]
    present = sorted(q for q in wanted.tables if q in live.tables)
    if not present:
        return None  # an empty (or unrelated) database: upgrade head builds everything
    summary = f"{len(present)} of the revisions' {len(wanted.tables)} table(s) exist"
    try:
        from alembic_guard.commands.adopt import read_legacy_rows, revision_history
        from alembic_guard.importer import adopt as decide_mod
        from alembic_guard.importer import writer

        revisions = writer.read_revisions(script_dir)
        if any(r.imported for r in revisions):
            legacy = read_legacy_rows(conn, "schema_migrations")
            conn.rollback()
            # judged with the history, as guard-adopt judges it
            changes, unsure = revision_history(script_dir, revisions)
            decision = decide_mod.decide(revisions, live, legacy, history=changes, unsure=unsure)
            by_status: dict[str, list[str]] = {}
            for v in decision.verdicts:
                by_status.setdefault(v.status, []).append(v.revision.revision)
            parts = [
                f"{k} {', '.join(by_status[k])}"
                for k in ("present", "partial", "absent", "unverifiable")
                if k in by_status
            ]
            stamp = (
                f"it would stamp {decision.stamp} ({decision.adopted} of {len(revisions)})"
                if decision.stamp
                else "it would stamp nothing (the first revision is not fully present)"
            )
            summary = f"guard-adopt finds {'; '.join(parts)}: {stamp}"
    except Exception:  # a history guard-adopt cannot read: the table count still says enough
        conn.rollback()
    tables = ", ".join(format_qname(q) for q in present[:5]) + (", …" if len(present) > 5 else "")
    return finding(
        "AG612",
        f"the database has no Alembic version but holds {tables}: {summary}",
        source="live",
    )


def _count_rows_of_extra_tables(conn: Any, result: LiveResult) -> None:
    """Say how many rows a table no revision creates holds, beside any advice to drop it.  Read-only."""
    extra = [i for i, item in enumerate(result.drift_items) if item.kind.endswith(" extra-table")]
    if not extra:
        return
    names = {result.drift_items[i].object.removeprefix("relation "): i for i in extra}
    tables = {}
    for name in names:
        schema, _, table = name.rpartition(".")
        tables[(schema or unqualified_schema(), table)] = name
    sizes = _sizes(conn, set(tables))
    conn.rollback()
    for q, name in tables.items():
        size = sizes.get(q)
        if size is None or (size.rows != "unknown" and size.row_estimate <= 0):
            continue
        i = names[name]
        item = result.drift_items[i]
        rows = size.describe_rows() if size.rows != "unknown" else "rows (count unknown)"
        held = f"; it holds {rows}: dropping it deletes them"
        hint = (
            "keep it and add a revision that creates it (it holds data); drop it only after moving its rows"
        )
        result.drift_items[i] = replace(item, message=item.message + held, hint=hint)
        for j, f in enumerate(result.findings):
            if f.source == "drift" and f.message == f"{item.object}: {item.message}":
                result.findings[j] = replace(f, message=f.message + held, help=hint)


def _heavy_targets(
    runs: Sequence[RevisionRun], applied: set[str], live: SchemaModel
) -> dict[tuple[str, int], list[QName]]:
    """Existing tables each pending statement locks with SHARE or stronger."""
    from alembic_guard.lint import lock_targets

    out: dict[tuple[str, int], list[QName]] = {}
    for run in runs:
        if run.revision in applied:
            continue
        for i, a in enumerate(run.analyzed):
            qs = list(
                dict.fromkeys(
                    q for q, level in lock_targets(a) if level in _HEAVY and live.relation_exists(*q)
                )
            )
            if qs:
                out[(run.revision, i)] = qs
    return out


# a table whose planner statistics say nothing (never analyzed, or analyzed while empty) is
# counted instead, up to this many rows: enough to tell "empty" from "busy", cheap to read
_COUNT_BOUND = 10_000


def _sizes(conn: Any, tables: set[QName]) -> dict[QName, TableSize]:
    """Size on disk and row estimate of ``tables``: one query on ``pg_class``.  Read-only.

    ``reltuples`` is -1 before the first VACUUM / ANALYZE (and 0 when analyzed empty), so a
    table filled since would read as "~0 rows": such tables are counted, reading at most
    :data:`_COUNT_BOUND` rows each (ACCESS SHARE, like any SELECT).
    """
    from sqlalchemy import bindparam, text
    from sqlalchemy.exc import DBAPIError

    from alembic_guard.quoting import quote_ident

    if not tables:
        return {}
    keys = sorted(tables)
    rows = conn.execute(
        text(
            """
            SELECT n.nspname, c.relname, pg_total_relation_size(c.oid), c.reltuples::bigint
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname || '.' || c.relname IN :names
            """
        ).bindparams(bindparam("names", expanding=True)),
        {"names": [f"{s}.{t}" for s, t in keys]},
    )
    out: dict[QName, TableSize] = {}
    for s, t, size, tuples in rows.all():
        estimate = int(tuples) if tuples is not None else -1
        if estimate > 0:
            out[(s, t)] = TableSize(format_qname((s, t)), int(size or 0), estimate)
            continue
        relation = f"{quote_ident(s)}.{quote_ident(t)}"
        try:
            counted = conn.execute(
                text(f"SELECT count(*) FROM (SELECT 1 FROM {relation} LIMIT {_COUNT_BOUND}) AS r")
            ).scalar_one()
        except DBAPIError:  # no SELECT privilege: say so rather than guess
            conn.rollback()
            out[(s, t)] = TableSize(format_qname((s, t)), int(size or 0), -1, "unknown")
            continue
        kind = "at-least" if counted >= _COUNT_BOUND else "count"
        out[(s, t)] = TableSize(format_qname((s, t)), int(size or 0), int(counted), kind)
    return out


def annotate(infos: Sequence[RevisionInfo], live: LiveResult) -> list[RevisionInfo]:
    """Revision states from the database, and sizes beside the lock-heavy pending statements."""
    out = []
    for info in infos:
        state = "applied" if info.revision in live.applied else "pending"
        statements = tuple(
            replace(st, sizes=live.statement_sizes[(info.revision, i)])
            if (info.revision, i) in live.statement_sizes
            else st
            for i, st in enumerate(info.statements)
        )
        out.append(replace(info, state=state, statements=statements))
    return out
