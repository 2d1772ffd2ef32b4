"""Pre-flight: a revision whose requirements nothing provides is refused (strict) or skipped as a debt."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_guard.model import Column, SchemaModel, Table
from alembic_guard.runtime.preflight import analyze, check, touched_tables
from alembic_guard.testing import GuardedProject


def _query(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("sql", "missing"),
    [
        ("CREATE INDEX t_b_ix ON t (b);", ["relation t"]),
        ("CREATE TABLE t (a int); CREATE INDEX t_b_ix ON t (b);", ["column t.b"]),
        ("CREATE TABLE t (a int); ALTER TABLE t ADD COLUMN b int; CREATE INDEX t_b_ix ON t (b);", []),
        ("CREATE TABLE IF NOT EXISTS t (a int, b int); CREATE INDEX t_b_ix ON t (b);", []),
    ],
)
def test_check_against_an_empty_model(sql, missing):
    analyzed = analyze(sql, "rev.sql")
    assert analyzed is not None
    assert [p.ref.describe() for p in check(analyzed, SchemaModel())] == missing
    assert ("public", "t") in touched_tables(analyzed)


def test_check_knows_a_serial_columns_sequence():
    """SELECT ... FROM t_id_seq: the model read for the run has the table, whose default names the
    sequence; a sequence nothing names is still missing."""
    model = SchemaModel()
    model.put_table(
        Table("public", "jobs", (Column("id", "bigint", False, "nextval('jobs_id_seq'::regclass)", True),))
    )
    analyzed = analyze("SELECT last_value FROM jobs_id_seq; SELECT last_value FROM tasks_id_seq;", "rev.sql")
    assert analyzed is not None
    assert [p.ref.describe() for p in check(analyzed, model)] == ["relation tasks_id_seq"]


def _project(tmp_path, pg_url) -> GuardedProject:
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "p1",
        None,
        'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.execute("CREATE SEQUENCE probe")',
    )
    # nextval() is not rolled back: if it ran, the sequence shows it.
    project.add_revision(
        "p2",
        "p1",
        'op.execute("SELECT nextval(\'probe\')")\nop.create_index("t_ghost_ix", "t", ["ghost"])',
    )
    return project


@pytest.mark.db
def test_strict_refuses_before_any_statement_runs(tmp_path, pg_url):
    project = _project(tmp_path, pg_url)
    result = project.run("upgrade", "head", env=project.env(ALEMBIC_GUARD_POLICY="strict"))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "revision p2 (0002_p2.py) refused before any statement ran: it requires column t.ghost" in out
    # decided from the op object, not rendered to SQL and parsed back (issue 11)
    assert "create_index t_ghost_ix requires column t.ghost" in out
    assert _query(pg_url, "SELECT is_called FROM probe") == [(False,)]
    assert _query(pg_url, "SELECT version_num FROM alembic_version") == [("p1",)]
    rows = _query(pg_url, "SELECT revision, status, events->>'statements' FROM alembic_guard_log ORDER BY id")
    assert [r[:2] for r in rows] == [("p1", "succeeded"), ("p2", "failed")]
    assert rows[1][2] == "0"  # the refusal came before the first statement


@pytest.mark.db
def test_lenient_skips_the_operation_and_records_a_debt(tmp_path, pg_url):
    project = _project(tmp_path, pg_url)
    result = project.run("upgrade", "head", env=project.env(ALEMBIC_GUARD_POLICY="lenient"))
    assert result.returncode == 0, result.stderr
    assert "pre-flight of revision p2 (0002_p2.py): 1 requirement(s) missing" in result.stderr
    assert "1 debt(s) recorded" in result.stderr
    assert _query(pg_url, "SELECT version_num FROM alembic_version") == [("p2",)]
    assert _query(pg_url, "SELECT to_regclass('t_ghost_ix')") == [(None,)]
    debts = _query(pg_url, "SELECT debts FROM alembic_guard_log WHERE revision = 'p2'")[0][0]
    assert [(d["op"], d["target"]) for d in debts] == [("create_index", "t_ghost_ix")]
    assert "ghost" in debts[0]["reason"]
    status = json.loads(project.run("guard-status", "--format", "json").stdout)
    assert status["revisions"][1]["debts"] == debts


@pytest.mark.db
def test_strict_does_not_refuse_an_outer_column_read_inside_a_subquery(tmp_path, pg_url):
    """Analysed alone, ``(SELECT ... FROM addresses WHERE id = address_id)`` cannot tell that
    ``address_id`` is the outer table's; pre-flight reads the statement again knowing the
    tables before calling a column missing (a kratos migration was refused under ``ci``)."""
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "o1",
        None,
        'op.create_table("addresses", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("identity_id", sa.Integer))\n'
        'op.create_table("tokens", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("identity_id", sa.Integer), sa.Column("address_id", sa.Integer))',
    )
    project.add_revision(
        "o2",
        "o1",
        'op.execute("UPDATE tokens SET identity_id = (SELECT identity_id FROM addresses '
        'WHERE id = address_id) WHERE identity_id IS NULL")',
    )
    result = project.run("upgrade", "head", env=project.env(ALEMBIC_GUARD_POLICY="strict"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "requirement(s) missing" not in result.stderr


@pytest.mark.db
def test_strict_knows_the_columns_of_a_view_over_a_table_of_an_earlier_revision(tmp_path, pg_url):
    """``CREATE VIEW v AS SELECT c.* FROM comment c`` analysed alone has no columns; the next
    statement's ``v.id`` is not missing (lemmy's revisions were refused under ``ci``)."""
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "w1",
        None,
        'op.create_table("comment", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("body", sa.Text))',
    )
    project.add_revision(
        "w2",
        "w1",
        'op.execute("CREATE VIEW comment_view AS SELECT c.*, length(c.body) AS size FROM comment c")\n'
        'op.execute("CREATE VIEW comment_sizes AS SELECT v.id, v.size FROM comment_view v")',
    )
    result = project.run("upgrade", "head", env=project.env(ALEMBIC_GUARD_POLICY="strict"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "requirement(s) missing" not in result.stderr
