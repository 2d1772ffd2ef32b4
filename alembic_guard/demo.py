"""``python -m alembic_guard.demo``: the seed's failure and its fix, on a real PostgreSQL.

Starts a throwaway server (:class:`alembic_guard.testing.PostgresServer`),
then, in fresh databases:

1. applies the example app's legacy SQL (``alembic/legacy_sql``) in file
   order, the way the legacy runner did, and shows PostgreSQL's error;
2. prints ``guard-plan``'s statement-level order for the same files;
3. runs the planned order and shows that the schema is complete;
4. plans against a drifted "production" database where ``tasks`` already
   exists in an older shape, and shows what ``guard-plan`` reports.

Stops the server and exits 0 when every step behaved as expected, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa

from alembic_guard.errors import GuardError
from alembic_guard.plan import Plan, plan_directory
from alembic_guard.render import plan_text
from alembic_guard.testing import PostgresServer

DEFAULT_SQL = Path(__file__).resolve().parent.parent / "alembic" / "legacy_sql"

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
    title("Done" if ok else "Done, with unexpected results")
    say(f"   {time.perf_counter() - started:.1f} s; the throwaway server is stopped.")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alembic_guard.demo", description=__doc__.splitlines()[0])
    parser.add_argument("sql_dir", nargs="?", default=str(DEFAULT_SQL), help="legacy SQL directory")
    args = parser.parse_args(argv)
    try:
        return run(Path(args.sql_dir))
    except GuardError as exc:
        print(f"FAILED: {exc.render()}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
