"""``--format sarif``: SARIF 2.1.0 for code-scanning services (GitHub, GitLab, Azure DevOps).

One run; ``tool.driver.rules`` lists every lint rule (from the registry) and
every ``guard-check`` code and every drift kind, each with a ``helpUri`` to its documentation page
under :data:`DOCS_URL` (or the report's ``docs_url``: ``guard-check`` sets it
from ``ALEMBIC_GUARD_DOCS_URL``).  Results
point at the revision file and the line of the op that emitted the
statement; project-wide findings point at the Alembic configuration file.
"""

from __future__ import annotations

from typing import Any

from alembic_guard.output.common import json_document
from alembic_guard.output.report import Finding, Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
# SARIF wants an absolute helpUri; the documentation's home, overridable for forks and mirrors
DOCS_URL = "https://github.com/alembic-guard/alembic-guard/blob/main/"


def _docs_url(base: str | None = None) -> str:
    base = base or DOCS_URL
    return base if base.endswith("/") else base + "/"


def rules(docs_url: str | None = None) -> list[dict[str, Any]]:
    """``tool.driver.rules``: lint rules then guard-check codes, by code."""
    from alembic_guard.check.codes import all_codes
    from alembic_guard.lint import all_rules

    docs = _docs_url(docs_url)
    out: list[dict[str, Any]] = []
    for r in all_rules():
        out.append(
            {
                "id": r.code,
                "name": r.id,
                "shortDescription": {"text": r.message},
                "fullDescription": {"text": r.problem.strip() or r.message},
                "help": {"text": r.help},
                "helpUri": docs + r.doc_path,
                "defaultConfiguration": {"level": r.severity},
            }
        )
    for c in all_codes():
        out.append(
            {
                "id": c.code,
                "name": c.id,
                "shortDescription": {"text": c.title},
                "fullDescription": {"text": c.title},
                "help": {"text": c.help},
                "helpUri": docs + c.doc_path,
                "defaultConfiguration": {"level": c.severity},
            }
        )
    for k in _drift_kinds():
        out.append(
            {
                "id": k.code,
                "name": k.id,
                "shortDescription": {"text": f"Schema drift ({k.id}): {k.harm}."},
                "fullDescription": {"text": f"The live schema differs from the applied revisions: {k.harm}."},
                "help": {"text": k.hint},
                "helpUri": docs + "docs/guard-check.md#drift",
                "defaultConfiguration": {"level": k.severity},
            }
        )
    out.sort(key=lambda r: r["id"])
    return out


def _drift_kinds() -> list[Any]:
    """The drift kinds of :mod:`alembic_guard.diff` (``AG5xx``), when that module is installed."""
    import importlib

    try:
        diff = importlib.import_module("alembic_guard.diff")
    except ImportError:
        return []
    return sorted(diff.DRIFT_KINDS.values(), key=lambda k: k.code)


def _result(f: Finding, index: dict[str, int], config_file: str) -> dict[str, Any]:
    loc = f.location
    uri, line, col = (loc.file, loc.line, loc.col) if loc else (config_file, 1, 1)
    text = f.message if not f.revision or f.revision in f.message else f"revision {f.revision}: {f.message}"
    result: dict[str, Any] = {
        "ruleId": f.code,
        "level": f.severity,
        "message": {"text": f"{text}\nhelp: {f.help}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": max(line, 1), "startColumn": max(col, 1)},
                }
            }
        ],
        "properties": {"ruleName": f.rule_id, "source": f.source},
    }
    if f.code in index:
        result["ruleIndex"] = index[f.code]
    if f.revision:
        result["properties"]["revision"] = f.revision
    if f.sql:
        result["properties"]["sql"] = f.sql
    return result


def document(report: Report) -> dict[str, Any]:
    rule_list = rules(report.docs_url)
    index = {r["id"]: i for i, r in enumerate(rule_list)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "alembic-guard",
                        "version": report.tool_version,
                        "informationUri": _docs_url(report.docs_url) + "docs/guard-check.md",
                        "rules": rule_list,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": [_result(f, index, report.config_file) for f in report.findings],
            }
        ],
    }


def render(report: Report) -> str:
    return json_document(document(report))
