"""``--format sarif``: SARIF 2.1.0 for code-scanning services (GitHub, GitLab, Azure DevOps).

One run; ``tool.driver.rules`` lists every lint rule, every drift kind and
every ``guard-check`` code (from :mod:`alembic_guard.codes`), each with a
``helpUri`` to its documentation page under :data:`DOCS_URL` (or the
report's ``docs_url``: ``guard-check`` sets it from
``ALEMBIC_GUARD_DOCS_URL``).  Results point at the revision file and the
line of the op that emitted the statement; project-wide findings point at
the Alembic configuration file.
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
    """``tool.driver.rules``: every code ``guard-check`` can report (lint, drift, its own), by code."""
    from alembic_guard.codes import all_codes
    from alembic_guard.lint import get_rule

    docs = _docs_url(docs_url)
    out: list[dict[str, Any]] = []
    for c in all_codes():
        if c.family == "plan":  # guard-plan's problems; guard-check never reports them
            continue
        short, full = c.summary, c.summary
        if c.family == "lint":
            rule = get_rule(c.code)
            full = (rule.problem.strip() if rule else "") or c.summary
        elif c.family == "drift":
            short = f"Schema drift ({c.id}): {c.summary}."
            full = f"The live schema differs from the applied revisions: {c.summary}."
        out.append(
            {
                "id": c.code,
                "name": c.id,
                "shortDescription": {"text": short},
                "fullDescription": {"text": full},
                "help": {"text": c.help},
                "helpUri": docs + c.doc_path,
                "defaultConfiguration": {"level": c.severity},
            }
        )
    return out


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
