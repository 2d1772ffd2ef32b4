"""``python -m alembic_guard.demo``: the seed's failure and its fix, on a real PostgreSQL.

Starts a throwaway server (:class:`alembic_guard.testing.PostgresServer`),
then, in fresh databases:

1. applies the example app's legacy SQL (``alembic/legacy_sql``) in file
   order, the way the legacy runner did, and shows PostgreSQL's error;
2. prints ``guard-plan``'s statement-level order for the same files;
3. runs the planned order and shows that the schema is complete;
4. plans against a drifted "production" database where ``tasks`` already
   exists in an older shape, and shows what ``guard-plan`` reports;
5. the Alembic story, with the real ``alembic`` executable in a scratch
   project: ``guard-init``, ``guard-import`` of the legacy SQL, then on the
   "production" database (``alembic/production_state.py``: the old schema
   with rows and the legacy ``schema_migrations`` table) ``guard-adopt`` +
   ``alembic upgrade head`` with every row kept, and ``guard-status``;
6. four replicas running ``alembic upgrade head`` at the same moment on an
   empty database: one migrates, the others wait for the advisory lock and
   find the work done; the ledger shows every revision applied once.

Stops the server and exits 0 when every step behaved as expected, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from alembic_guard.errors import GuardError, UsageError
from alembic_guard.model import QName, SchemaModel
from alembic_guard.output import plan_text
from alembic_guard.plan import Plan, plan_directory
from alembic_guard.testing import PostgresServer

DEFAULT_SQL = Path(__file__).resolve().parent.parent / "alembic" / "legacy_sql"
PRODUCTION_SCRIPT = Path(__file__).resolve().parent.parent / "alembic" / "production_state.py"
ALEMBIC = str(Path(sys.executable).with_name("alembic"))

PRODUCTION = """
CREATE TABLE users (id serial PRIMARY KEY, email varchar(255) NOT NULL UNIQUE, full_name text,
                    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE projects (id serial PRIMARY KEY, owner_id integer NOT NULL REFERENCES users (id),
                       name varchar(200) NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE tasks (id serial PRIMARY KEY, title text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now());
"""


def say(text: str = "") -> None:
    print(text, flush=True)


def title(text: str) -> None:
    say()
    say(f"== {text} " + "=" * max(0, 74 - len(text)))


def indent(text: str, prefix: str = "   ") -> str:
    return textwrap.indent(text.rstrip("\n"), prefix)


def file_order(url: str, sql_dir: Path) -> str | None:
    """Run each file's whole text in name order, like the legacy runner; the error or None."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for f in sorted(sql_dir.glob("*.sql")):
                say(f"   running {f.name} ...")
                try:
                    conn.exec_driver_sql(f.read_text(encoding="utf-8"))
                except sa.exc.DBAPIError as exc:
                    first = str(exc.orig).strip().splitlines()[0]
                    say(f"   FAILED in {f.name}: {first}")
                    return first
        return None
    finally:
        engine.dispose()


def planned_order(url: str, plan: Plan) -> None:
    """Execute every planned step in one transaction (raises on failure)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for k, step in enumerate(plan.steps, 1):
                conn.exec_driver_sql(step.sql)
                mark = " (moved)" if step.moved else ""
                say(f"   {k:>2}. ok  {step.statement.file}:{step.statement.line}{mark}")
    finally:
        engine.dispose()


def describe_schema(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        insp = sa.inspect(engine)
        lines = []
        for table in sorted(insp.get_table_names()):
            cols = ", ".join(c["name"] for c in insp.get_columns(table))
            lines.append(f"table {table} ({cols})")
        lines += [f"view {v}" for v in sorted(insp.get_view_names())]
        return lines
    finally:
        engine.dispose()


def alembic(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``alembic`` executable in ``project`` against ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALEMBIC_GUARD_")}
    env["DATABASE_URL"] = url
    return subprocess.run([ALEMBIC, *args], cwd=project, env=env, capture_output=True, text=True)


def show(proc: subprocess.CompletedProcess[str], limit: int = 40) -> None:
    lines = (proc.stdout + proc.stderr).rstrip().splitlines()
    for line in lines[:limit]:
        say(f"   | {line}")
    if len(lines) > limit:
        say(f"   | ... ({len(lines) - limit} more lines)")


def row_checksums(url: str, before: SchemaModel | None = None) -> tuple[SchemaModel, dict[QName, str]]:
    """The application's tables and the md5 of each one's rows (read-only).

    Pass the model back in after a migration: the sums are then taken over
    the tables and columns that existed before, so a column added since
    (``tasks.project_id``) does not count as a changed row.
    """
    from alembic_guard.live.snapshot import snapshot
    from alembic_guard.testing import row_checksums as checksums

    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            model = before
            if model is None:
                model = snapshot(conn, ["public"])
                # the bookkeeping tables are ours, and guard-adopt / upgrade write to them
                model.tables = {q: t for q, t in model.tables.items() if not q[1].startswith("alembic_")}
            return model, checksums(conn, model)
    finally:
        engine.dispose()


def alembic_story(server: PostgresServer, sql_dir: Path) -> bool:
    ok = True
    project = Path(tempfile.mkdtemp(prefix="alembic_guard_demo_"))
    try:
        title("5. From raw SQL to guarded Alembic revisions")
        proc = alembic(project, server.url("postgres"), "guard-init", "migrations")
        say("   $ alembic guard-init migrations")
        show(proc, 6)
        ok = ok and proc.returncode == 0
        proc = alembic(project, server.url("postgres"), "guard-import", str(sql_dir))
        say(f"   $ alembic guard-import {sql_dir.name}")
        show(proc)
        ok = ok and proc.returncode == 0
        first = sorted((project / "migrations" / "versions").glob("*.py"))
        if first:
            say(f"   one of them, {first[0].name}:")
            body = first[0].read_text(encoding="utf-8").splitlines()
            start = next((i for i, line in enumerate(body) if line.startswith("def upgrade")), 0)
            for line in body[start : start + 14]:
                say(f"   > {line}")

        title("5b. Adopting the production database the legacy runner managed")
        url = server.create_database()
        build = subprocess.run([sys.executable, str(PRODUCTION_SCRIPT), url], capture_output=True, text=True)
        if build.returncode != 0:
            say(f"   !! could not build the production state: {build.stderr.strip()}")
            return False
        say("   production: old 0001 (tasks without project_id) + 0002, rows in every table,")
        say("   and schema_migrations claiming 0001 and 0002 are applied.")
        tables, before = row_checksums(url)
        for args in (("guard-adopt",), ("upgrade", "head"), ("guard-status",)):
            say(f"   $ alembic {' '.join(args)}")
            proc = alembic(project, url, *args)
            show(proc)
            if proc.returncode != 0:
                say(f"   !! exit {proc.returncode}")
                ok = False
        kept = row_checksums(url, tables)[1] == before
        say(f"   rows: {'every pre-existing row kept (md5 per table unchanged)' if kept else 'CHANGED'}")
        ok = ok and kept
        proc = alembic(project, url, "upgrade", "head")
        again = proc.returncode == 0 and "Running upgrade" not in proc.stdout + proc.stderr
        say(f"   a second `alembic upgrade head`: {'nothing to do' if again else 'UNEXPECTED'}")
        ok = ok and again
        return ok
    finally:
        shutil.rmtree(project, ignore_errors=True)


def replicas(server: PostgresServer, count: int = 4) -> bool:
    title(f"6. {count} replicas start at the same moment on an empty database")
    project = Path(tempfile.mkdtemp(prefix="alembic_guard_demo_"))
    try:
        url = server.create_database()
        alembic(project, url, "guard-init", "migrations")
        alembic(project, url, "guard-import", str(DEFAULT_SQL))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALEMBIC_GUARD_")}
        env["DATABASE_URL"] = url
        procs = [
            subprocess.Popen(
                [ALEMBIC, "upgrade", "head"],
                cwd=project,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(count)
        ]
        codes = [p.wait(timeout=300) for p in procs]
        say(f"   exit codes: {codes}")
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT revision, count(*) FROM alembic_guard_log "
                        "WHERE status = 'succeeded' GROUP BY revision"
                    )
                ).all()
        finally:
            engine.dispose()
        once = bool(rows) and all(n == 1 for _, n in rows)
        say(f"   ledger: {len(rows)} revisions succeeded, {'each exactly once' if once else 'NOT once each'}")
        return once and all(c == 0 for c in codes)
    finally:
        shutil.rmtree(project, ignore_errors=True)


def run(sql_dir: Path) -> int:
    ok = True
    started = time.perf_counter()
    title("Starting a throwaway PostgreSQL server")
    with PostgresServer() as server:
        say(f"   server on 127.0.0.1:{server.port} (removed at the end)")

        title("1. The legacy runner: files in name order")
        say(f"   {sql_dir}")
        error = file_order(server.create_database(), sql_dir)
        if error and "project_id" in error:
            say("   -> exactly the seed's failure: 0001 indexes tasks.project_id, which only 0003 adds.")
        else:
            say(f"   !! expected the seed's error about project_id, got: {error!r}")
            ok = False

        title("2. alembic guard-plan: the statement-level order")
        result = plan_directory(sql_dir)
        say(indent(plan_text.render(result, title=sql_dir.name)))
        ok = ok and result.ok

        title("3. The planned order on a fresh database")
        url = server.create_database()
        try:
            planned_order(url, result)
            say("   -> every statement succeeded. The schema now has:")
            say(indent("\n".join(describe_schema(url)), "      "))
        except sa.exc.DBAPIError as exc:
            say(f"   !! planned order failed: {str(exc.orig).strip().splitlines()[0]}")
            ok = False

        title("4. Planning against a drifted production database")
        url = server.create_database()
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(PRODUCTION)
            say("   production has users, projects and an *older* tasks (id, title, created_at).")
            from alembic_guard.live.snapshot import snapshot

            with engine.connect() as conn:
                start = snapshot(conn)
        finally:
            engine.dispose()
        drifted = plan_directory(sql_dir, start=start)
        say("   guard-plan --database <production> reports:")
        for p in drifted.problems:
            say(indent(f"{p.severity}: {p.render()}", "     "))
            if p.hint:
                say(f"       hint: {p.hint}")
        if drifted.ok:
            say("   !! expected problems: CREATE TABLE IF NOT EXISTS cannot add tasks' missing columns")
            ok = False
        else:
            say("   -> found before anything ran: the service would not have crashed at start-up.")
        ok = alembic_story(server, sql_dir) and ok
        ok = replicas(server) and ok
    title("Done" if ok else "Done, with unexpected results")
    say(f"   {time.perf_counter() - started:.1f} s; the throwaway server is stopped.")
    return 0 if ok else 1


def example_app() -> None:
    """The demo runs the example application of a checkout (``alembic/`` beside ``alembic_guard/``).

    It is not shipped in the package: installed, ``alembic/`` beside the
    package is Alembic's own.  Raises :class:`UsageError` saying so.
    """
    if not (DEFAULT_SQL.is_dir() and PRODUCTION_SCRIPT.is_file()):
        raise UsageError(
            "the demo needs the example application of a checkout of alembic_guard (alembic/legacy_sql "
            f"and alembic/production_state.py beside the package), not found under {DEFAULT_SQL.parent}",
            hint="run it from a checkout: bash scripts/demo.sh (the installed package does not ship the app)",
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alembic_guard.demo", description=__doc__.splitlines()[0])
    parser.add_argument("sql_dir", nargs="?", default=str(DEFAULT_SQL), help="legacy SQL directory")
    args = parser.parse_args(argv)
    try:
        example_app()
        return run(Path(args.sql_dir))
    except GuardError as exc:
        print(f"FAILED: {exc.render()}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
