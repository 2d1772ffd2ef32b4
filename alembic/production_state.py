"""Build the taskboard's "production" database: the state the seed's failure met.

Production was migrated by the legacy SQL runner *before* two things happened
to ``alembic/legacy_sql``: the index on ``tasks.project_id`` was added to 0001
(whose column only 0003 creates), and 0003/0004 were written.  So it holds:

- 0001 as it was then: users, projects, tasks (no ``project_id``), the
  ``idx_tasks_assignee_id`` index, and no ``idx_tasks_project_id``;
- 0002: comments and their index;
- rows in every table (non-ASCII text included);
- the legacy runner's ``schema_migrations`` table, listing the files it
  believes it applied (0001 and 0002).

Usage::

    python alembic/production_state.py postgresql://user@host/dbname

or ``build_production_state(url)`` from code (tests, demos).  The database
must be empty: this builds a state, it does not repair one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from alembic_guard.errors import GuardError, UsageError
from alembic_guard.sql.parse import parse_text

__all__ = ["LEGACY_APPLIED", "LEGACY_SQL", "build_production_state"]

LEGACY_SQL = Path(__file__).resolve().parent / "legacy_sql"
LEGACY_APPLIED = ("0001_core_tables_idempotent.sql", "0002_comments.sql")
"""The files the legacy runner recorded in ``schema_migrations``."""

# The statement that was added to 0001 after production had run it.
_ADDED_LATER = "idx_tasks_project_id"

_ROWS = (
    "INSERT INTO users (email, full_name, created_at) VALUES "
    "('ada@example.org', 'Ada Lovelace', '2023-01-05 09:00:00+00'), "
    "('grace@example.org', 'Grace Hopper', '2023-01-06 10:30:00+00'), "
    "('rene@example.org', 'René Descartes', '2023-02-01 08:15:00+00')",
    "INSERT INTO projects (owner_id, name, created_at) VALUES "
    "(1, 'engine', '2023-01-10 12:00:00+00'), "
    "(1, 'notes', '2023-01-11 12:00:00+00'), "
    "(2, 'compiler', '2023-01-12 12:00:00+00'), "
    "(3, 'méditations', '2023-02-02 12:00:00+00')",
    "INSERT INTO tasks (title, status, assignee_id, created_at) VALUES "
    "('design the mill', 'todo', 1, '2023-01-10 13:00:00+00'), "
    "('write note G', 'done', 1, '2023-01-11 13:00:00+00'), "
    "('A-0 linker', 'doing', 2, '2023-01-12 13:00:00+00'), "
    "('unassigned cleanup', 'todo', NULL, '2023-01-13 13:00:00+00'), "
    "('cogito, ergo sum', 'done', 3, '2023-02-02 13:00:00+00')",
    "INSERT INTO comments (task_id, author_id, body, created_at) VALUES "
    "(1, 2, 'Needs a store and a mill.', '2023-01-10 14:00:00+00'), "
    "(3, 1, 'Looks good to me.', '2023-01-12 14:00:00+00'), "
    "(5, 3, 'Je pense, donc je suis.', '2023-02-02 14:00:00+00')",
)


def old_statements() -> list[str]:
    """The SQL production ran: legacy 0001 without the statement added later, then 0002."""
    out: list[str] = []
    for name in LEGACY_APPLIED:
        path = LEGACY_SQL / name
        out.extend(s.text for s in parse_text(path.read_text(encoding="utf-8"), str(path)))
    return [sql for sql in out if _ADDED_LATER not in sql]


def build_production_state(url: str) -> None:
    """Create the production state in the (empty) database at ``url``, in one transaction.

    Takes ACCESS EXCLUSIVE locks only on the tables it creates.  Raises
    :class:`UsageError` when the database already has tables in ``public``.
    """
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            existing = sa.inspect(conn).get_table_names()
            if existing:
                raise UsageError(
                    f"the database already has tables ({', '.join(sorted(existing)[:5])}); "
                    "the production state is built in an empty one",
                    hint="create a new database (createdb) and pass its URL",
                )
            for sql in old_statements():
                conn.exec_driver_sql(sql)
            for sql in _ROWS:
                conn.exec_driver_sql(sql)
            conn.exec_driver_sql(
                "CREATE TABLE schema_migrations ("
                "filename text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(
                sa.text("INSERT INTO schema_migrations (filename, applied_at) VALUES (:f, :at)"),
                [{"f": name, "at": f"2023-0{i + 1}-01 00:00:00+00"} for i, name in enumerate(LEGACY_APPLIED)],
            )
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python alembic/production_state.py DATABASE_URL", file=sys.stderr)
        return 2
    try:
        build_production_state(args[0])
    except GuardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except sa.exc.OperationalError as exc:
        print(f"error: cannot connect: {str(exc.orig).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"production state built: {', '.join(LEGACY_APPLIED)} applied, with rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
