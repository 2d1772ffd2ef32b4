"""``--format json``: the report as a versioned document (``docs/report-schema.md``).

``{"schema": "alembic-guard/check", "version": 1, ...}``; keys in a fixed
order, lists in report order (revisions base first, findings by revision
then position), so the same inputs give the same bytes.
"""

from __future__ import annotations

from typing import Any

from alembic_guard.output.common import json_document
from alembic_guard.output.report import SCHEMA_NAME, SCHEMA_VERSION, Finding, Report, Section


def _finding(f: Finding) -> dict[str, Any]:
    loc = f.location
    return {
        "code": f.code,
        "rule_id": f.rule_id,
        "severity": f.severity,
        "message": f.message,
        "help": f.help,
        "source": f.source,
        "revision": f.revision,
        "location": {"file": loc.file, "line": loc.line, "col": loc.col} if loc else None,
        "sql": f.sql,
    }


def _section(s: Section) -> dict[str, Any]:
    return {"status": s.status, "note": s.note, "items": list(s.items)}


def document(report: Report) -> dict[str, Any]:
    """The JSON document as Python data."""
    s = report.summary
    drift = _section(report.drift)
    drift["items"] = [
        {"kind": d.kind, "object": d.object, "severity": d.severity, "message": d.message, "hint": d.hint}
        for d in report.drift_items
    ]
    return {
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "tool": {"name": "alembic-guard", "version": report.tool_version},
        "base": report.base,
        "strict": report.strict,
        "database": report.database,
        "database_heads": list(report.heads),
        "summary": {
            "revisions": s.revisions,
            "errors": s.errors,
            "warnings": s.warnings,
            "notes": s.notes,
            "failed": report.failed,
            "by_code": dict(s.by_code),
        },
        "revisions": [
            {
                "revision": r.revision,
                "down_revisions": list(r.down_revisions),
                "message": r.message,
                "file": r.file,
                "state": r.state,
                "rendered": r.rendered,
                "statements": [
                    {
                        "sql": st.sql,
                        "line": st.line,
                        "lock": st.lock,
                        "transactional": st.transactional,
                        "sizes": [
                            {
                                "table": z.table,
                                "total_bytes": z.total_bytes,
                                "row_estimate": z.row_estimate,
                                "rows": z.rows,
                            }
                            for z in st.sizes
                        ],
                    }
                    for st in r.statements
                ],
            }
            for r in report.revisions
        ],
        "findings": [_finding(f) for f in report.findings],
        "drift": drift,
        "autogenerate": _section(report.autogenerate),
    }


def render(report: Report) -> str:
    return json_document(document(report))
