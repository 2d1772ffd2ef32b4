"""``alembic_guard.upgrade_on_startup``: one call in application code, a frozen result, log lines."""

from __future__ import annotations

import dataclasses
import logging

import pytest

import alembic_guard
from alembic_guard.errors import GuardError, UsageError
from alembic_guard.runtime import RunResult
from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db


def test_upgrade_on_startup_applies_then_finds_nothing_to_do(tmp_path, pg_url, caplog, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision("u1", None, 'op.create_table("a", sa.Column("id", sa.Integer, primary_key=True))')
    project.add_revision("u2", "u1", 'op.create_index("a_id_ix", "a", ["id"])')

    caplog.set_level(logging.INFO, logger="alembic_guard")
    result = alembic_guard.upgrade_on_startup(project.ini, url=pg_url)
    assert isinstance(result, RunResult)
    assert result.applied == ("u1", "u2")
    assert (result.heads_before, result.heads_after) == ((), ("u2",))
    assert (result.profile, result.policy, result.retries, result.debts) == ("prod", "lenient", 0, ())
    assert result.duration_s >= result.lock_wait_s >= 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.retries = 3  # type: ignore[misc]
    messages = [r.getMessage() for r in caplog.records if r.name == "alembic_guard"]
    assert any(m.startswith("applied u1 in ") for m in messages)
    assert any(m.startswith("database at u2: 2 revision(s) applied") for m in messages)

    again = alembic_guard.upgrade_on_startup(project.ini, url=pg_url, lock_wait="5s")
    assert again.applied == () and again.heads_before == ("u2",)


def test_upgrade_on_startup_failure_raises_a_guard_error(tmp_path, pg_url, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision("f1", None, 'op.execute("SELECT 1/0")')
    with pytest.raises(
        GuardError, match=r"revision f1 \(0001_f1.py\) failed at statement \d+: SQLSTATE 22012"
    ):
        alembic_guard.upgrade_on_startup(project.ini, url=pg_url)


def test_upgrade_on_startup_usage_errors(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="no such Alembic configuration file"):
        alembic_guard.upgrade_on_startup(tmp_path / "missing.ini", url="postgresql://x/y")
    # the old form, a URL first: said plainly, not "Could not parse SQLAlchemy URL" or a missing file
    with pytest.raises(UsageError, match=r"the first argument is the alembic\.ini path, not a database URL"):
        alembic_guard.upgrade_on_startup("postgresql://x/y")
    project = GuardedProject(tmp_path, "postgresql://x/y")
    with pytest.raises(UsageError, match="unknown profile 'staging'"):
        alembic_guard.upgrade_on_startup(project.ini, profile="staging")
    # the documented default: ./alembic.ini
    monkeypatch.chdir(project.ini.parent)
    with pytest.raises(UsageError, match="unknown profile 'staging'"):
        alembic_guard.upgrade_on_startup(profile="staging")


def test_upgrade_on_startup_connection_failure_is_the_documented_guard_error(tmp_path, pg_url, monkeypatch):
    """docs/quickstart.md: ``alembic_guard.GuardError`` (here ``ConnectionFailed``), the CLI's one line."""
    from alembic_guard.errors import ConnectionFailed

    monkeypatch.delenv("DATABASE_URL", raising=False)
    closed = "postgres://app:secret@127.0.0.1:1/app"
    project = GuardedProject(tmp_path, closed)
    with pytest.raises(alembic_guard.GuardError) as caught:
        alembic_guard.upgrade_on_startup(project.ini, url=closed)
    assert isinstance(caught.value, ConnectionFailed)
    assert str(caught.value).startswith("cannot connect to postgresql+psycopg"), str(caught.value)
    assert "secret" not in caught.value.render()


def test_upgrade_on_startup_takes_an_alembic_config(tmp_path, pg_url, monkeypatch):
    """The documented signature: ``upgrade_on_startup("alembic.ini" | Config, *, url=None, profile=...)``."""
    from alembic.config import Config

    monkeypatch.delenv("DATABASE_URL", raising=False)
    project = GuardedProject(tmp_path, "postgresql://nobody@127.0.0.1:1/none")
    project.add_revision("c1", None, 'op.create_table("c", sa.Column("id", sa.Integer))')
    result = alembic_guard.upgrade_on_startup(Config(str(project.ini)), url=pg_url, profile="dev")
    assert result.applied == ("c1",)
    # DATABASE_URL is used when no url= is given (the quickstart's form)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.chdir(project.ini.parent)
    assert alembic_guard.upgrade_on_startup("alembic.ini").applied == ()
