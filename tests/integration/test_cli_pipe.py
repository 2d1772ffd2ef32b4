"""A reader that closes our stdout (``alembic guard-status | head -c 1500``) ends the output quietly.

Issue 10: exit 3 and a ``BrokenPipeError`` traceback.  The read end of the pipe is closed before
the command writes anything, so every write meets a closed pipe, deterministically.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from alembic_guard.cli import SIGPIPE_EXIT
from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db

LEGACY_SQL = Path(__file__).resolve().parents[2] / "alembic" / "legacy_sql"


def _run_into_closed_pipe(p: GuardedProject, *args: str) -> tuple[int, str]:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            p.command(*args), cwd=p.root, env=p.env(), stdout=write_end, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write_end)
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("guard-status", "--format", "json"),
        ("guard-status",),
        ("guard-check", "--offline", "--format", "json"),
        ("guard-plan", str(LEGACY_SQL)),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_closed_pipe_ends_the_output_quietly(tmp_path, pg_url, args):
    p = GuardedProject(tmp_path, pg_url)
    p.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer))')
    assert p.run("upgrade", "head").returncode == 0
    code, stderr = _run_into_closed_pipe(p, *args)
    assert code == SIGPIPE_EXIT, stderr
    assert "BrokenPipe" not in stderr and "Traceback" not in stderr and "FAILED" not in stderr, stderr
