"""A raw SQL set that runs under a database's ``search_path`` (``media, public``): guard-plan,
guard-import and the guarded upgrade put its unqualified names where PostgreSQL puts them.

PostgreSQL is the oracle: the same files applied raw to a database with the same setting give
the schema the imported revisions give (tests/fixtures/search_path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alembic_guard.testing import GuardedProject, PostgresServer, schema_fingerprint

pytestmark = pytest.mark.db

CASE = Path(__file__).resolve().parents[1] / "fixtures" / "search_path"
BOOKKEEPING = ("alembic_guard_log", "alembic_version")


def _platform(url: str) -> sa.Engine:
    """What the platform does before the set runs: the schema, and the database's search_path."""
    engine = sa.create_engine(url)
    db = engine.url.database
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql(f'CREATE SCHEMA media; ALTER DATABASE "{db}" SET search_path = media, public')
    engine.dispose()  # the setting applies to sessions that start after it
    return engine


def _fingerprint(engine: sa.Engine) -> frozenset[Any]:
    with engine.connect() as c:
        return schema_fingerprint(c, exclude_tables=BOOKKEEPING)


def test_a_set_run_under_a_database_search_path_is_imported_and_upgraded_there(
    tmp_path: Path, pg_url: str, pg_server: PostgresServer
) -> None:
    engine = _platform(pg_url)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    plan = subprocess.run(
        [sys.executable, "-m", "alembic_guard", "guard-plan", str(CASE / "sql"), "--database", pg_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr  # the database's own search_path counts

    p = GuardedProject(tmp_path, pg_url)
    (p.root / "pyproject.toml").write_text('[tool.alembic_guard]\nsearch_path = "media, public"\n')
    imported = p.run("guard-import", str(CASE / "sql"))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    for _ in range(2):  # the second run finds nothing to do
        up = p.run("upgrade", "head")
        assert up.returncode == 0, up.stderr
    check = p.run("guard-check")
    assert check.returncode == 0, check.stdout + check.stderr

    with pg_server.database() as raw_url:
        raw = _platform(raw_url)
        try:
            with raw.connect() as c:
                for name in sorted(os.listdir(CASE / "sql")):
                    c.exec_driver_sql((CASE / "sql" / name).read_text())
                c.commit()
            assert _fingerprint(engine) == _fingerprint(raw)
        finally:
            raw.dispose()
    with engine.connect() as c:
        tables = set(
            c.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'media'")).scalars()
        )
    engine.dispose()
    assert {"buckets", "files"} <= tables
