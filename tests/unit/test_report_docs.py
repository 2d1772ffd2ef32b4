"""The guard-check docs stay in step with the code: every code has its section, every JSON field its row."""

from __future__ import annotations

import json
import re
from pathlib import Path

from alembic_guard.codes import family
from alembic_guard.output import render_check
from alembic_guard.output.report import (
    DriftItem,
    Finding,
    Location,
    Report,
    RevisionInfo,
    Section,
    StatementInfo,
    TableSize,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_check_code_has_a_section_in_guard_check_md():
    text = (DOCS / "guard-check.md").read_text(encoding="utf-8")
    for c in family("check"):
        assert f'<a id="{c.id}"></a>' in text, f"docs/guard-check.md lacks a section for {c.code} {c.id}"
        assert f"### {c.code} `{c.id}` ({c.severity})" in text
        assert c.summary in text


def _keys(value, prefix=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v, prefix)


def test_every_json_field_is_documented_in_report_schema_md():
    report = Report(
        "1",
        "r0",
        ("r1",),
        "postgresql://u:***@h/db",
        (
            RevisionInfo(
                "r1",
                ("r0",),
                "m",
                "v/r1.py",
                "pending",
                True,
                (StatementInfo("CREATE INDEX i ON t (a)", 3, "SHARE", True, (TableSize("t", 1, 2),)),),
            ),
        ),
        (
            Finding(
                "AG201",
                "require-concurrent-index",
                "error",
                "m",
                "h",
                "lint",
                "r1",
                Location("v/r1.py", 3),
                "s",
            ),
        ),
        Section("ok", "1 difference(s)"),
        (DriftItem("missing", "column t.a", "error", "m", "h"),),
    )
    doc = json.loads(render_check(report, "json"))
    documented = set(re.findall(r"`([a-z_$]+)`", (DOCS / "report-schema.md").read_text(encoding="utf-8")))
    dotted = set(re.findall(r"`(?:[a-z_]+(?:\[\])?\.)+([a-z_]+)`", (DOCS / "report-schema.md").read_text()))
    # by_code's keys are codes, not fields
    missing = sorted(
        k for k in set(_keys(doc)) if k not in documented | dotted and not re.fullmatch(r"AG\d{3}", k)
    )
    assert missing == []
