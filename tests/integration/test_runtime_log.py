"""The run's log reads in order and agrees with the ledger (issue 12, item 11)."""

from __future__ import annotations

import json
import re

import pytest

from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db


def test_applied_is_logged_before_the_next_revision_and_durations_agree(tmp_path, pg_url):
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision("o1", None, 'op.create_table("one", sa.Column("id", sa.Integer, primary_key=True))')
    project.add_revision("o2", "o1", 'op.create_table("two", sa.Column("id", sa.Integer, primary_key=True))')
    run = project.run("upgrade", "head")
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()

    def at(pattern: str) -> int:
        return next(i for i, line in enumerate(lines) if re.search(pattern, line))

    assert (
        at(r"Running upgrade  -> o1")
        < at(r"applied o1 in")
        < at(r"Running upgrade o1 -> o2")
        < at(r"applied o2")
    )
    logged = {m[1]: int(m[2]) for m in re.finditer(r"applied (\w+) in (\d+) ms", run.stderr)}
    status = json.loads(project.run("guard-status", "--format", "json").stdout)
    assert {r["revision"]: r["duration_ms"] for r in status["revisions"]} == logged
