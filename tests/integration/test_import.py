"""guard-import on a real PostgreSQL: imported revisions build the schema the raw SQL builds.

The Alembic environment is the stock ``alembic init`` one (no guards): on a
fresh database the imported revisions must produce, by themselves, exactly the
schema of the legacy SQL applied in the planned order.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config

from alembic import command
from alembic_guard import cli
from alembic_guard.commands import import_sql
from alembic_guard.live.snapshot import BOOKKEEPING_TABLES, snapshot
from alembic_guard.model import SchemaModel
from alembic_guard.plan import plan_directory

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
LEGACY = ROOT / "alembic" / "legacy_sql"


def make_env(tmp: Path, url: str) -> Config:
    """A plain Alembic environment in ``tmp`` (``alembic init``), pointed at ``url``."""
    ini = tmp / "alembic.ini"
    cfg = Config(str(ini))
    command.init(cfg, str(tmp / "env"))
    cfg = Config(str(ini))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def do_import(cfg: Config, sql_dir: Path, dry_run: bool = False) -> list[str]:
    lines: list[str] = []
    import_sql.import_directory(cfg, str(sql_dir), dry_run=dry_run, out=lines.append)
    return lines


def versions(tmp: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((tmp / "env" / "versions").glob("*.py"))}


def live(url: str, *exclude: str) -> SchemaModel:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return snapshot(conn, exclude=(*BOOKKEEPING_TABLES, *exclude))
    finally:
        engine.dispose()


def apply_planned_sql(url: str, sql_dir: Path) -> None:
    """The raw SQL, statement by statement in the planner's order, each committed on its own.

    Through the DBAPI cursor without parameters, so psycopg2 leaves ``%`` alone.
    """
    plan = plan_directory(sql_dir)
    assert plan.ok, [p.render() for p in plan.problems]
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            cur = conn.connection.cursor()
            for step in plan.steps:
                cur.execute(step.sql)
            cur.close()
    finally:
        engine.dispose()


def assert_same_schema(a: SchemaModel, b: SchemaModel) -> None:
    for part in ("tables", "indexes", "constraints", "views", "sequences", "enums", "functions", "triggers"):
        assert getattr(a, part) == getattr(b, part), part


def test_imported_legacy_revisions_build_the_legacy_schema(tmp_path: Path, pg_server: object) -> None:
    from alembic_guard.testing import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    with pg_server.database() as url_sql, pg_server.database() as url_alembic:
        apply_planned_sql(url_sql, LEGACY)
        cfg = make_env(tmp_path, url_alembic)
        out = do_import(cfg, LEGACY)
        assert out[-1].startswith("6 revision(s) written")
        command.upgrade(cfg, "head")
        expected, got = live(url_sql), live(url_alembic)
        assert expected.tables  # the comparison below is not between two empty models
        assert_same_schema(expected, got)
        # and back down to nothing: every imported revision of the seed is reversible
        command.downgrade(cfg, "base")
        assert live(url_alembic).is_empty()


def test_import_is_deterministic_and_idempotent(tmp_path: Path, pg_url: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    cfg_a, cfg_b = make_env(a, pg_url), make_env(b, pg_url)
    do_import(cfg_a, LEGACY)
    do_import(cfg_b, LEGACY)
    first = versions(a)
    assert len(first) == 6
    assert first == versions(b)
    # importing again: nothing to do, nothing rewritten
    out = do_import(cfg_a, LEGACY)
    assert out == [f"Nothing to import: every file in {LEGACY} is already imported."]
    assert versions(a) == first


def test_import_appends_only_new_files(tmp_path: Path, pg_url: str) -> None:
    sql = tmp_path / "sql"
    sql.mkdir()
    for name in ("0001_core_tables_idempotent.sql", "0002_comments.sql", "0003_tasks_project.sql"):
        shutil.copy(LEGACY / name, sql / name)
    env = tmp_path / "e"
    env.mkdir()
    cfg = make_env(env, pg_url)
    do_import(cfg, sql)
    before = versions(env)
    assert len(before) == 5
    shutil.copy(LEGACY / "0004_reporting.sql", sql / "0004_reporting.sql")
    out = do_import(cfg, sql)
    after = versions(env)
    new = sorted(set(after) - set(before))
    assert len(new) == 1 and new[0].endswith("_0004_reporting.py"), out
    assert {k: after[k] for k in before} == before
    # the new revision is chained after the previous head, and the result is the
    # same history a one-shot import of all four files writes
    one_shot = tmp_path / "o"
    one_shot.mkdir()
    do_import(make_env(one_shot, pg_url), LEGACY)
    assert versions(one_shot) == after
    command.upgrade(cfg, "head")
    assert live(pg_url).views


def test_changed_source_after_import_exits_1(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = tmp_path / "sql"
    shutil.copytree(LEGACY, sql)
    env = tmp_path / "e"
    env.mkdir()
    cfg = make_env(env, pg_url)
    do_import(cfg, sql)
    with (sql / "0002_comments.sql").open("a") as f:
        f.write("\nCREATE INDEX idx_comments_author_id ON comments (author_id);\n")
    args = argparse.Namespace(sql_dir=str(sql), order="auto", dry_run=False)
    code = cli.execute(import_sql, cfg, args)
    err = capsys.readouterr().err
    assert code == 1
    assert "0002_comments.sql changed after it was imported as revision" in err
    assert "new migration file" in err


def test_plan_problems_exit_1_and_write_nothing(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "0001_x.sql").write_text("CREATE INDEX ix_a ON missing_table (a);\n")
    env = tmp_path / "e"
    env.mkdir()
    cfg = make_env(env, pg_url)
    code = cli.execute(import_sql, cfg, argparse.Namespace(sql_dir=str(sql), order="auto", dry_run=False))
    assert code == 1
    assert "AG102" in capsys.readouterr().err
    assert versions(env) == {}


def test_missing_environment_or_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = Config(str(tmp_path / "alembic.ini"))  # no script_location
    args = argparse.Namespace(sql_dir=str(LEGACY), order="auto", dry_run=False)
    assert cli.execute(import_sql, cfg, args) == 2
    env = tmp_path / "e"
    env.mkdir()
    cfg = make_env(env, "postgresql://localhost/x")
    args = argparse.Namespace(sql_dir=str(tmp_path / "nope"), order="auto", dry_run=False)
    assert cli.execute(import_sql, cfg, args) == 2
    assert "directory not found" in capsys.readouterr().err


def test_dry_run_writes_nothing(tmp_path: Path, pg_url: str) -> None:
    cfg = make_env(tmp_path, pg_url)
    out = do_import(cfg, LEGACY, dry_run=True)
    assert versions(tmp_path) == {}
    assert out[-1].startswith("6 revision(s) to write")
    assert sum(line.startswith("would write ") for line in out) == 6


RAW_SQL = """\
CREATE TYPE mood AS ENUM ('happy', 'sad');

CREATE TABLE notes (
    id bigserial PRIMARY KEY,
    body text NOT NULL CHECK (body <> ''),
    feeling mood NOT NULL DEFAULT 'happy',
    price numeric(10, 2),
    tags text[],
    seen_at timestamp(3) without time zone,
    CONSTRAINT uq_notes_body UNIQUE (body)
);

CREATE FUNCTION note_tag(p text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v text := 'tag:' || p;
BEGIN
    -- a literal percent sign and something that looks like a bind parameter
    RETURN v || ' 100% :done';
END
$$;

INSERT INTO notes (body) VALUES ('50% off :tomorrow');

CREATE INDEX CONCURRENTLY idx_notes_lower_body ON notes (lower(body)) WHERE body <> 'x';

UPDATE notes SET price = 0 WHERE price IS NULL;

ALTER TABLE notes ALTER COLUMN price SET DEFAULT 0, ALTER COLUMN price SET NOT NULL;
"""


def test_raw_sql_reaches_postgresql_unchanged(tmp_path: Path, pg_server: object) -> None:
    """Escaping: %, :name and multi-line dollar bodies survive op.execute; ops equal the SQL."""
    from alembic_guard.testing import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "0001_notes.sql").write_text(RAW_SQL)
    with pg_server.database() as url_sql, pg_server.database() as url_alembic:
        apply_planned_sql(url_sql, sql)
        env = tmp_path / "e"
        env.mkdir()
        cfg = make_env(env, url_alembic)
        do_import(cfg, sql)
        text = "".join(versions(env).values())
        assert "autocommit_block()" in text and "postgresql_concurrently=True" in text
        command.upgrade(cfg, "head")
        assert_same_schema(live(url_sql), live(url_alembic))
        engine = sa.create_engine(url_alembic)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT note_tag('x')")).scalar() == "tag:x 100% :done"
            assert conn.execute(sa.text("SELECT body FROM notes")).scalar() == "50% off :tomorrow"
        engine.dispose()


def test_down_part_of_the_source_is_the_downgrade(tmp_path: Path, pg_url: str) -> None:
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "1_widgets.up.sql").write_text("CREATE TABLE widgets (id int PRIMARY KEY, name text);\n")
    (sql / "1_widgets.down.sql").write_text("DROP TABLE widgets;\n")
    (sql / "2_fill.up.sql").write_text("INSERT INTO widgets VALUES (1, 'a');\n")
    env = tmp_path / "e"
    env.mkdir()
    cfg = make_env(env, pg_url)
    do_import(cfg, sql)
    files = versions(env)
    fill = next(t for n, t in files.items() if n.endswith("_2_fill.py"))
    why = "irreversible: 2_fill.up.sql:1:1: InsertStmt has no known inverse"
    assert f"raise NotImplementedError({why!r})".replace("'", '"') in fill
    widgets = next(t for n, t in files.items() if n.endswith("_1_widgets.py"))
    assert "DROP TABLE widgets;" in widgets
    command.upgrade(cfg, "head")
    # the plain integer key stays a plain integer (no SERIAL default)
    cols = {c.name: c for c in live(pg_url).tables[("public", "widgets")].columns}
    assert cols["id"].default is None and not cols["id"].nullable
    with pytest.raises(NotImplementedError, match="irreversible"):
        command.downgrade(cfg, "-1")
    command.stamp(cfg, next(n for n in files if n.endswith("_1_widgets.py")).split("_")[0])
    command.downgrade(cfg, "base")
    assert ("public", "widgets") not in live(pg_url).tables


def test_import_chains_after_a_hand_written_head(tmp_path: Path, pg_url: str) -> None:
    cfg = make_env(tmp_path, pg_url)
    command.revision(cfg, message="hand written", rev_id="handwritten1")
    do_import(cfg, LEGACY)
    first = next(t for n, t in versions(tmp_path).items() if n.startswith("4d24c06c0e0c_"))
    assert 'down_revision = "handwritten1"' in first
    command.upgrade(cfg, "head")
    assert live(pg_url).views
