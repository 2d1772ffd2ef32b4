"""The example application (taskboard) end to end, through the real ``alembic`` executable.

``alembic.ini`` + ``alembic/env.py`` (guarded) + ``alembic/versions`` (imported
from ``alembic/legacy_sql``) on real PostgreSQL databases: a fresh one, the
seed's "production" one (``alembic/production_state.py``), and production with
dirty data that a new constraint would reject.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config

from alembic import command
from alembic_guard.commands import import_sql
from alembic_guard.plan import plan_directory
from alembic_guard.pytest_plugin import AlembicGuardRunner, schema_difference
from alembic_guard.testing import PostgresServer

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
INI = ROOT / "alembic.ini"
LEGACY = ROOT / "alembic" / "legacy_sql"
VERSIONS = ROOT / "alembic" / "versions"
ALEMBIC = str(Path(sys.executable).with_name("alembic"))

sys.path.insert(0, str(ROOT / "alembic"))
from production_state import LEGACY_APPLIED, build_production_state  # noqa: E402

TABLES = ("users", "projects", "tasks", "comments")


def revision_ids() -> list[str]:
    """The imported revisions, base first."""
    return [s.revision for s in AlembicGuardRunner(INI, "postgresql://unused").history()]


def alembic(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``alembic`` executable, from the repository root, on ``url`` (``DATABASE_URL``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALEMBIC_GUARD_")}
    env["DATABASE_URL"] = url
    return subprocess.run([ALEMBIC, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def query(url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def checksums(url: str, columns: dict[str, list[str]] | None = None) -> dict[str, tuple[object, ...]]:
    """Per table: row count and ``md5(string_agg(row::text, ',' ORDER BY id))``.

    Over ``columns`` (the columns a table had before the upgrade) when given,
    so a column the upgrade adds does not change the checksum of the old data.
    """
    out: dict[str, tuple[object, ...]] = {}
    for table in TABLES:
        cols = (columns or {}).get(table)
        row = f"ROW({', '.join(cols)})" if cols else "t"
        ((count, digest),) = query(
            url, f"SELECT count(*), md5(string_agg({row}::text, ',' ORDER BY id)) FROM {table} AS t"
        )
        out[table] = (count, digest)
    return out


def table_columns(url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            return {t: [c["name"] for c in insp.get_columns(t)] for t in TABLES}
    finally:
        engine.dispose()


def versions_of(url: str) -> list[str]:
    return [str(r[0]) for r in query(url, "SELECT version_num FROM alembic_version")]


def assert_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


# -- the committed revisions -----------------------------------------------------------------


def test_committed_revisions_are_what_guard_import_writes(tmp_path: Path) -> None:
    """alembic/versions is exactly a fresh import of alembic/legacy_sql (so it is not stale)."""
    cfg = Config(str(tmp_path / "alembic.ini"))
    command.init(cfg, str(tmp_path / "env"))
    cfg = Config(str(tmp_path / "alembic.ini"))
    import_sql.import_directory(cfg, str(LEGACY), out=lambda _line: None)
    fresh = {p.name: p.read_text() for p in sorted((tmp_path / "env" / "versions").glob("*.py"))}
    committed = {p.name: p.read_text() for p in sorted(VERSIONS.glob("*.py"))}
    assert len(committed) == 6
    assert committed == fresh, "alembic/versions is stale: run `alembic guard-import alembic/legacy_sql`"

    # the real executable, from the repository root: nothing left to import
    proc = alembic("postgresql://unused/none", "guard-import", "alembic/legacy_sql")
    assert_ok(proc)
    assert "Nothing to import" in proc.stdout


# -- a fresh database ------------------------------------------------------------------------


def test_upgrade_head_on_fresh_database_builds_the_planned_legacy_schema(pg_server: PostgresServer) -> None:
    with pg_server.database() as via_alembic, pg_server.database() as via_sql:
        proc = alembic(via_alembic, "upgrade", "head")
        assert_ok(proc)
        assert versions_of(via_alembic) == [revision_ids()[-1]]
        # the models (alembic/app) are the schema at head: autogenerate has nothing to add
        proc = alembic(via_alembic, "check")
        assert_ok(proc)
        assert "No new upgrade operations detected" in proc.stdout

        plan = plan_directory(str(LEGACY))
        assert plan.ok, [p.render() for p in plan.problems]
        engine = sa.create_engine(via_sql, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            cur = conn.connection.cursor()
            for step in plan.steps:
                cur.execute(step.sql)
            cur.close()
        engine.dispose()

        expected = AlembicGuardRunner(INI, via_sql).snapshot()
        got = AlembicGuardRunner(INI, via_alembic).snapshot()
        assert set(expected.tables) == {("public", t) for t in TABLES}
        assert ("public", "project_task_counts") in expected.views
        assert got == expected, schema_difference(expected, got)


# -- production ------------------------------------------------------------------------------


def test_production_state_script(pg_server: PostgresServer) -> None:
    with pg_server.database() as url:
        script = str(ROOT / "alembic" / "production_state.py")
        proc = subprocess.run([sys.executable, script, url], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert {t: c for t, (c, _) in checksums(url).items()} == {
            "users": 3,
            "projects": 4,
            "tasks": 5,
            "comments": 3,
        }
        assert "project_id" not in table_columns(url)["tasks"]
        assert query(url, "SELECT to_regclass('idx_tasks_project_id')") == [(None,)]
        assert [r[0] for r in query(url, "SELECT filename FROM schema_migrations ORDER BY 1")] == list(
            LEGACY_APPLIED
        )
        # a second time on the same (no longer empty) database: refused, one line, exit 2
        proc = subprocess.run([sys.executable, script, url], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2
        assert "already has tables" in proc.stderr and "Traceback" not in proc.stderr


def test_production_adopt_then_upgrade_keeps_every_row(pg_server: PostgresServer) -> None:
    with pg_server.database() as prod:
        build_production_state(prod)
        old_columns = table_columns(prod)
        before = checksums(prod)

        proc = alembic(prod, "guard-adopt")
        assert_ok(proc)
        revs = revision_ids()
        assert versions_of(prod) == [revs[1]]  # 0001 (less the index added later) and 0002

        proc = alembic(prod, "upgrade", "head")
        assert_ok(proc)
        assert versions_of(prod) == [revs[-1]]
        assert checksums(prod, old_columns) == before

        # the seed's failure, closed: the column, its index and a validated foreign key
        assert "project_id" in table_columns(prod)["tasks"]
        assert query(
            prod,
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indexrelid = 'idx_tasks_project_id'::regclass AND i.indisvalid",
        ) == [("project_id",)]
        assert query(
            prod,
            "SELECT contype, convalidated, confrelid::regclass::text FROM pg_constraint "
            "WHERE conname = 'fk_tasks_project_id' AND conrelid = 'tasks'::regclass",
        ) == [("f", True, "projects")]

        # a second upgrade: a no-op (same version, same schema, no DDL committed)
        runner = AlembicGuardRunner(INI, prod)
        schema, fingerprint = runner.snapshot(), runner.catalog_fingerprint()
        proc = alembic(prod, "upgrade", "head")
        assert_ok(proc)
        assert versions_of(prod) == [revs[-1]]
        again = runner.snapshot()
        assert again == schema, schema_difference(schema, again)
        assert runner.catalog_fingerprint() == fingerprint
        assert checksums(prod, old_columns) == before


DIRTY = {
    # a project name used twice by one owner: uq_projects_owner_name (0004) cannot hold
    "duplicate": (
        ["INSERT INTO projects (owner_id, name, created_at) VALUES (1, 'engine', '2023-03-01 00:00:00+00')"],
        "88c8a9515e0d",
        ("projects", "uq_projects_owner_name", "1 value group(s)", "(owner_id=1, name='engine') × 2"),
    ),
    # a status outside the new CHECK (0003): ck_tasks_status cannot hold
    "check": (
        ["UPDATE tasks SET status = 'blocked' WHERE id = 4"],
        "1cbda37c153b",
        ("tasks", "ck_tasks_status", "1 row(s)", "(id=4)"),
    ),
    # a hotfix added tasks.project_id by hand and pointed a task at a missing project
    "orphan": (
        ["ALTER TABLE tasks ADD COLUMN project_id integer", "UPDATE tasks SET project_id = 99 WHERE id = 2"],
        "1cbda37c153b",
        ("tasks", "fk_tasks_project_id", "1 row(s)", "(id=2)", "projects"),
    ),
}


@pytest.mark.parametrize("case", sorted(DIRTY))
def test_dirty_production_data_is_refused_and_left_untouched(pg_server: PostgresServer, case: str) -> None:
    statements, refused_revision, expected_words = DIRTY[case]
    constraint = expected_words[1]
    with pg_server.database() as prod:
        build_production_state(prod)
        for sql in statements:
            query(prod, sql)
        old_columns = table_columns(prod)
        before = checksums(prod, old_columns)

        assert_ok(alembic(prod, "guard-adopt"))
        adopted = versions_of(prod)
        proc = alembic(prod, "upgrade", "head")
        assert proc.returncode != 0, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        # alembic_guard's wrapper of Alembic's run_cmd prints "FAILED: <message>" on stderr
        failed = [line for line in proc.stderr.splitlines() if line.startswith("FAILED:")]
        assert len(failed) == 1 and f"(revision {refused_revision})" in failed[0], proc.stdout
        for word in expected_words:
            assert word in proc.stderr, (word, proc.stderr)

        # the data pre-flight refused the run before ANY revision: data, constraint, version untouched
        assert "data pre-flight refused the run before any revision ran" in failed[0], failed[0]
        assert checksums(prod, old_columns) == before
        assert query(prod, "SELECT count(*) FROM pg_constraint WHERE conname = :n", n=constraint) == [(0,)]
        assert versions_of(prod) == adopted
        revs = revision_ids()
        # revisions were pending before the refused one, and none of them was applied
        assert revs.index(adopted[0]) < revs.index(refused_revision) - 1
        # the refusal is in the ledger, against the revision holding the constraint
        assert query(
            prod, "SELECT revision, status FROM alembic_guard_log WHERE status <> 'succeeded' ORDER BY id"
        ) == [(refused_revision, "failed")]


# -- pytest-alembic's standard tests ---------------------------------------------------------


def test_pytest_alembic_standard_tests_pass(
    pytester: pytest.Pytester, pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-alembic (single head, upgrade, up/down consistency) on the imported revisions."""
    pytest.importorskip("pytest_alembic")
    monkeypatch.setenv("ALEMBIC_GUARD_TEST_URL", pg_server.url("postgres"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    pytester.makeconftest(
        f"""
        import os
        import pytest
        import sqlalchemy as sa
        from pytest_alembic.config import Config

        @pytest.fixture
        def alembic_config(alembic_guard_db):
            # the guarded env.py reads every ALEMBIC_GUARD_* variable as a setting
            os.environ.pop("ALEMBIC_GUARD_TEST_URL", None)
            return Config(config_options={{"file": {str(INI)!r}, "sqlalchemy.url": alembic_guard_db}})

        @pytest.fixture
        def alembic_engine(alembic_guard_db):
            engine = sa.create_engine(alembic_guard_db)
            yield engine
            engine.dispose()
        """
    )
    pytester.makepyfile(
        test_pytest_alembic=(
            "from pytest_alembic.tests import (\n"
            "    test_single_head_revision, test_up_down_consistency, test_upgrade,\n"
            ")\n"
        )
    )
    result = pytester.runpytest_subprocess("-v")
    out = result.stdout.str()
    for name in ("test_single_head_revision", "test_upgrade", "test_up_down_consistency"):
        assert f"::{name} PASSED" in out, out
    result.assert_outcomes(passed=3)
