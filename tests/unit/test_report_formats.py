"""SARIF 2.1.0 structure, the Markdown size limit and exit semantics, over reports built as data."""

from __future__ import annotations

import json

from alembic_guard.codes import family
from alembic_guard.diff import DRIFT_KINDS
from alembic_guard.lint import all_rules
from alembic_guard.output import render_check
from alembic_guard.output.check_markdown import LIMIT
from alembic_guard.output.report import Finding, Location, Report, RevisionInfo, Section, StatementInfo


def _finding(i: int, severity: str = "error", located: bool = True) -> Finding:
    return Finding(
        code="AG201",
        rule_id="require-concurrent-index",
        severity=severity,  # type: ignore[arg-type]
        message=f"index ix_{i} on table t{i}: blocks writes",
        help="use CONCURRENTLY",
        source="lint",
        revision=f"r{i}" if located else None,
        location=Location(f"migrations/versions/{i:04d}_r{i}.py", 10 + i, 1) if located else None,
        sql=f"CREATE INDEX ix_{i} ON t{i} (a)",
    )


def _report(findings: list[Finding], revisions: int = 1, strict: bool = False) -> Report:
    revs = tuple(
        RevisionInfo(
            f"r{i}",
            (),
            f"revision {i}",
            f"migrations/versions/{i:04d}_r{i}.py",
            "unknown",
            True,
            tuple(
                StatementInfo(f"CREATE INDEX ix_{i}_{j} ON t{i} (a{j}) -- " + "x" * 200, 10 + j, "SHARE")
                for j in range(20)
            ),
        )
        for i in range(revisions)
    )
    return Report("1.0", None, (), None, revs, tuple(findings), Section("skipped", "offline"), strict=strict)


def test_sarif_has_the_structure_the_spec_requires():
    doc = json.loads(
        render_check(_report([_finding(1), _finding(2, "warning"), _finding(3, located=False)]), "sarif")
    )
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    assert isinstance(doc["runs"], list) and len(doc["runs"]) == 1
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["name"] == "alembic-guard"
    ids = [r["id"] for r in driver["rules"]]
    drift = {k.code for k in DRIFT_KINDS.values()}
    assert ids == sorted({r.code for r in all_rules()} | {c.code for c in family("check")} | drift)
    for rule in driver["rules"]:
        assert rule["helpUri"].startswith("https://")
        assert rule["helpUri"].endswith(".md") or "docs/guard-check.md#" in rule["helpUri"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    results = doc["runs"][0]["results"]
    assert [r["level"] for r in results] == ["error", "warning", "error"]
    for r in results:
        assert r["ruleId"] in ids and driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["message"]["text"]
        (loc,) = r["locations"]
        phys = loc["physicalLocation"]
        assert phys["artifactLocation"]["uri"] and not phys["artifactLocation"]["uri"].startswith("/")
        assert phys["region"]["startLine"] >= 1 and phys["region"]["startColumn"] >= 1
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 11
    # a project-wide finding points at the configuration file
    assert results[2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "alembic.ini"


def test_markdown_fits_a_pr_comment_and_keeps_details_per_revision():
    small = render_check(_report([_finding(1)], revisions=3), "markdown")
    assert small.count("<details>") == 3 == small.count("</details>")
    assert "```sql" in small and "| 10 | SHARE |" in small
    big = render_check(_report([_finding(i) for i in range(2000)], revisions=120), "markdown")
    assert len(big) <= LIMIT
    assert "SQL listings and statement tables left out" in big
    assert big.count("<details>") == 120 == big.count("</details>")
    assert "more (see the full report" in big


def test_failed_follows_errors_and_strict():
    assert _report([_finding(1)]).failed
    assert not _report([_finding(1, "warning")]).failed
    assert _report([_finding(1, "warning")], strict=True).failed
    assert not _report([], strict=True).failed
    text = render_check(_report([_finding(1, "warning")], strict=True), "text")
    assert text.splitlines()[-1] == "FAILED: 0 error(s), 1 warning(s) (--strict: warnings count as errors)"
