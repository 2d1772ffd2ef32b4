"""The planner on SQL fixture directories: tests/fixtures/plan/<case>/*.sql + expected_plan.txt.

``expected_plan.txt`` lists the planned order as ``file:line`` (``[moved]`` /
``[split]`` marks), then the problems: ``AG102 <file:line:col> <missing object>``
or ``AG101 statements=<file:line:col>,...``.  A new case is a new directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alembic_guard.plan import Plan, plan_directory

CASES = Path(__file__).parent.parent / "fixtures" / "plan"
LEGACY = Path(__file__).parent.parent.parent / "alembic" / "legacy_sql"
# a case directory holding only expected_plan.txt plans these SQL files instead
SOURCES = {"seed_interleaving": LEGACY}


def summarize(result: Plan) -> list[str]:
    lines = []
    for step in result.steps:
        s = step.statement
        mark = " [split]" if step.split else " [moved]" if step.moved else ""
        lines.append(f"{s.file}:{s.line}{mark}")
    for p in result.problems:
        if p.code == "AG101":
            lines.append(f"AG101 statements={','.join(s.where for s in p.statements)}")
        elif p.code == "AG102":
            lines.append(f"AG102 {p.where} {p.missing}")
        else:
            lines.append(f"{p.code} {p.where}")
    return lines


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_plan_case(case: str) -> None:
    expected = (CASES / case / "expected_plan.txt").read_text().split("\n")
    actual = summarize(plan_directory(SOURCES.get(case, CASES / case)))
    assert actual == [line for line in expected if line.strip()]
