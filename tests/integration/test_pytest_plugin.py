"""alembic_guard's pytest plugin, run the way a user runs it: pytest in a project of its own.

Each test writes a small project with ``pytester`` and runs pytest on it in a
subprocess (own logging, own imported revision modules), pointed at this
suite's PostgreSQL through ``ALEMBIC_GUARD_TEST_URL``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from alembic_guard.testing import PostgresServer

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_INI = ROOT / "alembic.ini"
VERSIONS = ROOT / "alembic" / "versions"

# pytest-alembic's collector breaks on pytest 9; the projects here do not use it.
BASE_ARGS = ("-p", "no:pytest_alembic", "-p", "no:cacheprovider", "-rs", "-v")


@pytest.fixture
def project(
    pytester: pytest.Pytester, pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    monkeypatch.setenv("ALEMBIC_GUARD_TEST_URL", pg_server.url("postgres"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return pytester


def copy_example(dest: Path) -> Path:
    """The example app's Alembic environment, copied (to be broken on purpose); returns its ini."""
    shutil.copy(EXAMPLE_INI, dest / "alembic.ini")
    shutil.copytree(
        ROOT / "alembic",
        dest / "alembic",
        ignore=shutil.ignore_patterns("__pycache__", "legacy_sql", "production_state.py"),
    )
    return dest / "alembic.ini"


def revision_file(root: Path, stem_part: str) -> Path:
    (path,) = [p for p in (root / "alembic" / "versions").glob("*.py") if stem_part in p.name]
    return path


def outcomes(stdout: str) -> dict[str, str]:
    """``{test id: PASSED|FAILED|SKIPPED}`` from pytest's ``-v`` output."""
    found = re.findall(r"::(test_alembic_guard_\S+) (PASSED|FAILED|SKIPPED|ERROR)", stdout)
    return dict(found)


def test_standard_tests_pass_on_the_example_app(project: pytest.Pytester) -> None:
    """Enabled by ini (collected under conftest.py), with the MetaData named in the ini."""
    project.makeini(
        f"""
        [pytest]
        alembic_guard_config = {EXAMPLE_INI}
        alembic_guard_metadata = app.models:metadata
        alembic_guard_standard_tests = true
        alembic_guard_tests_path = conftest.py
        pythonpath = {ROOT / "alembic"}
        """
    )
    project.makeconftest("")
    result = project.runpytest_subprocess(*BASE_ARGS)
    out = result.stdout.str()
    got = outcomes(out)
    revisions = sorted(p.name.split("_", 1)[0] for p in VERSIONS.glob("*.py"))
    assert len(revisions) == 6
    expected = {
        "test_alembic_guard_single_head": "PASSED",
        "test_alembic_guard_upgrade_from_empty": "PASSED",
        "test_alembic_guard_upgrade_twice_is_noop": "PASSED",
        "test_alembic_guard_models_match_head": "PASSED",
        **{f"test_alembic_guard_roundtrip[{rev}]": "PASSED" for rev in revisions},
    }
    assert got == expected, out
    result.assert_outcomes(passed=10)


def test_broken_downgrade_fails_the_round_trip_and_irreversible_is_skipped(
    project: pytest.Pytester,
) -> None:
    """Enabled by ``import *``; one downgrade does nothing, another is irreversible."""
    ini = copy_example(project.path)
    comments = revision_file(project.path, "_0002_comments")
    text = comments.read_text()
    body = text[text.index("def downgrade() -> None:") :]
    comments.write_text(text.replace(body, "def downgrade() -> None:\n    pass\n"))
    reporting = revision_file(project.path, "_0004_reporting")
    text = reporting.read_text()
    body = text[text.index("def downgrade() -> None:") :]
    reporting.write_text(
        text.replace(body, 'def downgrade() -> None:\n    raise NotImplementedError("drops a view")\n')
    )
    project.makeini(f"[pytest]\nalembic_guard_config = {ini}\n")
    project.makepyfile(test_migrations="from alembic_guard.pytest_plugin import *\n")

    result = project.runpytest_subprocess(*BASE_ARGS)
    out = result.stdout.str()
    got = outcomes(out)
    rev_comments = comments.name.split("_", 1)[0]
    rev_reporting = reporting.name.split("_", 1)[0]
    assert got[f"test_alembic_guard_roundtrip[{rev_comments}]"] == "FAILED", out
    assert got[f"test_alembic_guard_roundtrip[{rev_reporting}]"] == "SKIPPED", out
    assert f"downgrade of {rev_comments} does not undo its upgrade" in out
    # the drift report names what the downgrade left behind
    assert "comments" in out.split(f"downgrade of {rev_comments} does not undo its upgrade", 1)[1]
    assert f"{rev_reporting} is irreversible: drops a view" in out
    # no MetaData given: the models test says how to give one
    assert got["test_alembic_guard_models_match_head"] == "SKIPPED"
    assert "set the ini key alembic_guard_metadata" in out
    others = {
        k: v
        for k, v in got.items()
        if rev_comments not in k and rev_reporting not in k and k != "test_alembic_guard_models_match_head"
    }
    assert set(others.values()) == {"PASSED"} and len(others) == 7, out
    result.assert_outcomes(passed=7, failed=1, skipped=2)


def test_models_test_fails_when_the_models_drift_from_head(project: pytest.Pytester) -> None:
    """The user's own ``alembic_guard_metadata`` fixture wins over the ini; a column head lacks fails."""
    project.makeini(
        f"""
        [pytest]
        alembic_guard_config = {EXAMPLE_INI}
        alembic_guard_metadata = app.models:metadata
        pythonpath = {ROOT / "alembic"}
        """
    )
    project.makeconftest(
        """
        import pytest
        import sqlalchemy as sa

        @pytest.fixture
        def alembic_guard_metadata():
            from app.models import metadata
            md = sa.MetaData()
            for table in metadata.sorted_tables:
                table.to_metadata(md)
            sa.Table("users", md, sa.Column("nickname", sa.Text()), extend_existing=True)
            return md
        """
    )
    project.makepyfile(
        test_models="from alembic_guard.pytest_plugin import test_alembic_guard_models_match_head\n"
    )
    result = project.runpytest_subprocess(*BASE_ARGS)
    out = result.stdout.str()
    result.assert_outcomes(failed=1)
    assert "the models differ from the schema at head" in out
    assert "add_column users.nickname" in out


def test_runner_fixture_and_missing_config(project: pytest.Pytester) -> None:
    """The runner's API on a fresh database; a missing alembic.ini is one clear error."""
    project.makeini(f"[pytest]\nalembic_guard_config = {EXAMPLE_INI}\n")
    project.makepyfile(
        test_runner="""
        from alembic_guard.pytest_plugin import AlembicGuardRunner

        def test_runner(alembic_guard_runner):
            r = alembic_guard_runner
            assert isinstance(r, AlembicGuardRunner)
            assert r.current() == () and r.snapshot().is_empty()
            heads = r.heads()
            first = r.history()[0].revision
            r.upgrade(first)
            assert r.current() == (first,)
            result = r.upgrade("head")
            assert r.current() == heads and len(result.applied) == 5
            statuses = [(row["revision"], row["status"]) for row in r.ledger()]
            assert statuses[0] == (first, "succeeded") and len(statuses) == 6
            assert set(r.snapshot().tables) == {
                ("public", "users"), ("public", "projects"), ("public", "tasks"), ("public", "comments")
            }
            r.downgrade("base")
            assert r.current() == () and r.snapshot().is_empty()

        def test_db_is_fresh(alembic_guard_db):
            import sqlalchemy as sa
            engine = sa.create_engine(alembic_guard_db)
            with engine.connect() as conn:
                assert sa.inspect(conn).get_table_names() == []
            engine.dispose()
        """
    )
    result = project.runpytest_subprocess(*BASE_ARGS)
    result.assert_outcomes(passed=2)

    result = project.runpytest_subprocess(*BASE_ARGS, "--alembic-guard-config", "nowhere.ini")
    result.assert_outcomes(passed=1, failed=1)
    assert "nowhere.ini: no such Alembic configuration file" in result.stdout.str()


def test_plugin_is_inert_unless_used(project: pytest.Pytester) -> None:
    """A project that uses none of it: no server is started, no standard tests appear."""
    project.makepyfile(test_plain="def test_plain():\n    assert True\n")
    project.makeconftest(
        """
        def pytest_sessionfinish(session):
            import sys
            assert "alembic_guard.testing" not in sys.modules, "the plugin imported the server code"
            assert "sqlalchemy" not in sys.modules, "the plugin imported SQLAlchemy"
        """
    )
    result = project.runpytest_subprocess(*BASE_ARGS)
    result.assert_outcomes(passed=1)
    assert "test_alembic_guard" not in result.stdout.str()


def test_catalog_fingerprint_changes_with_ddl_only(pg_url: str) -> None:
    """What the no-op test relies on: rows and ANALYZE leave it alone, every kind of DDL changes it."""
    import sqlalchemy as sa

    from alembic_guard.pytest_plugin import AlembicGuardRunner

    runner = AlembicGuardRunner(EXAMPLE_INI, pg_url)
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")

    def run(sql: str) -> str:
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
        return runner.catalog_fingerprint()

    empty = runner.catalog_fingerprint()
    created = run("CREATE TABLE t (id serial PRIMARY KEY, v text)")
    assert created != empty
    assert run("INSERT INTO t (v) SELECT g::text FROM generate_series(1, 500) g") == created
    assert run("ANALYZE t") == created
    assert run("UPDATE t SET v = v || '!'") == created
    steps = [
        "CREATE INDEX t_v ON t (v)",
        "ALTER TABLE t ADD COLUMN w integer",
        "ALTER TABLE t ALTER COLUMN w SET DEFAULT 0",
        "ALTER TABLE t ADD CONSTRAINT t_w CHECK (w >= 0) NOT VALID",
        "ALTER TABLE t VALIDATE CONSTRAINT t_w",
        "CREATE VIEW tv AS SELECT id FROM t",
        "CREATE OR REPLACE VIEW tv AS SELECT id FROM t",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE TYPE mood AS ENUM ('ok')",
        "ALTER TYPE mood ADD VALUE 'meh'",
        "CREATE EXTENSION IF NOT EXISTS pgcrypto",
        "ALTER TABLE t ALTER COLUMN v SET NOT NULL",
    ]
    seen = {empty, created}
    for sql in steps:
        now = run(sql)
        assert now not in seen, f"no change after: {sql}"
        seen.add(now)
    engine.dispose()


def test_the_ini_switch_without_a_conftest_collects_the_standard_tests(project: pytest.Pytester) -> None:
    """Issue 12 item 8: with no ``tests/conftest.py`` (the default ``alembic_guard_tests_path``) the
    switch silently collected nothing (exit 5); they are collected under the ini file instead."""
    project.makeini(
        f"""
        [pytest]
        alembic_guard_config = {EXAMPLE_INI}
        alembic_guard_standard_tests = true
        pythonpath = {ROOT / "alembic"}
        """
    )
    result = project.runpytest_subprocess(*BASE_ARGS, "-k", "single_head or twice")
    result.assert_outcomes(passed=2, deselected=8)
    assert "tox.ini::test_alembic_guard_single_head PASSED" in result.stdout.str()


PYTEST_ALEMBIC_CONFTEST = """
import pytest
import sqlalchemy as sa
from pytest_alembic.config import Config


@pytest.fixture
def alembic_config(alembic_guard_db):
    return Config(config_options={"file": "alembic.ini", "sqlalchemy.url": alembic_guard_db})


@pytest.fixture
def alembic_engine(alembic_guard_db):
    engine = sa.create_engine(alembic_guard_db)
    yield engine
    engine.dispose()
"""


def test_pytest_alembic_and_the_standard_tests_share_a_tests_conftest(project: pytest.Pytester) -> None:
    """Issue 12 item 8: docs/testing.md's recipe, pytest-alembic installed and enabled, with a
    ``tests/conftest.py``: pytest-alembic's collector kept off that file (it fails on pytest 9),
    its tests imported, its fixtures from its plugin; our standard tests under the same conftest."""
    pytest.importorskip("pytest_alembic")
    copy_example(project.path)
    tests = project.path / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text(PYTEST_ALEMBIC_CONFTEST)
    (tests / "test_migrations.py").write_text(
        "from pytest_alembic.tests import test_single_head_revision, test_upgrade  # noqa: F401\n"
    )
    project.makeini(
        f"""
        [pytest]
        alembic_guard_standard_tests = true
        pytest_alembic_tests_path = tests/pytest_alembic_collects_nothing_here.py
        pythonpath = {ROOT / "alembic"}
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-rs", "-v", "-k", "not roundtrip")
    out = result.stdout.str()
    assert "_nodeid" not in out, out
    assert "tests/test_migrations.py::test_single_head_revision PASSED" in out, out
    assert "tests/test_migrations.py::test_upgrade PASSED" in out, out
    assert "tests/conftest.py::test_alembic_guard_upgrade_twice_is_noop PASSED" in out, out
    result.assert_outcomes(passed=5, skipped=1, deselected=6)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_runner_takes_every_url_form(pg_url: str, scheme: str) -> None:
    """``postgres://`` (hosting platforms) and a bare ``postgresql://``: the runner connects through
    alembic_guard.dburl like every command (it built its engine directly: ``postgres`` failed)."""
    from alembic_guard.pytest_plugin import AlembicGuardRunner

    url = f"{scheme}://" + pg_url.split("://", 1)[1]
    runner = AlembicGuardRunner(EXAMPLE_INI, url)
    assert runner.current() == ()
    runner.upgrade("head")
    assert runner.current() == runner.heads()
    assert "projects" in {name for _, name in runner.snapshot().tables}
