"""guard-adopt on a real PostgreSQL: the seed's production database, run by a legacy runner.

Production has 0001 as it was *before* the project_id index was added to it
(tasks without project_id), 0002, rows in every table, and a legacy
``schema_migrations`` table listing 0001 and 0002.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from test_import import LEGACY, assert_same_schema, do_import, live, make_env

from alembic import command
from alembic_guard import cli
from alembic_guard.commands import adopt as adopt_cmd
from alembic_guard.model import ObjRef
from alembic_guard.sql.parse import parse_text

pytestmark = pytest.mark.db


def build_production(url: str, *, legacy_table: bool = True) -> None:
    """The old schema (0001 without its project_id index, 0002), with rows and the runner's table."""
    old_0001 = [
        s.text
        for s in parse_text((LEGACY / "0001_core_tables_idempotent.sql").read_text())
        if "idx_tasks_project_id" not in s.text
    ]
    old_0002 = [s.text for s in parse_text((LEGACY / "0002_comments.sql").read_text())]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for sql in old_0001 + old_0002:
            conn.exec_driver_sql(sql)
        conn.exec_driver_sql("INSERT INTO users (email, full_name) VALUES ('a@x.org', 'A'), ('b@x.org', 'B')")
        conn.exec_driver_sql("INSERT INTO projects (owner_id, name) VALUES (1, 'alpha'), (2, 'beta')")
        conn.exec_driver_sql(
            "INSERT INTO tasks (title, status, assignee_id) VALUES ('t1', 'todo', 1), ('t2', 'done', 2)"
        )
        conn.exec_driver_sql("INSERT INTO comments (task_id, author_id, body) VALUES (1, 2, 'hi')")
        if legacy_table:
            conn.exec_driver_sql("CREATE TABLE schema_migrations (version varchar(255) PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO schema_migrations VALUES ('0001'), ('0002')")
    engine.dispose()


def revisions_by_file(tmp: Path) -> list[tuple[str, str]]:
    """(revision id, file name) of the imported revisions, in history order."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(Config(str(tmp / "alembic.ini")))
    return [(s.revision, Path(s.path).name) for s in reversed(list(script.walk_revisions()))]


def current(url: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        has = sa.inspect(conn).has_table("alembic_version")
        rows = [r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")] if has else []
    engine.dispose()
    return rows


def run_adopt(cfg: Config, **kw: object) -> tuple[int, list[str]]:
    lines: list[str] = []
    _, code = adopt_cmd.adopt(cfg, out=lines.append, **kw)  # type: ignore[arg-type]
    return code, lines


def test_adopt_stamps_present_prefix_and_upgrade_completes(tmp_path: Path, pg_server: object) -> None:
    from alembic_guard.testing import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    with pg_server.database() as prod, pg_server.database() as fresh:
        build_production(prod)
        cfg = make_env(tmp_path, prod)
        do_import(cfg, LEGACY)
        revs = revisions_by_file(tmp_path)
        assert len(revs) == 6

        code, out = run_adopt(cfg, dry_run=True)
        assert code == 0 and current(prod) == []
        assert out[-1].startswith(f"Would stamp {revs[1][0]} (2 of 6 revisions present)")

        code, out = run_adopt(cfg)
        text = "\n".join(out)
        assert code == 0, text
        assert current(prod) == [revs[1][0]]  # 0001 (all but the moved index) and 0002
        # what is missing, precisely, per revision
        assert "absent       " + revs[2][0] in text and "missing: column tasks.project_id" in text
        assert "absent       " + revs[3][0] in text and "missing: index idx_tasks_project_id" in text
        assert "missing: constraint tasks.fk_tasks_project_id, constraint tasks.ck_tasks_status" in text
        # a missing view is reported once, not column by column
        view_line = "missing: constraint projects.uq_projects_owner_name, relation project_task_counts"
        assert any(line.strip() == view_line for line in out), "\n".join(out)
        # the legacy table's claim is checked, not trusted
        assert f"0001 → 0001_core_tables_idempotent.sql: claimed applied, but {revs[3][0]} absent" in text
        assert "0002 → 0002_comments.sql: claimed applied, and it is" in text

        # adopting again changes nothing
        code, out = run_adopt(cfg)
        assert code == 0 and out[-1].startswith("Already stamped")

        command.upgrade(cfg, "head")
        # production now has the schema a fresh database gets, and kept its rows
        fresh_cfg = Config(str(tmp_path / "alembic.ini"))
        fresh_cfg.set_main_option("sqlalchemy.url", fresh)
        command.upgrade(fresh_cfg, "head")
        assert_same_schema(live(fresh), live(prod, "schema_migrations"))
        engine = sa.create_engine(prod)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM tasks").scalar() == 2
        engine.dispose()


def test_partly_present_first_revision_stamps_nothing_and_exits_0(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12 item 10 changed the exit code from 1 to 0: nothing stamped while `upgrade head`
    completes the first revision through the guards is a normal outcome, not a failure."""
    build_production(pg_url, legacy_table=False)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE users DROP CONSTRAINT users_email_key")
        conn.exec_driver_sql("DROP INDEX idx_tasks_assignee_id")
    engine.dispose()
    cfg = make_env(tmp_path, pg_url)
    do_import(cfg, LEGACY)
    args = argparse.Namespace(legacy_table="schema_migrations", dry_run=False, database=None)
    code = cli.execute(adopt_cmd, cfg, args)
    out = capsys.readouterr().out
    assert code == 0
    assert "Nothing stamped" in out and "`alembic upgrade head` completes it through the guards" in out
    assert "partial" in out
    assert "missing: constraint users.users_email_key, index idx_tasks_assignee_id" in out
    assert "No legacy table schema_migrations" in out
    assert current(pg_url) == []


def test_empty_database_has_nothing_to_adopt(tmp_path: Path, pg_url: str) -> None:
    cfg = make_env(tmp_path, pg_url)
    do_import(cfg, LEGACY)
    code, out = run_adopt(cfg)
    assert code == 0
    assert out[-1].startswith("Nothing to adopt")
    assert current(pg_url) == []


def test_adopt_without_imported_revisions_is_a_usage_error(tmp_path: Path, pg_url: str) -> None:
    cfg = make_env(tmp_path, pg_url)
    args = argparse.Namespace(legacy_table="schema_migrations", dry_run=False, database=None)
    assert cli.execute(adopt_cmd, cfg, args) == 2


def test_invalid_index_counts_as_missing() -> None:
    """Pure: an INVALID index left by a failed concurrent build is not 'present'."""
    from alembic_guard.importer.adopt import decide
    from alembic_guard.importer.writer import ImportedRevision
    from alembic_guard.model import Index, SchemaModel, Table

    model = SchemaModel()
    model.put_table(Table("public", "t"))
    model.put_index(Index("public", "ix", ("public", "t"), ("a",), valid=False))
    rev = ImportedRevision(
        "r1", None, "r1.py", "doc", source_file="1.sql", provides=(ObjRef("index", "public", "ix"),)
    )
    d = decide([rev], model)
    assert d.verdicts[0].status == "absent" and d.verdicts[0].invalid == (ObjRef("index", "public", "ix"),)
    assert d.stamp is None


@pytest.mark.parametrize("adopt_first", [True, False], ids=["adopt-then-upgrade", "upgrade-only"])
def test_guarded_environment_completes_production(
    adopt_first: bool, tmp_path: Path, pg_server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With alembic_guard's env.py (guard-init), `upgrade head` on production gives the fresh schema.

    After guard-adopt it runs only the 4 revisions production lacks; without
    adopting, the guards skip what exists (tables in their older shape get the
    missing project_id through the later revisions) and the result is the same.
    """
    from alembic_guard.commands import init as init_cmd
    from alembic_guard.testing import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pg_server.database() as prod, pg_server.database() as fresh:
        build_production(prod)
        ini = str(tmp_path / "alembic.ini")
        assert init_cmd.run(Config(ini), argparse.Namespace(directory=str(tmp_path / "env"))) == 0
        cfg = Config(ini)
        cfg.set_main_option("sqlalchemy.url", prod)
        do_import(cfg, LEGACY)
        if adopt_first:
            code, _ = run_adopt(cfg)
            assert code == 0
        command.upgrade(cfg, "head")
        fresh_cfg = Config(ini)
        fresh_cfg.set_main_option("sqlalchemy.url", fresh)
        command.upgrade(fresh_cfg, "head")
        assert_same_schema(live(fresh), live(prod, "schema_migrations", "alembic_guard_log"))
        assert current(prod) == current(fresh) == [revisions_by_file(tmp_path)[-1][0]]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0001", "0001_core.sql"),
        ("1", "0001_core.sql"),
        ("0001_core", "0001_core.sql"),
        ("0001_core.sql", "0001_core.sql"),
        ("V2", None),
        ("2", "2_more.up.sql"),
        ("20240101", None),
        ("", None),
    ],
)
def test_legacy_versions_match_source_files(version: str, expected: str | None) -> None:
    from alembic_guard.importer.adopt import match_version

    assert match_version(version, ["0001_core.sql", "2_more.up.sql"]) == expected


def test_data_only_revision_needs_the_legacy_claim() -> None:
    """Pure: the schema cannot show a data-only revision ran; a clean legacy row lets the prefix go on."""
    from alembic_guard.importer.adopt import decide
    from alembic_guard.importer.writer import ImportedRevision
    from alembic_guard.model import SchemaModel, Table

    model = SchemaModel()
    model.put_table(Table("public", "t"))
    t = (ObjRef("relation", "public", "t"),)
    revs = [
        ImportedRevision("r1", None, "r1.py", "1", source_file="1_t.sql", provides=t),
        ImportedRevision("r2", "r1", "r2.py", "2", source_file="2_fill.sql"),
        ImportedRevision("r3", "r2", "r3.py", "3", source_file="3_t.sql", provides=t),
    ]
    assert decide(revs, model).stamp == "r1"
    assert decide(revs, model, [("1", False), ("2", False)]).stamp == "r3"
    assert decide(revs, model, [("1", False), ("2", True)]).stamp == "r1"  # dirty: it failed half-way
    assert [v.status for v in decide(revs, model).verdicts] == ["present", "unverifiable", "present"]


def test_database_option_stamps_the_database_it_inspected(
    tmp_path: Path, pg_server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`guard-adopt --database B` with DATABASE_URL pointing at A inspects *and stamps* B; A is untouched."""
    from alembic_guard.commands import init as init_cmd
    from alembic_guard.testing import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    monkeypatch.chdir(tmp_path)
    with pg_server.database() as other, pg_server.database() as prod:
        build_production(prod)
        monkeypatch.setenv("DATABASE_URL", other)
        ini = str(tmp_path / "alembic.ini")
        assert init_cmd.run(Config(ini), argparse.Namespace(directory=str(tmp_path / "env"))) == 0
        cfg = Config(ini)
        do_import(cfg, LEGACY)
        code, _ = run_adopt(cfg, url=prod)
        assert code == 0
        assert current(prod) == [revisions_by_file(tmp_path)[1][0]]  # 0001 (part) and 0002 present
        assert current(other) == []


def test_guard_check_on_an_unadopted_legacy_database_shows_what_adopt_finds(
    tmp_path: Path, pg_url: str
) -> None:
    """Issue 12 item 10: before adoption every production table (with rows) was an ``extra-table``
    with advice to drop it; after adoption a stray table is reported with the rows it holds."""
    from alembic_guard.check import CheckOptions, collect

    build_production(pg_url)
    cfg = make_env(tmp_path, pg_url)
    do_import(cfg, LEGACY)
    report = collect(cfg, CheckOptions(url=pg_url))
    codes = [f.code for f in report.findings]
    assert "AG511" not in codes and not report.drift_items
    assert report.drift.status == "skipped" and "not adopted" in report.drift.note
    (adopt_finding,) = [f for f in report.findings if f.code == "AG612"]
    assert "guard-adopt finds present " in adopt_finding.message
    assert "partial" in adopt_finding.message or "absent" in adopt_finding.message
    code, out = run_adopt(cfg)
    assert code == 0 and out[-1].startswith("Stamped"), out
    assert "it would stamp 0efa5af6d155 (2 of 6)" in adopt_finding.message, adopt_finding.message
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE audit_copy AS SELECT g AS id FROM generate_series(1, 3) g")
    engine.dispose()
    report = collect(cfg, CheckOptions(url=pg_url))
    (stray,) = [d for d in report.drift_items if d.object == "relation audit_copy"]
    assert "it holds 3 rows: dropping it deletes them" in stray.message
    assert "drop it with" not in stray.hint and "it holds data" in stray.hint
    # the legacy runner's own table is one too, with its 2 rows said
    extra = {f.message.split(":")[0]: f for f in report.findings if f.code == "AG511"}
    assert sorted(extra) == ["relation audit_copy", "relation schema_migrations"]
    assert "it holds 2 rows" in extra["relation schema_migrations"].message
    finding = extra["relation audit_copy"]
    assert "3 rows" in finding.message and finding.help == stray.hint


def test_adopt_waits_for_a_running_upgrade_and_never_moves_the_version_back(
    tmp_path: Path, pg_url: str
) -> None:
    """N: adopt reads, decides and stamps under the migration lock an upgrade holds."""
    import threading
    import time

    from alembic_guard.runtime.lock import AdvisoryLock, lock_key

    build_production(pg_url)
    cfg = make_env(tmp_path, pg_url)
    do_import(cfg, LEGACY)
    head = revisions_by_file(tmp_path)[-1][0]
    engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    result: list[tuple[int, list[str]]] = []
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as upgrade:
            # a concurrent `alembic upgrade head` holds the migration lock
            lock = AdvisoryLock(upgrade, lock_key())
            lock.acquire()
            adopter = threading.Thread(target=lambda: result.append(run_adopt(cfg)))
            adopter.start()
            deadline = time.monotonic() + 60  # a stop for a hung test, not a bound on the behaviour
            while not upgrade.execute(
                sa.text(
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name LIKE "
                    "'alembic_guard%adopt' AND query LIKE '%pg_try_advisory_lock%')"
                )
            ).scalar():
                assert adopter.is_alive(), f"adopt did not wait for the migration lock: {result}"
                assert time.monotonic() < deadline, "adopt never asked for the migration lock"
                time.sleep(0.02)
            # the upgrade finishes: the database is at head, then the lock is released
            upgrade.execute(sa.text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
            upgrade.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
            lock.release()
            adopter.join(timeout=120)
    finally:
        engine.dispose()
    code, out = result[0]
    assert code == 0 and out[-1].startswith("Already stamped"), out
    assert current(pg_url) == [head]
