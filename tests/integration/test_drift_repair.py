"""Drift found by ``compare`` and repaired by ``alembic guard-repair`` on a real PostgreSQL.

Each scenario builds a guarded project at head, seeds rows, breaks the
database behind the migrations' back the way production databases get
broken, and runs the real ``alembic`` executable.  After ``--apply`` the
drift is gone and no row changed (md5 of every table's rows, over the
columns the drifted database had).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from alembic_guard.diff import compare
from alembic_guard.live.snapshot import BOOKKEEPING_TABLES, snapshot
from alembic_guard.model import SchemaModel
from alembic_guard.repair.expected import expected_schema, scratch_name
from alembic_guard.testing import GuardedProject, row_checksums

pytestmark = pytest.mark.db

SCHEMA = """
op.create_table(
    "users",
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(100), nullable=False),
)
op.create_table(
    "tasks",
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="todo"),
    sa.Column("owner_id", sa.Integer),
    sa.Column("note", sa.String(50)),
)
op.create_index("ux_users_email", "users", ["email"], unique=True)
op.create_index("ix_tasks_owner", "tasks", ["owner_id"])
op.create_foreign_key("fk_tasks_owner", "tasks", "users", ["owner_id"], ["id"])
op.create_check_constraint("ck_tasks_status", "tasks", "status IN ('todo', 'doing', 'done')")
op.execute("CREATE VIEW open_tasks AS SELECT id, title FROM tasks WHERE status <> 'done'")
"""

SEED = [
    "INSERT INTO users (id, email) VALUES (1, 'a@x.org'), (2, 'b@x.org'), (3, 'c@x.org')",
    "INSERT INTO tasks (id, title, status, owner_id, note) VALUES "
    "(1, 't1', 'todo', 1, 'n1'), (2, 't2', 'done', 2, NULL), (3, 't3', 'doing', NULL, 'n3')",
]


def sql(url: str, *statements: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for s in statements:
                try:
                    conn.exec_driver_sql(s)
                except sa.exc.DBAPIError as exc:
                    if "-- may fail" not in s:
                        raise
                    _ = exc
    finally:
        engine.dispose()


def live(url: str) -> SchemaModel:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return snapshot(conn, exclude=BOOKKEEPING_TABLES)
    finally:
        engine.dispose()


def checksums(url: str, model: SchemaModel) -> dict[tuple[str, str], str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return row_checksums(conn, model)
    finally:
        engine.dispose()


@pytest.fixture
def project(tmp_path: Path, pg_url: str) -> GuardedProject:
    p = GuardedProject(tmp_path, pg_url)
    p.add_revision("d1", None, SCHEMA, message="schema")
    done = p.run("upgrade", "head")
    assert done.returncode == 0, done.stderr
    sql(pg_url, *SEED)
    return p


def codes(url: str, p: GuardedProject) -> list[str]:
    from alembic.config import Config

    e = expected_schema(Config(str(p.ini)), url)
    return [f"{d.kind} {d.ref}" for d in compare(e.model, live(url), compare_expressions=e.catalog)]


def test_no_drift_after_upgrade_and_the_scratch_database_is_dropped(
    project: GuardedProject, pg_url: str
) -> None:
    from alembic.config import Config

    e = expected_schema(Config(str(project.ini)), pg_url)
    assert e.method == "scratch-database" and e.model.tables
    assert compare(e.model, live(pg_url), compare_expressions=True) == []
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        names = conn.exec_driver_sql("SELECT datname FROM pg_database").scalars().all()
    engine.dispose()
    db = sa.engine.make_url(pg_url).database
    assert db is not None and scratch_name(db) not in names
    out = project.run("guard-repair")
    assert out.returncode == 0, out.stderr
    assert "no drift, nothing to do" in out.stdout


def test_silent_drift_is_reported_repaired_and_no_row_changes(project: GuardedProject, pg_url: str) -> None:
    sql(
        pg_url,
        "ALTER TABLE tasks DROP COLUMN note",
        "DROP INDEX ix_tasks_owner",
        "DROP VIEW open_tasks",
        "ALTER TABLE tasks DROP CONSTRAINT fk_tasks_owner",
        # unvalidated, as a hurried hotfix leaves it
        "ALTER TABLE tasks DROP CONSTRAINT ck_tasks_status",
        "ALTER TABLE tasks ADD CONSTRAINT ck_tasks_status "
        "CHECK (status IN ('todo', 'doing', 'done')) NOT VALID",
        # a concurrent build that failed on a duplicate leaves an INVALID index behind
        "DROP INDEX ux_users_email",
        "UPDATE users SET email = 'a@x.org' WHERE id = 3",
        "CREATE UNIQUE INDEX CONCURRENTLY ux_users_email ON users (email) -- may fail",
        "UPDATE users SET email = 'c@x.org' WHERE id = 3",
    )
    assert codes(pg_url, project) == [
        "AG501 missing-column column tasks.note",
        "AG505 missing-index index ix_tasks_owner",
        "AG506 invalid-index index ux_users_email",
        "AG508 missing-constraint constraint tasks.fk_tasks_owner",
        "AG509 not-valid-constraint constraint tasks.ck_tasks_status",
        "AG512 missing-view relation open_tasks",
    ]
    drifted = live(pg_url)
    before = checksums(pg_url, drifted)

    plan = project.run("guard-repair")
    assert plan.returncode == 1, plan.stderr  # drift, printed not applied
    text = plan.stdout
    assert "6 step(s), 0 drift(s) not repaired" in text
    assert "ALTER TABLE tasks ADD COLUMN note character varying(50);" in text
    assert "CREATE INDEX CONCURRENTLY ix_tasks_owner ON tasks (owner_id);" in text
    assert "DROP INDEX CONCURRENTLY IF EXISTS ux_users_email;" in text
    assert "REFERENCES users (id) NOT VALID;" in text and "VALIDATE CONSTRAINT fk_tasks_owner;" in text
    assert "ALTER TABLE tasks VALIDATE CONSTRAINT ck_tasks_status;" in text
    assert "CREATE VIEW open_tasks AS" in text
    assert "--     lock: SHARE UPDATE EXCLUSIVE on tasks (reads and writes go on)" in text
    assert live(pg_url) == drifted  # printing changed nothing

    done = project.run("guard-repair", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 drift(s) remain" in done.stdout
    assert codes(pg_url, project) == []
    assert checksums(pg_url, drifted) == before
    # recorded in the ledger as one repair run with a step per repair
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT status, jsonb_array_length(steps) FROM alembic_guard_log WHERE direction = 'repair'"
        ).one()
    engine.dispose()
    assert tuple(row) == ("succeeded", 6)


def test_data_check_refuses_and_the_drift_remains(project: GuardedProject, pg_url: str) -> None:
    sql(
        pg_url,
        "ALTER TABLE tasks DROP CONSTRAINT fk_tasks_owner",
        "INSERT INTO tasks (id, title, owner_id) VALUES (4, 'orphan', 99)",
    )
    before = checksums(pg_url, live(pg_url))
    out = project.run("guard-repair", "--apply")
    assert out.returncode == 1
    assert "1 row(s) refer to rows of users that do not exist" in out.stdout
    assert "orphans: 1 row(s) of tasks: (id=4)" in out.stdout
    assert "1 drift(s) remain" in out.stdout and "AG508 missing-constraint" in out.stdout
    assert checksums(pg_url, live(pg_url)) == before
    assert codes(pg_url, project) == ["AG508 missing-constraint constraint tasks.fk_tasks_owner"]


def test_changed_type_needs_allow_destructive(project: GuardedProject, pg_url: str) -> None:
    sql(pg_url, "ALTER TABLE tasks ALTER COLUMN note TYPE text", "CREATE TABLE scratchpad (x int)")
    assert codes(pg_url, project) == [
        "AG503 column-type column tasks.note",
        "AG511 extra-table relation scratchpad",
    ]
    before = checksums(pg_url, live(pg_url))
    out = project.run("guard-repair", "--apply")
    assert out.returncode == 1
    assert (
        "-- not repaired: AG503 column-type column tasks.note (expected character varying(50); " in out.stdout
    )
    assert "needs --allow-destructive" in out.stdout
    assert len(codes(pg_url, project)) == 2
    out = project.run("guard-repair", "--apply", "--allow-destructive")
    assert out.returncode == 0, out.stdout + out.stderr
    assert (
        "ALTER TABLE tasks ALTER COLUMN note TYPE character varying(50) USING note::character varying(50);"
        in (out.stdout)
    )
    assert "DROP TABLE scratchpad;" in out.stdout
    assert codes(pg_url, project) == []
    after = live(pg_url)
    assert checksums(pg_url, after) == {q: v for q, v in before.items() if q in after.tables}


def test_replay_method_finds_the_same_structural_drift(project: GuardedProject, pg_url: str) -> None:
    from alembic.config import Config

    sql(pg_url, "DROP INDEX ix_tasks_owner", "ALTER TABLE tasks DROP COLUMN note")
    e = expected_schema(Config(str(project.ini)), pg_url, scratch=False)
    assert e.method == "replay"
    got = [f"{d.kind} {d.ref}" for d in compare(e.model, live(pg_url))]
    assert got == ["AG501 missing-column column tasks.note", "AG505 missing-index index ix_tasks_owner"]
    out = project.run("guard-repair", "--replay", "--apply")
    assert out.returncode == 0, out.stdout + out.stderr
    assert codes(pg_url, project) == []


def test_usage_and_connection_errors_exit_2(tmp_path: Path) -> None:
    p = GuardedProject(tmp_path, "postgresql://u:secret@127.0.0.1:1/nope")
    out = p.run("guard-repair")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "secret" not in out.stderr and out.stderr.startswith("FAILED: ")


LEGACY = Path(__file__).resolve().parents[2] / "alembic" / "legacy_sql"

PRODUCTION_ROWS = [
    "INSERT INTO users (email, full_name) VALUES ('a@x.org', 'A'), ('b@x.org', 'B')",
    "INSERT INTO projects (owner_id, name) VALUES (1, 'alpha'), (2, 'beta')",
    "INSERT INTO tasks (title, status, assignee_id, project_id) "
    "VALUES ('t1', 'todo', 1, 1), ('t2', 'done', 2, 2)",
    "INSERT INTO comments (task_id, author_id, body) VALUES (1, 2, 'hi'), (2, 1, 'ok')",
]


def legacy_runner(url: str, sql_dir: Path) -> list[str]:
    """A runner that goes on past errors: every statement of every file, in file order, each on its own.

    Returns the statements that failed (and so are silently missing).
    """
    from alembic_guard.sql.parse import parse_text

    failed = []
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for path in sorted(sql_dir.glob("*.sql")):
                for stmt in parse_text(path.read_text(), str(path)):
                    try:
                        conn.exec_driver_sql(stmt.text)
                    except sa.exc.DBAPIError:
                        failed.append(stmt.text)
    finally:
        engine.dispose()
    return failed


def test_legacy_production_database_is_reported_precisely_and_repaired(tmp_path: Path, pg_url: str) -> None:
    project = GuardedProject(tmp_path, pg_url)
    imported = project.run("guard-import", str(LEGACY))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    failed = legacy_runner(pg_url, LEGACY)
    assert [" ".join(s.split()) for s in failed] == [
        "CREATE INDEX IF NOT EXISTS idx_tasks_project_id ON tasks (project_id)"
    ]
    sql(pg_url, *PRODUCTION_ROWS)
    production = live(pg_url)
    assert all(checksums(pg_url, production).values())  # rows in every table
    before = checksums(pg_url, production)

    assert codes(pg_url, project) == ["AG505 missing-index index idx_tasks_project_id"]
    out = project.run("guard-repair")
    assert out.returncode == 1
    assert "CREATE INDEX CONCURRENTLY idx_tasks_project_id ON tasks (project_id);" in out.stdout
    out = project.run("guard-repair", "--apply")
    assert out.returncode == 0, out.stdout + out.stderr
    assert codes(pg_url, project) == []
    assert checksums(pg_url, production) == before


ROUTINES = """
op.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
op.add_column("tasks", sa.Column("mood", sa.Text))
op.execute("ALTER TABLE tasks ALTER COLUMN mood TYPE mood USING mood::mood")
op.add_column("tasks", sa.Column("touched", sa.Integer, server_default="0", nullable=False))
op.execute(
    "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN NEW.touched := NEW.touched + 1; RETURN NEW; END $$"
)
op.execute("CREATE TRIGGER trg_touch BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION touch()")
"""


def test_functions_triggers_and_enum_values_are_recreated_from_the_scratch_database(
    project: GuardedProject, pg_url: str
) -> None:
    project.add_revision("d2", "d1", ROUTINES, message="routines")
    assert project.run("upgrade", "head").returncode == 0
    sql(
        pg_url,
        "DROP TRIGGER trg_touch ON tasks",
        "DROP FUNCTION touch()",
        "ALTER TABLE tasks DROP COLUMN mood",
        "DROP TYPE mood",
        "CREATE TYPE mood AS ENUM ('sad', 'ok')",
        "ALTER TABLE tasks ADD COLUMN mood mood",
    )
    assert codes(pg_url, project) == [
        "AG513 missing-function function touch",
        "AG514 missing-trigger trigger tasks.trg_touch",
        "AG515 missing-enum-value type mood.happy",
    ]
    before = checksums(pg_url, live(pg_url))
    out = project.run("guard-repair", "--apply")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy';" in out.stdout
    assert "CREATE OR REPLACE FUNCTION public.touch()" in out.stdout
    assert codes(pg_url, project) == []
    assert checksums(pg_url, live(pg_url)) == before
    # the trigger works again
    sql(pg_url, "UPDATE tasks SET title = title || '!' WHERE id = 1")
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT touched FROM tasks WHERE id = 1").scalar() == 1
    engine.dispose()


def test_a_missing_primary_key_is_checked_and_added_before_the_foreign_key_that_needs_it(
    project: GuardedProject, pg_url: str
) -> None:
    sql(
        pg_url,
        "ALTER TABLE users DROP CONSTRAINT users_pkey CASCADE",  # takes fk_tasks_owner with it
        "INSERT INTO users (id, email) VALUES (3, 'd@x.org')",
    )
    assert codes(pg_url, project) == [
        "AG508 missing-constraint constraint tasks.fk_tasks_owner",
        "AG508 missing-constraint constraint users.users_pkey",
    ]
    out = project.run("guard-repair", "--apply")
    assert out.returncode == 1
    assert (
        "add primary key users.users_pkey (revision repair): 1 value group(s) of (id) occur more than once "
        "in users; primary key users_pkey would fail" in out.stdout
    )
    text = out.stdout
    assert text.index("ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX") < text.index(
        "fk_tasks_owner FOREIGN"
    )
    sql(pg_url, "DELETE FROM users WHERE email = 'd@x.org'")
    out = project.run("guard-repair", "--apply")
    assert out.returncode == 0, out.stdout + out.stderr
    assert codes(pg_url, project) == []


def test_repair_steps_outside_a_transaction_give_up_after_lock_timeout(
    project: GuardedProject, pg_url: str
) -> None:
    """L: the index build behind a primary key waits at most lock_timeout, then the step fails cleanly."""
    sql(pg_url, "ALTER TABLE users DROP CONSTRAINT users_pkey CASCADE")
    engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as blocker:
            # a long transaction holds a lock CREATE INDEX CONCURRENTLY must wait for
            blocker.exec_driver_sql("LOCK TABLE users IN SHARE MODE")
            out = project.run(
                "guard-repair", "--apply", env=project.env(ALEMBIC_GUARD_LOCK_TIMEOUT="300ms"), timeout=300
            )
            blocker.rollback()
    finally:
        engine.dispose()
    assert out.returncode == 1, out.stdout + out.stderr
    assert "lock timeout" in out.stdout and "55P03" in out.stdout, out.stdout
    # nothing half-built: no INVALID index left behind, and the repair can run again
    assert project.run("guard-repair", "--apply").returncode == 0
