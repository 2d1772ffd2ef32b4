"""PR review: `guard-check --format markdown --base REV` with the autogenerate diff (real PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db

MODELS = """
import sqlalchemy as sa

metadata = sa.MetaData()
t = sa.Table(
    "t",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("a", sa.Integer),
)
"""


def _project(tmp_path, url: str, *, env_metadata: bool) -> GuardedProject:
    p = GuardedProject(tmp_path, url)
    (tmp_path / "models.py").write_text(MODELS)
    if env_metadata:
        env = p.script_dir / "env.py"
        env.write_text(
            env.read_text().replace(
                "target_metadata = None", "from models import metadata as target_metadata"
            )
        )
    p.add_revision(
        "r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))', message="create t"
    )
    p.add_revision("r2", "r1", 'op.create_index("ix_t_id", "t", ["id"])', message="index t")
    return p


def _databases(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT datname FROM pg_database"))}
    engine.dispose()
    return names


def test_pr_comment_shows_new_revisions_sql_locks_findings_and_model_diff(tmp_path, pg_url):
    p = _project(tmp_path, pg_url, env_metadata=True)
    before = _databases(pg_url)
    done = p.run("guard-check", "--format", "markdown", "--base", "r1")
    # r2 indexes a table an earlier revision created: AG201, an error
    assert done.returncode == 1, done.stdout + done.stderr
    md = done.stdout
    assert "**AG201** `require-concurrent-index` — `migrations/versions/0002_r2.py:14` (revision `r2`)" in md
    assert md.startswith("## alembic-guard check")
    assert "<code>r2</code> index t" in md and "<code>r1</code>" not in md  # only the new revisions
    assert "| 14 | SHARE | `CREATE INDEX ix_t_id ON t (id)` |" in md
    assert "```sql\nCREATE INDEX ix_t_id ON t (id);\n```" in md
    assert "2 difference(s) between the models and a scratch database upgraded to head" in md
    assert "```\nadd_column t.a\nremove_index ix_t_id on t\n```" in md
    assert "**AG651** `require-models-match-migrations`" in md
    assert _databases(pg_url) == before  # the scratch database is dropped
    assert "Database `postgresql" in md


def test_metadata_option_and_no_metadata(tmp_path, pg_url):
    p = _project(tmp_path / "a", pg_url, env_metadata=False)
    none = json.loads(p.run("guard-check", "--format", "json", "--base", "r1").stdout)
    assert none["autogenerate"]["status"] == "unavailable"
    assert "no target_metadata" in none["autogenerate"]["note"]
    given = json.loads(
        p.run("guard-check", "--format", "json", "--base", "r1", "--metadata", "models:metadata").stdout
    )
    assert given["autogenerate"]["items"] == ["add_column t.a", "remove_index ix_t_id on t"]
    assert [f["code"] for f in given["findings"] if f["source"] == "autogenerate"] == ["AG651", "AG651"]
    bad = p.run("guard-check", "--metadata", "models:nope")
    assert bad.returncode == 2 and bad.stderr.startswith("FAILED: --metadata models:nope")
