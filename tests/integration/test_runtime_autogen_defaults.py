"""``run_migrations`` defaults: ``alembic check`` / autogenerate work beside the ledger table.

A guard-init environment whose metadata matches the database: without the
defaults, ``alembic check`` would propose dropping ``alembic_guard_log``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from alembic_guard.live.snapshot import BOOKKEEPING_TABLES, snapshot
from alembic_guard.runtime.runner import AUTOGENERATE_PLUGINS, autogenerate_defaults
from alembic_guard.testing import alembic_executable

REVISION = '''"""create item"""
from alembic import op
import sqlalchemy as sa

revision = "i1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("item", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))


def downgrade():
    op.drop_table("item")
'''

METADATA = """
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("item", target_metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))
"""


def _alembic(cwd: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALEMBIC_GUARD_")}
    env["DATABASE_URL"] = url
    return subprocess.run(
        [alembic_executable(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.db
def test_alembic_check_at_head_in_a_guard_init_environment(tmp_path: Path, pg_url: str) -> None:
    init = _alembic(tmp_path, pg_url, "guard-init", "migrations")
    assert init.returncode == 0, init.stderr
    env_py = tmp_path / "migrations" / "env.py"
    env_py.write_text(env_py.read_text().replace("target_metadata = None\n", METADATA))
    (tmp_path / "migrations" / "versions" / "i1_item.py").write_text(REVISION)
    upgraded = _alembic(tmp_path, pg_url, "upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr

    # a snapshot that excludes the bookkeeping tables excludes their sequences too
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            full = snapshot(conn)
            app = snapshot(conn, exclude=BOOKKEEPING_TABLES)
    finally:
        engine.dispose()
    assert ("public", "alembic_guard_log_id_seq") in full.sequences
    assert set(app.sequences) == {("public", "item_id_seq")} and set(app.tables) == {("public", "item")}

    checked = _alembic(tmp_path, pg_url, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr

    # and the guard comparators are on: a NOT VALID constraint is reported
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE item ADD CONSTRAINT ck_name CHECK (name <> '') NOT VALID")
    finally:
        engine.dispose()
    dirty = _alembic(tmp_path, pg_url, "check")
    assert dirty.returncode != 0
    assert "VALIDATE CONSTRAINT ck_name" in dirty.stdout + dirty.stderr


def test_the_users_own_filters_are_still_asked() -> None:
    asked: list[tuple[str | None, str]] = []

    def mine(name: str | None, type_: str, parent_names: object) -> bool:
        asked.append((name, type_))
        return name != "secret"

    kw = autogenerate_defaults({"include_name": mine, "autogenerate_plugins": ["alembic.autogenerate.*"]})
    assert kw["autogenerate_plugins"] == ["alembic.autogenerate.*"]  # the user's choice wins
    include = kw["include_name"]
    assert include("alembic_guard_log", "table", {}) is False
    assert include("secret", "table", {}) is False
    assert include("item", "table", {}) is True
    assert asked == [("secret", "table"), ("item", "table")]  # the ledger never reaches the user's filter

    defaults = autogenerate_defaults({})
    assert defaults["autogenerate_plugins"] == list(AUTOGENERATE_PLUGINS)
    obj = sa.Table("alembic_guard_log", sa.MetaData(), sa.Column("id", sa.Integer))
    assert defaults["include_object"](obj, "alembic_guard_log", "table", True, None) is False
    assert defaults["include_object"](obj.c.id, "id", "column", True, None) is False
    assert defaults["include_name"]("alembic_guard_log_id_seq", "sequence", {}) is False
