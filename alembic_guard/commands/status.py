"""``alembic guard-status``: each revision applied / pending / failed, with timings and the last error.

Read-only: reads ``alembic_version`` and ``alembic_guard_log``; takes no lock.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from alembic_guard.commands import add_version_table_arguments
from alembic_guard.errors import ConnectionFailed, PrivilegeMissing, UsageError

NAME = "guard-status"
HELP = "Show each revision as applied, pending or failed, with timings and the last error from the ledger."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_version_table_arguments(parser)


def collect(
    config: Any, url: str, version_table: str = "alembic_version", schema: str | None = None
) -> dict[str, Any]:
    """The status document (what ``--format json`` prints)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import exc

    from alembic_guard.dburl import create_engine
    from alembic_guard.redact import error_line, mask_url, scrub
    from alembic_guard.runtime.ledger import Ledger, LedgerRecord

    try:
        script = ScriptDirectory.from_config(config)
    except Exception as e:  # alembic raises CommandError for a missing script_location
        from alembic_guard.cli import explain_failure

        explained = explain_failure(e, config)  # an unreadable alembic.ini / pyproject.toml, named
        if explained is not None:
            raise explained from e
        raise UsageError(
            f"cannot read the migration scripts: {e}", hint="check script_location in alembic.ini"
        )
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            mc = MigrationContext.configure(
                conn, opts={"version_table": version_table, "version_table_schema": schema}
            )
            heads = tuple(mc.get_current_heads())
            ledger = Ledger(conn, schema=schema)
            records = ledger.records() if ledger.exists() else []
            conn.rollback()
    except exc.DBAPIError as e:
        from alembic_guard.cli import translate_exception

        missing = translate_exception(e)  # a privilege the role lacks (42501), named
        if isinstance(missing, PrivilegeMissing):
            raise missing from None
        raise ConnectionFailed(
            f"cannot read the migration state from {mask_url(url)}: {error_line(e, known=url)}",
            hint="check DATABASE_URL / sqlalchemy.url, that the server runs, and the credentials",
        )
    finally:
        engine.dispose()

    applied = {s.revision for s in script.revision_map.iterate_revisions(heads, "base")} if heads else set()
    last: dict[str, LedgerRecord] = {}
    last_ok: dict[str, LedgerRecord] = {}
    for record in records:
        last[record.revision] = record
        if record.status == "succeeded" and record.direction == "upgrade":
            last_ok[record.revision] = record
    revisions = []
    for sc in reversed(list(script.walk_revisions())):
        rev = sc.revision
        rec = last.get(rev)
        if rev in applied:
            state = "applied"
        elif rec is not None and rec.status in ("failed", "abandoned", "running"):
            state = rec.status if rec.status != "abandoned" else "failed"
        else:
            state = "pending"
        ok = last_ok.get(rev)
        revisions.append(
            {
                "revision": rev,
                "message": (sc.doc or "").strip().splitlines()[0] if sc.doc else "",
                "state": state,
                "applied_at": ok.finished_at.isoformat() if ok and ok.finished_at else None,
                "duration_ms": ok.duration_ms if ok else None,
                "attempts": sum(1 for r in records if r.revision == rev),
                "last_status": rec.status if rec else None,
                "sqlstate": rec.sqlstate if rec and rec.status != "succeeded" else None,
                "error": scrub(rec.error, known=url)
                if rec and rec.error and rec.status != "succeeded"
                else None,
                "statement": rec.statement if rec and rec.status != "succeeded" else None,
                "debts": ok.debts if ok else [],
                # the runner's rollback verification of the last failed attempt
                "rollback": (rec.events or {}).get("rollback") if rec and rec.status != "succeeded" else None,
            }
        )
    return {
        "database": mask_url(url),
        "heads": list(heads),
        "script_heads": list(script.get_heads()),
        "ledger": bool(records),
        "revisions": revisions,
        "summary": {
            s: sum(1 for r in revisions if r["state"] == s) for s in ("applied", "pending", "failed")
        },
    }


def rollback_lines(report: dict[str, Any] | None) -> list[str]:
    """A failed record's rollback verification (``events.rollback``), as text lines."""
    if not report:
        return []
    tables = ", ".join(report.get("tables", ())) or "the touched tables"
    if report.get("clean"):
        return [f"rollback verified: the schema of {tables} equals the pre-revision snapshot"]
    lines = [
        f"rollback NOT complete: {len(report.get('differences', ()))} difference(s) in {tables} "
        "(alembic guard-repair plans the undo)"
    ]
    lines.extend(f"  {d}" for d in report.get("differences", ()))
    lines.extend(
        f"  committed on its own: {' '.join(s.split())[:160]}" for s in report.get("nontransactional", ())
    )
    lines.extend(f"  undo: {sql}" for sql in report.get("undo", ()))
    return lines


def render_text(doc: dict[str, Any]) -> str:
    lines = [
        f"database {doc['database']} at {', '.join(doc['heads']) or 'base'}"
        f" (scripts head: {', '.join(doc['script_heads']) or 'none'})"
    ]
    for r in doc["revisions"]:
        timing = f"{r['duration_ms']} ms" if r["duration_ms"] is not None else ""
        line = f"  {r['state']:<8} {r['revision']:<14} {timing:>9}  {r['message']}"
        lines.append(line.rstrip())
        if r["error"]:
            code = f"SQLSTATE {r['sqlstate']}: " if r["sqlstate"] else ""
            lines.append(
                f"           last error ({r['last_status']}, {r['attempts']} attempt(s)): {code}{r['error']}"
            )
            if r["statement"]:
                lines.append(f"           statement: {' '.join(r['statement'].split())[:200]}")
            lines.extend(f"           {line}" for line in rollback_lines(r.get("rollback")))
        for d in r["debts"]:
            lines.append(f"           debt: {d.get('op', '')} {d.get('target', '')}: {d.get('reason', '')}")
    s = doc["summary"]
    lines.append(f"{s['applied']} applied, {s['pending']} pending, {s['failed']} failed")
    return "\n".join(lines)


def run(config: Any, args: argparse.Namespace) -> int:
    from alembic_guard.cli import database_url

    url = database_url(config)
    if not url:
        raise UsageError(
            "no database URL: DATABASE_URL is not set and alembic.ini has no sqlalchemy.url",
            hint="export DATABASE_URL=postgresql://user:password@host/dbname",
        )
    doc = collect(config, url, args.version_table, args.version_table_schema)
    if args.format == "json":
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(render_text(doc))
    return 0
