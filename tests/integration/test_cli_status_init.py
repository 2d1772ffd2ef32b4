"""``alembic guard-init`` and ``alembic guard-status`` through the real ``alembic`` executable."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from alembic_guard.testing import GuardedProject, alembic_executable


def _alembic(cwd, *args, env=None):
    env = {**os.environ, **(env or {})}
    return subprocess.run(
        [alembic_executable(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_guard_init_creates_a_guarded_environment_and_refuses_a_non_empty_dir(tmp_path):
    done = _alembic(tmp_path, "guard-init", "migrations")
    assert done.returncode == 0, done.stderr
    for name in ("env.py", "script.py.mako", "README", "versions"):
        assert (tmp_path / "migrations" / name).exists()
    env_py = (tmp_path / "migrations" / "env.py").read_text()
    assert "run_migrations(context, target_metadata=target_metadata)" in env_py
    ini = (tmp_path / "alembic.ini").read_text()
    assert "script_location = %(here)s/migrations" in ini
    assert "[alembic_guard]" in ini and "qualname = alembic_guard" in ini

    again = _alembic(tmp_path, "guard-init", "migrations")
    assert again.returncode == 2
    assert again.stderr.splitlines()[0] == "FAILED: migrations: directory exists and is not empty"

    # An existing empty directory is fine, and an existing alembic.ini is kept.
    (tmp_path / "other").mkdir()
    other = _alembic(tmp_path, "guard-init", "other")
    assert other.returncode == 0
    assert "kept existing alembic.ini" in other.stdout
    assert (tmp_path / "alembic.ini").read_text() == ini


@pytest.mark.db
def test_guard_status_text_and_json(tmp_path, pg_url):
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision("s1", None, 'op.create_table("a", sa.Column("id", sa.Integer))', message="create a")
    project.add_revision("s2", "s1", 'op.add_column("a", sa.Column("b", sa.Integer))', message="add b")
    pending = project.run("guard-status")
    assert pending.returncode == 0, pending.stderr
    assert "0 applied, 2 pending, 0 failed" in pending.stdout
    assert project.run("upgrade", "s1").returncode == 0

    out = project.run("guard-status")
    lines = out.stdout.splitlines()
    assert lines[0].startswith("database postgresql+psycopg") and "at s1 (scripts head: s2)" in lines[0]
    assert lines[1].split()[:2] == ["applied", "s1"] and lines[1].endswith("create a")
    assert lines[2].split() == ["pending", "s2", "add", "b"]
    doc = json.loads(project.run("guard-status", "--format", "json").stdout)
    assert doc["heads"] == ["s1"]
    assert [(r["revision"], r["state"]) for r in doc["revisions"]] == [("s1", "applied"), ("s2", "pending")]
    assert isinstance(doc["revisions"][0]["duration_ms"], int)
    assert doc["summary"] == {"applied": 1, "pending": 1, "failed": 0}


def test_guard_status_connection_error_is_one_line_with_the_password_masked(tmp_path):
    GuardedProject(tmp_path, "unused")
    bad = _alembic(tmp_path, "guard-status", env={"DATABASE_URL": "postgresql://app:s3cret@127.0.0.1:1/x"})
    assert bad.returncode == 2
    assert "s3cret" not in bad.stdout + bad.stderr
    first = bad.stderr.splitlines()[0]
    # one wording for every connection failure; the URL as used, with the driver a bare URL got
    assert first.startswith("FAILED: cannot connect to postgresql+psycopg://app:***@127.0.0.1:1/x")
    assert "Traceback" not in bad.stderr


def test_guard_status_without_url_is_a_usage_error(tmp_path):
    GuardedProject(tmp_path, "unused")
    ini = tmp_path / "alembic.ini"
    ini.write_text(ini.read_text().replace("sqlalchemy.url = postgresql://user:pass@localhost/dbname\n", ""))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    bad = subprocess.run(
        [alembic_executable(), "guard-status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("FAILED: no database URL")
