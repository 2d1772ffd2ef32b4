"""psycopg 3 and psycopg2, every URL form: snapshot, lock, ledger, a guarded upgrade, guard-check live.

Each test runs once per driver (the ``driver`` / ``driver_url`` fixtures of
tests/conftest.py).  A psycopg2-only installation is simulated in a
subprocess by a ``psycopg`` package on ``PYTHONPATH`` that refuses to import,
which is what a bare ``postgresql://`` URL meets when psycopg 3 is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from alembic_guard.dburl import create_engine
from alembic_guard.live.snapshot import snapshot
from alembic_guard.model import SchemaModel
from alembic_guard.runtime.ledger import Ledger
from alembic_guard.runtime.lock import AdvisoryLock, lock_key
from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db

SCHEMA = """
CREATE TYPE mood AS ENUM ('ok', 'bad');
CREATE TABLE projects (id int PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE "tasks%%s" (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id int REFERENCES projects (id),
    mood mood,
    title text CHECK (title <> '')
);
CREATE INDEX ix_tasks_project ON "tasks%%s" (project_id) WHERE mood = 'ok';
CREATE SEQUENCE counter;
"""


def hidden_modules(tmp_path: Path, *names: str) -> str:
    """A directory to put first on PYTHONPATH: importing any of ``names`` raises ImportError there."""
    root = tmp_path / "hidden"
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed (test)')\n")
    return str(root)


def test_snapshot_and_refresh(driver_url):
    engine = create_engine(driver_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(SCHEMA)
        with engine.connect() as conn:
            model = snapshot(conn)
            assert {("public", "projects"), ("public", "tasks%s")} <= set(model.tables)
            # the runtime's read: PREPAREd once per session, then EXECUTEd (psycopg 3 binds on the server)
            fresh = SchemaModel()
            for _ in range(2):
                model_refresh(fresh, conn)
            assert set(fresh.tables) == {("public", "projects"), ("public", "tasks%s")}
            assert set(fresh.indexes) == {k for k, ix in model.indexes.items() if ix.table in fresh.tables}
    finally:
        engine.dispose()


def model_refresh(model: SchemaModel, conn) -> None:
    from alembic_guard.live.snapshot import refresh

    refresh(model, conn, [("public", "projects"), ("public", "tasks%s"), ("public", "absent")])


def test_lock_is_exclusive_and_names_its_holder(driver_url):
    engine = create_engine(driver_url)
    key = lock_key()
    try:
        with engine.connect() as a, engine.connect() as b:
            a = a.execution_options(isolation_level="AUTOCOMMIT")
            b = b.execution_options(isolation_level="AUTOCOMMIT")
            first, second = AdvisoryLock(a, key, wait_s=0), AdvisoryLock(b, key, wait_s=0)
            assert first.try_acquire()
            assert not second.try_acquire()
            holder = second.holder()
            assert holder is not None
            assert holder.pid == a.execute(text("SELECT pg_backend_pid()")).scalar()
            first.release()
            assert second.try_acquire()
            second.release()
    finally:
        engine.dispose()


def test_ledger_records_a_failure_with_nulls_and_steps(driver_url):
    engine = create_engine(driver_url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            ledger = Ledger(conn)
            ledger.ensure()
            assert ledger.exists()
            common = {"run_id": "r1", "direction": "upgrade", "backend_pid": None, "profile": None}
            first = ledger.start(revision="a1", attempt=1, checksum=None, policy=None, **common)
            ledger.add_step(first, {"kind": "statement", "index": 1})
            ledger.add_event(first, "note", {"x": 1})
            second = ledger.start(
                revision="a2",
                attempt=1,
                checksum="abc",
                policy="strict",
                finish_previous={"record_id": first, "status": "succeeded", "ops_done": 2},
                **common,
            )
            ledger.finish(second, status="failed", sqlstate="22012", error="division by zero", statement="x")
            records = {r.revision: r for r in ledger.records()}
            assert records["a1"].status == "succeeded" and records["a2"].status == "failed"
            assert records["a2"].sqlstate == "22012"
            assert [r.revision for r in ledger.records(status="failed")] == ["a2"]
    finally:
        engine.dispose()


def _project(tmp_path: Path, url: str) -> GuardedProject:
    project = GuardedProject(tmp_path / "project", url)
    project.add_revision(
        "d1",
        None,
        """
        op.create_table("projects", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))
        op.create_index("ix_projects_name", "projects", ["name"])
        op.create_unique_constraint("uq_projects_name", "projects", ["name"])
        """,
    )
    project.add_revision(
        "d2",
        "d1",
        """
        op.create_table("tasks", sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id")))
        op.execute("INSERT INTO projects (id, name) VALUES (1, 'x%y')")
        """,
    )
    return project


def test_guarded_upgrade_status_and_live_check(tmp_path, driver_url, driver):
    """A bare ``postgresql://`` URL uses the driver that is installed; upgrade twice, status, check."""
    bare = driver_url.replace(f"postgresql+{driver}://", "postgresql://")
    project = _project(tmp_path, bare)
    env = project.env()
    if driver == "psycopg2":  # a psycopg2-only installation
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [hidden_modules(tmp_path, "psycopg"), env.get("PYTHONPATH")])
        )
    for _ in range(2):
        done = project.run("upgrade", "head", env=env)
        assert done.returncode == 0, done.stderr
    status = project.run("guard-status", "--format", "json", env=env)
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["database"].startswith(f"postgresql+{driver}://")
    assert [r["state"] for r in doc["revisions"]] == ["applied", "applied"]
    for fmt in ("text", "json"):
        check = project.run("guard-check", "--format", fmt, env=env)
        assert check.returncode in (0, 1), check.stderr
        assert "Traceback" not in check.stderr and "FAILED" not in check.stderr
    engine = create_engine(driver_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM projects")).scalar() == "x%y"
            assert (
                conn.execute(
                    text("SELECT count(*) FROM alembic_guard_log WHERE status = 'succeeded'")
                ).scalar()
                == 2
            )
    finally:
        engine.dispose()


def test_postgres_scheme_and_explicit_driver(tmp_path, driver_url, driver):
    """``postgres://`` (hosting platforms) and ``postgresql+<driver>://`` in DATABASE_URL."""
    short = driver_url.replace(f"postgresql+{driver}://", "postgres://")
    project = _project(tmp_path, short)
    done = project.run("upgrade", "d1")
    assert done.returncode == 0, done.stderr
    explicit = project.run("upgrade", "head", env=project.env(DATABASE_URL=driver_url))
    assert explicit.returncode == 0, explicit.stderr
    status = project.run("guard-status", env=project.env(DATABASE_URL=driver_url))
    assert status.returncode == 0 and "2 applied, 0 pending, 0 failed" in status.stdout, status.stderr


# -- connection problems: one line, exit 2, URL masked, in every command ------------------------------


def _problems(pg_url: str) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """name -> (URL, expected text, modules that are missing)."""
    from sqlalchemy.engine import make_url

    u = make_url(pg_url).set(password="s3cret")
    return {
        "closed port": (u.set(port=1).render_as_string(hide_password=False), "cannot connect to ", ()),
        "missing database": (
            u.set(database="no_such_db").render_as_string(hide_password=False),
            'database "no_such_db" does not exist',
            (),
        ),
        "mysql": ("mysql://app:s3cret@db.example/app", "migrates PostgreSQL only, not 'mysql'", ()),
        "unparsable": ("postgresql://app:s3cret@h:port/db", "cannot be parsed", ()),
        "asyncpg": ("postgresql+asyncpg://app:s3cret@h/db", "driver 'asyncpg' is not supported", ()),
        "no driver": (
            "postgresql://app:s3cret@h/db",
            "no PostgreSQL driver is installed",
            ("psycopg", "psycopg2"),
        ),
        "driver missing": (
            u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False),
            "the driver 'psycopg' is not installed",
            ("psycopg",),
        ),
    }


def _one_failed_line(code: object, out: str, err: str, expected: str) -> str | None:
    """What is wrong with a failure's output, or None: exit 2, FAILED + hint, no traceback or password."""
    lines = [line for line in err.splitlines() if not line.startswith("INFO ")]
    if code != 2:
        return f"exit {code}"
    if "Traceback" in err or "s3cret" in out + err:
        return "traceback or password shown"
    if not (1 <= len(lines) <= 2 and lines[0].startswith("FAILED: ") and expected in lines[0]):
        return "not one FAILED line naming the problem"
    if len(lines) == 2 and not lines[1].startswith("  hint: "):
        return "second line is not a hint"
    return None


GUARD_COMMANDS = {
    "guard-status": ("guard-status",),
    "guard-check": ("guard-check",),
    "guard-check json": ("guard-check", "--format", "json"),
    "guard-repair": ("guard-repair",),
    "guard-adopt": ("guard-adopt",),
    "guard-plan": ("guard-plan", "sql", "--database", "{url}"),
}


def test_connection_problems_in_every_guard_command(tmp_path, pg_url, monkeypatch, capsys):
    """In process (the same code path as the ``alembic`` executable, much faster)."""
    from alembic_guard import cli, dburl

    project = GuardedProject(tmp_path / "adopt", pg_url)
    (project.root / "sql").mkdir()
    (project.root / "sql" / "001.sql").write_text("CREATE TABLE t (id int);\n")
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    cli.main(["-c", str(project.ini), "guard-import", "sql"])  # guard-adopt needs imported revisions
    capsys.readouterr()
    failures = []
    for problem, (url, expected, missing) in _problems(pg_url).items():
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setattr(dburl, "driver_installed", lambda d, missing=missing: d not in missing)
        for name, argv in GUARD_COMMANDS.items():
            code: object = 0
            try:
                cli.main(["-c", str(project.ini), *(a.format(url=url) for a in argv)])
            except SystemExit as exc:
                code = exc.code
            out, err = capsys.readouterr()
            wrong = _one_failed_line(code, out, err, expected)
            if wrong:
                failures.append(f"{problem} / {name}: {wrong}\n{err}")
    assert not failures, "\n\n".join(failures)


def test_connection_problems_in_alembic_upgrade(tmp_path, pg_url):
    """The real ``alembic`` executable, through the guarded env.py."""
    project = _project(tmp_path, pg_url)
    runs = []
    for problem, (url, expected, missing) in _problems(pg_url).items():
        env = project.env(DATABASE_URL=url)
        if missing:
            env["PYTHONPATH"] = hidden_modules(tmp_path / problem.replace(" ", "_"), *missing)
        runs.append((problem, expected, project.popen("upgrade", "head", env=env)))
    failures = []
    for problem, expected, proc in runs:
        out, err = proc.communicate(timeout=300)
        wrong = _one_failed_line(proc.returncode, out, err, expected)
        if wrong:
            failures.append(f"{problem}: {wrong}\n{err}")
    assert not failures, "\n\n".join(failures)
