"""Many processes run ``alembic upgrade head`` at once: one migrates, the others find the work done."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_guard.model import LEDGER_TABLE
from alembic_guard.testing import GuardedProject, PostgresServer, schema_fingerprint

pytestmark = [pytest.mark.db, pytest.mark.slow]

REVISIONS = [
    (
        "r1",
        None,
        'op.create_table("project", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("name", sa.Text, nullable=False))',
    ),
    (
        "r2",
        "r1",
        'op.create_table("task", sa.Column("id", sa.Integer, primary_key=True), sa.Column("title", sa.Text))',
    ),
    (
        "r3",
        "r2",
        'op.add_column("task", sa.Column("project_id", sa.Integer))\n'
        'op.create_foreign_key("task_project_fk", "task", "project", ["project_id"], ["id"])',
    ),
    ("r4", "r3", 'op.create_index("task_project_ix", "task", ["project_id"])'),
    (
        "r5",
        "r4",
        "op.execute(\"INSERT INTO project (id, name) VALUES (1, 'seed')\")\n"
        'op.execute("SELECT pg_sleep(0.3)")',
    ),
]


def _project(root, url) -> GuardedProject:
    project = GuardedProject(root, url)
    for rev, down, body in REVISIONS:
        project.add_revision(rev, down, body)
    return project


def test_eight_processes_upgrade_one_database_at_once(tmp_path, pg_url, pg_server: PostgresServer):
    project = _project(tmp_path / "many", pg_url)
    procs = [project.popen("upgrade", "head") for _ in range(8)]
    outputs = [p.communicate(timeout=180) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err

    engine = create_engine(pg_url, poolclass=NullPool)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["r5"]
        rows = conn.execute(text("SELECT revision, status FROM alembic_guard_log ORDER BY id")).all()
        # the data revision ran once: a second run would have hit the primary key
        assert conn.execute(text("SELECT count(*) FROM project")).scalar() == 1
        many = schema_fingerprint(conn, exclude_tables=(LEDGER_TABLE,))
    engine.dispose()
    assert [r for r in rows if r[1] != "succeeded"] == []
    assert sorted(r[0] for r in rows) == ["r1", "r2", "r3", "r4", "r5"]  # each exactly once

    # The waiters waited and said so; every process logged the lock or found nothing to do.
    waited = [err for _out, err in outputs if "applied r1" not in err]
    assert len(waited) == 7

    with pg_server.database() as single_url:
        single = _project(tmp_path / "single", single_url)
        done = single.run("upgrade", "head")
        assert done.returncode == 0, done.stderr
        engine = create_engine(single_url, poolclass=NullPool)
        with engine.connect() as conn:
            assert schema_fingerprint(conn, exclude_tables=(LEDGER_TABLE,)) == many
        engine.dispose()
