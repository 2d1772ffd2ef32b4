"""Golden outputs of ``guard-check`` in every format over the fixture project (tests/fixtures/report/project).

``ALEMBIC_GUARD_UPDATE_GOLDEN=1`` rewrites the files; review the diff before committing.
The tool version is normalized (``VERSION``); paths are relative by design.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from alembic.config import Config

from alembic_guard.check import CheckOptions, collect
from alembic_guard.output import CHECK_FORMATS, render_check

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "report"
PROJECT = FIXTURES / "project"
GOLDEN = FIXTURES / "golden"
SUFFIX = {"text": "txt", "json": "json", "markdown": "md", "sarif": "sarif"}


UPDATE = os.environ.get("ALEMBIC_GUARD_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def report():
    cwd = os.getcwd()
    # ALEMBIC_GUARD_* variables are runtime settings; the update switch is not one
    saved = os.environ.pop("ALEMBIC_GUARD_UPDATE_GOLDEN", None)
    os.chdir(PROJECT)  # alembic.ini's prepend_sys_path is relative to the working directory
    try:
        found = collect(Config(str(PROJECT / "alembic.ini")), CheckOptions(offline=True))
    finally:
        os.chdir(cwd)
        if saved is not None:
            os.environ["ALEMBIC_GUARD_UPDATE_GOLDEN"] = saved
    return dataclasses.replace(found, tool_version="VERSION")


@pytest.mark.parametrize("fmt", sorted(CHECK_FORMATS))
def test_golden(report, fmt, monkeypatch):
    monkeypatch.delenv("ALEMBIC_GUARD_DOCS_URL", raising=False)
    out = render_check(report, fmt)
    assert str(PROJECT) not in out and "/tmp" not in out  # no absolute paths
    golden = GOLDEN / f"check.{SUFFIX[fmt]}"
    if UPDATE:
        golden.write_text(out, encoding="utf-8")
    assert golden.exists(), f"{golden} missing: run with ALEMBIC_GUARD_UPDATE_GOLDEN=1"
    assert out == golden.read_text(encoding="utf-8")


def test_fixture_findings_are_the_intended_ones(report):
    """The fixture set exercises what the goldens must show: a plain index on a table created in an
    earlier revision (flagged) and in the same one (not), and a column no earlier revision adds."""
    got = [(f.code, f.revision, f.location.line if f.location else None) for f in report.findings]
    assert got == [
        ("AG201", "b2f0c0de0002", 16),
        ("AG201", "c3f0c0de0003", 15),
        ("AG601", "c3f0c0de0003", 15),
    ]
    d4 = report.revisions[-1]
    concurrent = [s for s in d4.statements if "CONCURRENTLY" in s.sql]
    assert [s.transactional for s in concurrent] == [False]
    assert report.failed and report.summary.errors == 3


def test_json_is_deterministic_and_versioned(report):
    first, second = render_check(report, "json"), render_check(report, "json")
    assert first == second
    doc = json.loads(first)
    assert (doc["schema"], doc["version"]) == ("alembic-guard/check", 1)
    assert doc["summary"]["by_code"] == {"AG201": 2, "AG601": 1}
