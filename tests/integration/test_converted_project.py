"""A project converted by hand: Alembic's stock ``alembic.ini`` and ``env.py``, its body replaced by one call.

The stock ini names no ``alembic_guard`` logger and its ``fileConfig()``
disables loggers it does not name; the guarded run must still show its lines
(at Alembic's level), and a URL from a hosting platform (``postgres://``) works.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from alembic_guard.testing import alembic_executable

pytestmark = pytest.mark.db


def test_stock_alembic_ini_shows_alembic_guard_log_lines(tmp_path, pg_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALEMBIC_GUARD_")}
    env.pop("CI", None)
    env["DATABASE_URL"] = "postgres://" + pg_url.split("://", 1)[1]

    def alembic(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [alembic_executable(), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    assert alembic("init", "migrations").returncode == 0
    env_py = tmp_path / "migrations" / "env.py"
    text = env_py.read_text()
    assert "fileConfig(config.config_file_name)" in text  # the stock one, disable_existing_loggers=True
    body = text.index("def run_migrations_offline")
    env_py.write_text(
        text[:body] + "from alembic_guard.runtime import run_migrations\n\n"
        "run_migrations(context, target_metadata=target_metadata)\n"
    )
    assert "alembic_guard" not in (tmp_path / "alembic.ini").read_text()
    assert alembic("revision", "-m", "first").returncode == 0
    done = alembic("upgrade", "head")
    assert done.returncode == 0, done.stderr
    assert "INFO  [alembic_guard] applied " in done.stderr, done.stderr
    again = alembic("upgrade", "head")
    assert "[alembic_guard]" in again.stderr and "nothing to do" in again.stderr, again.stderr
