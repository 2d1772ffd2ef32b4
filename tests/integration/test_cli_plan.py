"""``alembic guard-plan`` and ``python -m alembic_guard guard-plan`` as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
LEGACY = ROOT / "alembic" / "legacy_sql"
CASES = ROOT / "tests" / "fixtures" / "plan"
ALEMBIC = str(Path(sys.executable).with_name("alembic"))

RUNNERS = {
    "alembic": [ALEMBIC],
    "module": [sys.executable, "-m", "alembic_guard"],
}


def run(
    runner: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    full_env.update(env or {})
    return subprocess.run(
        [*RUNNERS[runner], "guard-plan", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_plan_ok_exits_0_and_shows_the_interleaving(runner: str, tmp_path: Path) -> None:
    proc = run(runner, str(LEGACY), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "0001_core_tables_idempotent.sql:29  [moved]" in proc.stdout
    assert "needs column tasks.project_id from 0003_tasks_project.sql:2:1" in proc.stdout
    assert proc.stdout.index("0003_tasks_project.sql:2\n") < proc.stdout.index(
        "0001_core_tables_idempotent.sql:29"
    )
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_cycle_exits_1(runner: str, tmp_path: Path) -> None:
    proc = run(runner, str(CASES / "view_cycle"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "AG101 01_views.sql:2:1" in proc.stdout
    assert "02_views.sql:1:1" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_unresolved_reference_exits_1_with_its_position(tmp_path: Path) -> None:
    proc = run("alembic", str(CASES / "missing_column"), "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["version"] == 1 and doc["ok"] is False
    (problem,) = doc["problems"]
    assert problem["code"] == "AG102" and problem["where"] == "001_tables.sql:4:39"
    assert problem["missing"] == "column tasks.project_id"


def test_json_output_is_deterministic(tmp_path: Path) -> None:
    first = run("module", str(LEGACY), "--format", "json", cwd=tmp_path)
    second = run("module", str(LEGACY), "--format", "json", cwd=tmp_path)
    assert first.returncode == 0 and first.stdout == second.stdout
    doc = json.loads(first.stdout)
    assert doc["summary"] == {
        "statements": 12,
        "files": 4,
        "moved": 1,
        "split": 0,
        "errors": 0,
        "warnings": 0,
    }
    assert [s["file"] for s in doc["steps"] if s["moved"]] == ["0001_core_tables_idempotent.sql"]


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_missing_directory_exits_2_in_one_line(runner: str, tmp_path: Path) -> None:
    proc = run(runner, str(tmp_path / "nope"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("FAILED: ") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_syntax_error_exits_2_at_file_line_col(runner: str, tmp_path: Path) -> None:
    d = tmp_path / "sql"
    d.mkdir()
    (d / "001_ok.sql").write_text("CREATE TABLE a (id integer);\n")
    (d / "002_bad.sql").write_text(
        "-- été\nCREATE TABLE b (id integer);\nCREATE TABLE c (id integer,, x int);\n"
    )
    proc = run(runner, str(d), cwd=tmp_path)
    assert proc.returncode == 2
    assert "002_bad.sql:3:" in proc.stderr and "syntax error" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_non_utf8_file_exits_2(tmp_path: Path) -> None:
    d = tmp_path / "sql"
    d.mkdir()
    (d / "001.sql").write_bytes(b"CREATE TABLE a (note text DEFAULT '\xe9');\n")
    proc = run("alembic", str(d), cwd=tmp_path)
    assert proc.returncode == 2
    assert "001.sql" in proc.stderr and "UTF-8" in proc.stderr


def test_unreachable_database_exits_2_and_masks_the_password(tmp_path: Path) -> None:
    url = "postgresql://app:s3cret@127.0.0.1:1/app"
    proc = run("alembic", str(LEGACY), "--database", url, cwd=tmp_path)
    assert proc.returncode == 2
    assert "s3cret" not in proc.stderr + proc.stdout
    assert proc.stderr.startswith("FAILED: ") and len(proc.stderr.strip().splitlines()) <= 2
    env_proc = run("module", str(LEGACY), cwd=tmp_path, env={"DATABASE_URL": url})
    assert env_proc.returncode == 2 and "s3cret" not in env_proc.stderr


def test_plan_from_a_database(pg_url: str, tmp_path: Path) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE users (id serial PRIMARY KEY)")
    engine.dispose()
    d = tmp_path / "sql"
    d.mkdir()
    (d / "1.sql").write_text(
        "CREATE TABLE posts (id serial PRIMARY KEY, user_id integer REFERENCES users (id));\n"
    )
    assert run("alembic", str(d), cwd=tmp_path).returncode == 1  # users comes from nowhere
    proc = run("alembic", str(d), "--database", pg_url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    created = run("alembic", str(d), cwd=tmp_path, env={"DATABASE_URL": pg_url})
    assert created.returncode == 0


def test_demo_runs_the_seed_scenario(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "alembic_guard.demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert 'FAILED in 0001_core_tables_idempotent.sql: column "project_id" does not exist' in out
    assert "0001_core_tables_idempotent.sql:29  [moved]" in out
    assert " 8. ok  0001_core_tables_idempotent.sql:29 (moved)" in out
    assert "AG102 0001_core_tables_idempotent.sql:30:" in out  # drifted production: assignee_id
    assert "the throwaway server is stopped" in out
    assert "rows: every pre-existing row kept (md5 per table unchanged)" in out


def test_version_table_clash_exits_1_unless_another_version_table_is_named(tmp_path: Path) -> None:
    case = str(CASES / "version_table_clash")
    proc = run("module", case, cwd=tmp_path)
    assert proc.returncode == 1
    assert "AG105 1_legacy.sql:2:1" in proc.stdout and "--version-table" in proc.stdout
    proc = run("module", case, "--version-table", "alembic_version_app", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
