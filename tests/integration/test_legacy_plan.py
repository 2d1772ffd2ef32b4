"""The seed scenario on a real PostgreSQL: file order fails, the planned order runs."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa

from alembic_guard.plan import plan_directory

ROOT = Path(__file__).parent.parent.parent
LEGACY = ROOT / "alembic" / "legacy_sql"
CASES = ROOT / "tests" / "fixtures" / "plan"


def _dsn(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_legacy_sql_in_file_order_fails_as_in_the_seed(pg_url: str) -> None:
    conn = psycopg2.connect(_dsn(pg_url))
    try:
        with pytest.raises(psycopg2.errors.UndefinedColumn) as info, conn, conn.cursor() as cur:
            for f in sorted(LEGACY.glob("*.sql")):
                cur.execute(f.read_text())
        assert 'column "project_id" does not exist' in str(info.value)
    finally:
        conn.close()


def _run_plan(url: str, directory: Path) -> None:
    result = plan_directory(directory)
    assert result.ok, [p.render() for p in result.problems]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for step in result.steps:
                conn.exec_driver_sql(step.sql)
    finally:
        engine.dispose()


def test_legacy_sql_in_planned_order_succeeds(pg_url: str) -> None:
    _run_plan(pg_url, LEGACY)
    engine = sa.create_engine(pg_url)
    try:
        insp = sa.inspect(engine)
        assert "project_id" in {c["name"] for c in insp.get_columns("tasks")}
        assert "idx_tasks_project_id" in {i["name"] for i in insp.get_indexes("tasks")}
        assert "project_task_counts" in insp.get_view_names()
        assert {fk["name"] for fk in insp.get_foreign_keys("tasks")} >= {"fk_tasks_project_id"}
    finally:
        engine.dispose()


def test_mutual_foreign_keys_run_after_split(pg_url: str) -> None:
    _run_plan(pg_url, CASES / "mutual_fks")
    engine = sa.create_engine(pg_url)
    try:
        insp = sa.inspect(engine)
        teams = {fk["name"]: fk["referred_table"] for fk in insp.get_foreign_keys("teams")}
        people = {fk["name"]: fk["referred_table"] for fk in insp.get_foreign_keys("people")}
        # the split key carries the name PostgreSQL would have given the inline one
        assert teams == {"teams_lead_id_fkey": "people"}
        assert people == {"people_team_fk": "teams"}
    finally:
        engine.dispose()


@pytest.mark.parametrize("case", ["keeps_order", "ensure_twice", "data_order"])
def test_fixture_plans_run_on_postgresql(pg_url: str, case: str) -> None:
    """Every planned step runs, and the database ends with the relations the plan's replay predicts."""
    from alembic_guard.changes import replay
    from alembic_guard.live.snapshot import snapshot
    from alembic_guard.sql.statement import AnalyzedStatement

    _run_plan(pg_url, CASES / case)
    planned = plan_directory(CASES / case)
    predicted = replay(AnalyzedStatement(s.statement, s.effect) for s in planned.steps)
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            live = snapshot(conn)
    finally:
        engine.dispose()
    assert predicted.tables, case
    assert set(live.tables) == set(predicted.tables)
    assert {q: t.column_names() for q, t in live.tables.items()} == {
        q: t.column_names() for q, t in predicted.tables.items()
    }


PRODUCTION = """
CREATE TABLE users (id serial PRIMARY KEY, email varchar(255) NOT NULL UNIQUE, full_name text,
                    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE projects (id serial PRIMARY KEY, owner_id integer NOT NULL REFERENCES users (id),
                       name varchar(200) NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE tasks (id serial PRIMARY KEY, title text NOT NULL);
INSERT INTO users (email) VALUES ('a@example.com');
"""


def test_plan_from_a_drifted_database_judges_if_not_exists(pg_url: str) -> None:
    """Production: tasks exists in an older shape, so CREATE TABLE IF NOT EXISTS adds nothing."""
    from alembic_guard.live.snapshot import snapshot

    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(PRODUCTION)
        with engine.connect() as conn:
            start = snapshot(conn)
        result = plan_directory(LEGACY, start=start)
        # status, assignee_id and created_at are listed by the skipped CREATE TABLE only
        missing = sorted(str(p.missing) for p in result.problems if p.code == "AG102")
        assert missing == ["column tasks.assignee_id", "column tasks.status", "column tasks.status"]
        assert all("will not add it" in p.message for p in result.problems)
        tasks_step = next(
            s for s in result.steps if s.statement.text.startswith("CREATE TABLE IF NOT EXISTS tasks")
        )
        assert tasks_step.note is not None and "will not be added" in tasks_step.note
    finally:
        engine.dispose()
