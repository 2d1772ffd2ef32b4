"""An index build logs its progress from pg_stat_progress_create_index while it runs.

The build is held in a known phase (a concurrent build waits for an open
writer), so the test waits on what PostgreSQL and the log show, not on the
clock.
"""

from __future__ import annotations

import os
import select
import threading

import pytest
import sqlalchemy as sa

from alembic_guard.ops.progress import describe_progress, index_build_progress
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


def test_builds_shorter_than_the_interval_cost_no_connection_and_one_pid_read(pg_url: str) -> None:
    """A 200-revision run builds many small indexes: watching them must cost (almost) nothing.

    No watcher connection is opened for a build that ends before the first
    interval, the backend pid of a direct connection is read once, and no
    thread is left per build.
    """
    engine = sa.create_engine(pg_url)
    connects: list[int] = []
    sa.event.listen(engine, "connect", lambda *_: connects.append(1))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("CREATE TABLE quick (v int)"))
            sent: list[str] = []
            sa.event.listen(conn, "before_cursor_execute", lambda _c, _cur, sql, *_: sent.append(sql))
            threads = threading.active_count()
            for i in range(5):
                with index_build_progress(conn, f"index ix_quick_{i}", 60.0):
                    conn.execute(sa.text(f"CREATE INDEX ix_quick_{i} ON quick (v)"))
            conn.rollback()
        assert connects == [1], "a watcher connected for a build shorter than the interval"
        assert sum("pg_backend_pid" in sql for sql in sent) == 1
        assert threading.active_count() <= threads + 1  # one watcher thread serves every build
    finally:
        engine.dispose()
