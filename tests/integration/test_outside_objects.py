"""Outside objects on a real PostgreSQL: an extension's objects are read from a scratch database,
and guard-plan / guard-import take --database and --outside-sql."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from alembic_guard.live.extensions import extension_objects
from alembic_guard.model import ObjRef

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "tests" / "fixtures" / "outside"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "alembic_guard", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _databases(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {r[0] for r in conn.exec_driver_sql("SELECT datname FROM pg_database")}
    finally:
        engine.dispose()


def test_an_extensions_objects_come_from_postgresql(pg_url: str) -> None:
    before = _databases(pg_url)
    got = extension_objects(pg_url, [("uuid-ossp", None), ("no_such_extension", None)])
    assert ObjRef("function", "", "uuid_generate_v4") in got["uuid-ossp"]  # in the schema it is created in
    assert "no_such_extension" not in got  # not installed on the server: left unknown
    assert _databases(pg_url) == before  # the scratch database is gone


def test_guard_plan_with_a_database_knows_the_extension(pg_url: str, tmp_path: Path) -> None:
    args = ["guard-plan", str(CASE / "sql"), "--outside-sql", str(CASE / "outside.sql")]
    without = _cli(*args, cwd=tmp_path)
    assert without.returncode == 0 and "AG107" in without.stdout
    proc = _cli(*args, "--database", pg_url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "AG107" not in proc.stdout and "No problems" in proc.stdout


def test_guard_import_takes_outside_sql(tmp_path: Path) -> None:
    init = _cli("guard-init", str(tmp_path / "migrations"), cwd=tmp_path)
    assert init.returncode == 0, init.stdout + init.stderr
    refused = _cli("guard-import", str(CASE / "sql"), cwd=tmp_path)
    assert refused.returncode == 1 and "AG102" in refused.stdout + refused.stderr
    proc = _cli("guard-import", str(CASE / "sql"), "--outside-sql", str(CASE / "outside.sql"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list((tmp_path / "migrations" / "versions").glob("*_001_profiles.py"))
