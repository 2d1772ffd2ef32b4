"""What the guarded runtime costs per revision: round trips, re-rendering, start-up imports.

The speed targets of issue 4 (docs/benchmarks.md, "Runtime") rest on these
properties; each test fails if one of them regresses.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alembic_guard.runtime import preflight, upgrade_on_startup
from alembic_guard.testing import GuardedProject


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every statement any engine of this process sends while the test runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    sa.event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(Engine, "before_cursor_execute", record)


def _project(tmp_path: Path, url: str) -> GuardedProject:
    project = GuardedProject(tmp_path / "proj", url)
    project.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    project.add_revision("r2", "r1", 'op.add_column("t", sa.Column("c", sa.Integer))')
    project.add_revision("r3", "r2", 'op.create_index("t_c_ix", "t", ["c"])')
    # what the guarded statements of a revision run under, kept for the test to read
    project.add_revision(
        "r4", "r3", "op.execute(\"CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS v\")"
    )
    return project


def _refreshes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("EXECUTE alembic_guard_relations_detailed")]


@pytest.mark.db
def test_tables_are_read_once_per_run_while_only_guarded_operations_change_them(
    tmp_path: Path, pg_url: str, statements: list[str]
) -> None:
    project = _project(tmp_path, pg_url)
    # raw SQL: its changes reach the model through the analysis, not the catalog, so the
    # revision after it reads what it touches again
    project.add_revision("r5", "r4", 'op.add_column("seen", sa.Column("w", sa.Integer))')
    result = upgrade_on_startup(project.ini, url=pg_url, profile="dev", lock_timeout="2s")
    assert result.applied == ("r1", "r2", "r3", "r4", "r5")

    # one read of every table the run touches before the first revision; r4's CREATE TABLE AS
    # reads the table it made (its column types are the query's: 129ce84); r5 reads what it
    # touches again after raw SQL.  r1-r3 read nothing.
    refreshes = _refreshes(statements)
    prepares = [s for s in statements if s.startswith("PREPARE alembic_guard_relations_detailed")]
    assert (len(refreshes), len(prepares)) == (3, 1)
    # no Inspector reflection, no per-kind catalog queries, no SET LOCAL per transaction ...
    assert not [s for s in statements if "pg_catalog.pg_constraint.conname" in s or "SET LOCAL" in s]
    # ... yet the guarded statements ran under the configured lock_timeout (set for the session)
    with sa.create_engine(pg_url).connect() as conn:
        assert conn.exec_driver_sql("SELECT v FROM seen").scalar() in ("2s", "2000ms")
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "r5"
        assert conn.exec_driver_sql("SELECT to_regclass('t_c_ix') IS NOT NULL").scalar()
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_attribute WHERE attrelid = 'seen'::regclass AND attname = 'w'"
            ).scalar()
            == 1
        )
    # the model carried what the earlier revisions made: r3 found column c and built its index
    r3 = next(r for r in result.revisions if r.revision == "r3")
    assert (r3.ops_done, r3.ops_skipped, r3.debts) == (1, 0, ())
    assert result.retries == 0


@pytest.mark.db
def test_a_schema_change_outside_the_run_is_caught_by_a_fresh_read_and_one_retry(
    tmp_path: Path, pg_url: str, statements: list[str]
) -> None:
    """Between two revisions another session adds the column the next revision adds.

    The model carried from the run's first read does not have it, so the
    guarded ADD COLUMN is sent, PostgreSQL refuses it (42701), the revision
    rolls back, and the runner reads the catalog again and retries once: the
    guard then finds the column and skips it.
    """
    project = GuardedProject(tmp_path / "proj", pg_url)
    project.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    outside = (
        "if not op.get_context().as_sql:  # not while the pre-flight renders it offline\n"
        f"        with sa.create_engine({pg_url!r}).connect() as other:\n"
        '            other.exec_driver_sql("ALTER TABLE t ADD COLUMN c integer")\n'
        "            other.commit()"
    )
    project.add_revision("r2", "r1", outside)
    project.add_revision("r3", "r2", 'op.add_column("t", sa.Column("c", sa.Integer))')
    result = upgrade_on_startup(project.ini, url=pg_url, profile="dev")

    assert result.heads_after == ("r3",) and result.retries == 1
    r3 = [r for r in result.revisions if r.revision == "r3"]
    assert [r.status for r in r3] == ["failed", "succeeded"]
    assert (r3[-1].ops_done, r3[-1].ops_skipped) == (0, 1)
    with sa.create_engine(pg_url).connect() as conn:
        ledger = conn.exec_driver_sql(
            "SELECT status, sqlstate FROM alembic_guard_log WHERE revision = 'r3' ORDER BY id"
        ).all()
    assert [tuple(row) for row in ledger] == [("failed", "42701"), ("succeeded", None)]


@pytest.mark.db
def test_a_rerun_on_an_up_to_date_database_reads_nothing_per_revision(
    tmp_path: Path, pg_url: str, statements: list[str]
) -> None:
    project = _project(tmp_path, pg_url)
    upgrade_on_startup(project.ini, url=pg_url, profile="dev")
    statements.clear()
    again = upgrade_on_startup(project.ini, url=pg_url, profile="dev")
    assert again.applied == () and again.heads_after == ("r4",)
    # the version table, and nothing of the schema: a replica at head pays one look
    assert not [s for s in statements if "relations_detailed" in s or "pg_catalog" in s]


def test_a_revision_is_rendered_and_analyzed_once_per_file_version() -> None:
    calls: list[int] = []

    def upgrade() -> None:
        from alembic import op

        calls.append(1)
        op.execute("CREATE TABLE cached_t (a int)")

    first = preflight.analyze_revision("rc", None, upgrade, checksum="sum-1")
    again = preflight.analyze_revision("rc", None, upgrade, checksum="sum-1")
    changed = preflight.analyze_revision("rc", None, upgrade, checksum="sum-2")
    assert first is not None and again is first
    assert changed is not None and changed is not first
    assert len(calls) == 2
    assert first[1] == {("public", "cached_t")}


@pytest.mark.parametrize(
    ("argv", "imported"),
    [
        (["-c", "alembic.ini", "upgrade", "head"], False),
        (["current"], False),
        (["guard-status"], True),
        (["--help"], True),
    ],
    ids=["upgrade", "current", "guard-command", "help"],
)
def test_alembic_commands_do_not_import_the_guard_commands(argv: list[str], imported: bool) -> None:
    """A replica's ``alembic upgrade head`` skips importing guard-* modules (analyzer, importer).

    Through ``CommandLine.main`` as the ``alembic`` executable calls it (the plugin registers
    its commands there); ``--help`` after the command line makes the parse the last step.
    """
    probe = (
        "import sys\n"
        "from alembic.config import CommandLine\n"
        "cl = CommandLine()\n"
        "try:\n"
        f"    cl.main({[*argv, '--help']!r})\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "else:\n"
        "    raise AssertionError('--help did not exit')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('alembic_guard.commands.', 'pglast'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.strip().splitlines()[-1]
    assert ("alembic_guard.commands.import_sql" in loaded) is imported
    assert ("pglast" in loaded) is imported
    if argv == ["--help"]:
        assert "guard-check" in done.stdout and "guard-status" in done.stdout


@pytest.mark.db
def test_a_run_of_typed_operations_does_not_import_the_linter(tmp_path: Path, pg_url: str) -> None:
    """Only raw SQL has syntax for the server-version pre-flight to judge (AG701).

    The linter and its rules were a large part of a guarded run's start-up
    imports; a history of typed operations never needs them.
    """
    project = GuardedProject(tmp_path / "proj", pg_url)
    project.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    project.add_revision("r2", "r1", 'op.add_column("t", sa.Column("c", sa.Integer))')
    project.add_revision("r3", "r2", 'op.create_index("t_c_ix", "t", ["c"])')
    probe = (
        "import sys\n"
        "from alembic_guard.runtime import upgrade_on_startup\n"
        f"result = upgrade_on_startup({str(project.ini)!r}, url={pg_url!r}, profile='dev')\n"
        "assert result.applied == ('r1', 'r2', 'r3'), result\n"
        "print(sorted(m for m in sys.modules if m.startswith('alembic_guard.lint')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_pre_flight_and_the_later_changes_hook_build_an_ops_spec_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pre-flight decides each recorded op; the later-changes hook replays the same op object.

    The spec (a SQLAlchemy Table, compiled column types) is built once for both.
    """
    from alembic.operations import Operations

    from alembic_guard.model import SchemaModel
    from alembic_guard.ops import decisions
    from alembic_guard.ops.context import standalone_settings

    built: list[str] = []
    real = decisions.create_table_spec

    def counting(operations: Any, operation: Any) -> Any:
        built.append(operation.table_name)
        return real(operations, operation)

    monkeypatch.setattr(decisions, "create_table_spec", counting)

    def upgrade() -> None:
        from alembic import op

        op.create_table("spec_once", sa.Column("id", sa.Integer, primary_key=True))

    recorded = preflight.record_operations(upgrade)
    assert recorded is not None
    operations = Operations(preflight._offline("postgresql"))
    decision = decisions.decide_operation(operations, recorded[0], SchemaModel(), standalone_settings())
    changes = decisions.operation_changes(operations, recorded[0])
    assert decision is not None and decision.verdict == "run" and changes
    assert built == ["spec_once"]
