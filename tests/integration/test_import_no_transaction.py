"""Imported statements that must run outside a transaction block, on a real PostgreSQL.

tests/fixtures/no_transaction (see its README): a procedure that COMMITs and
its CALL, a DO block that COMMITs between batches (no marker), and one file
per tool's no-transaction marker whose statements need the earlier one
committed.  Inside the revision's transaction each fails (2D000 invalid
transaction termination, 55P04 unsafe use of a new enum value); imported into
autocommit blocks, a fresh ``upgrade head`` runs them all.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from test_import import do_import, make_env, versions

from alembic import command
from alembic_guard.sql.source import load_directory

pytestmark = pytest.mark.db

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "no_transaction"
BLOCK = "with op.get_context().autocommit_block():"


def test_each_tools_marker_is_read() -> None:
    marked = {f.path: f.no_transaction for f in load_directory(FIXTURE)}
    assert marked == {
        "001_items.sql": False,
        "002_fill.sql": False,
        "003_batches.sql": False,
        "004_goose.sql": True,
        "005_dbmate.sql": True,
        "006_sqlx.sql": True,
        "007_postgres_migrations.sql": True,
        "008_popx.autocommit.up.sql": True,  # popx: by the file name, no comment
    }


def _after_block(text: str, needle: str) -> bool:
    """Is the line holding ``needle`` inside an autocommit block of the revision's upgrade()?"""
    upgrade = text.split("def upgrade() -> None:", 1)[1].split("def downgrade()", 1)[0]
    at = upgrade.find(needle)
    return at != -1 and upgrade.rfind(BLOCK, 0, at) != -1


def test_statements_that_end_transactions_run_in_autocommit_blocks(tmp_path: Path, pg_server: object) -> None:
    from alembic_guard.testing import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    with pg_server.database() as url:
        cfg = make_env(tmp_path, url)
        do_import(cfg, FIXTURE)
        files = versions(tmp_path)
        by_source = {next(s for s in FIXTURE.glob("*.sql") if s.name in t).name: t for t in files.values()}
        assert not _after_block(by_source["001_items.sql"], "CREATE TABLE")
        assert _after_block(by_source["002_fill.sql"], "CALL fill_qty()")
        assert not _after_block(by_source["002_fill.sql"], "CREATE PROCEDURE")
        assert "the procedure fill_qty it calls ends transactions" in by_source["002_fill.sql"]
        assert _after_block(by_source["003_batches.sql"], "DO $$")
        assert _after_block(by_source["006_sqlx.sql"], "UPDATE item SET mood = 'calm'")
        assert _after_block(by_source["007_postgres_migrations.sql"], "UPDATE item SET mood = 'sad'")
        assert _after_block(by_source["008_popx.autocommit.up.sql"], "UPDATE item SET mood = 'bored'")

        command.upgrade(cfg, "head")
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                rows = conn.exec_driver_sql("SELECT sku, qty, mood::text FROM item ORDER BY sku").all()
                valid = conn.exec_driver_sql(
                    "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE c.relname IN ('item_sku', 'item_qty') ORDER BY 1"
                ).all()
                note = conn.exec_driver_sql(
                    "SELECT count(*) FROM information_schema.columns WHERE table_name = 'item' "
                    "AND column_name = 'note'"
                ).scalar()
        finally:
            engine.dispose()
        # the procedure set 0, each of the DO block's two batches added 1
        assert [tuple(r) for r in rows] == [("a", 2, "bored"), ("b", 2, "sad")]
        assert [tuple(r) for r in valid] == [("item_qty", True), ("item_sku", True)]
        assert note == 1
