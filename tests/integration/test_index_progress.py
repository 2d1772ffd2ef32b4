"""An index build logs its progress from pg_stat_progress_create_index while it runs.

The build is held in a known phase (a concurrent build waits for an open
writer), so the test waits on what PostgreSQL and the log show, not on the
clock.
"""

from __future__ import annotations

import os
import select

import pytest
import sqlalchemy as sa

from alembic_guard.ops.progress import describe_progress
from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db


def test_describe_progress_names_the_phase_and_the_counts() -> None:
    row = ("building index: scanning table", 250, 1000, 0, 0, 0, 0)
    assert describe_progress(row) == "building index: scanning table, blocks 250/1,000 (25%)"
    row = ("waiting for writers before build", 0, 0, 0, 0, 1, 2)
    assert describe_progress(row) == "waiting for writers before build, waited for 1 of 2 transactions"


def test_a_concurrent_build_held_by_a_writer_logs_its_phase(tmp_path, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    p = GuardedProject(tmp_path, pg_url)
    p.add_revision(
        "r1",
        None,
        'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("v", sa.Integer))',
    )
    p.add_revision("r2", "r1", 'op.create_index("ix_t_v", "t", ["v"])')
    env = p.env(
        ALEMBIC_GUARD_CONCURRENT_INDEXES="true",
        ALEMBIC_GUARD_LOCK_TIMEOUT="off",
        ALEMBIC_GUARD_PROGRESS_EVERY="100ms",
    )
    first = p.run("upgrade", "r1", env=env)
    assert first.returncode == 0, first.stderr
    engine = sa.create_engine(pg_url)
    writer = engine.connect()
    writer.execute(sa.text("INSERT INTO t (id, v) VALUES (1, 1)"))  # open: the build must wait for it
    proc = p.popen("upgrade", "head", env=env)
    try:
        # autocommit: inside one transaction the statistics views would show one snapshot
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as probe:
            for _ in range(6000):
                phase = probe.execute(
                    sa.text("SELECT phase FROM pg_stat_progress_create_index WHERE relid = 't'::regclass")
                ).scalar()
                if phase == "waiting for writers before build":
                    break
                assert proc.poll() is None, proc.communicate()
                probe.execute(sa.text("SELECT pg_sleep(0.05)"))
            else:
                raise AssertionError("the build never waited for the writer")
            # read the process's log as it comes, until the progress line is there (bounded)
            seen = ""
            assert proc.stderr is not None
            fd = proc.stderr.fileno()
            os.set_blocking(fd, False)
            for _ in range(6000):
                if select.select([fd], [], [], 0.05)[0]:
                    chunk = os.read(fd, 65536).decode()
                    seen += chunk
                if "building index ix_t_v: waiting for writers before build" in seen:
                    break
                assert proc.poll() is None, seen
            else:
                raise AssertionError(f"no progress line: {seen}")
    finally:
        writer.commit()
        writer.close()
    os.set_blocking(fd, True)
    _out, rest = proc.communicate(timeout=300)
    engine.dispose()
    assert proc.returncode == 0, seen + rest
    assert "building index ix_t_v: waiting for writers before build" in seen
