"""``alembic guard-plan SQL_DIR``: analyze raw SQL files and print the statement order.

Exit 0 when a plan exists (warnings allowed), 1 on a cycle, an unresolved
reference or a CREATE of something the database already has, 2 on usage
errors (missing directory, unreadable or non-UTF-8 file, syntax error,
unreachable database).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from alembic_guard.errors import ConnectionFailed, UsageError
from alembic_guard.model import SchemaModel

NAME = "guard-plan"
HELP = "Analyze a directory of raw SQL migrations and print the statement-level order and problems."

ORDERS = ("auto", "numeric", "flyway", "timestamp", "text")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql_dir", metavar="SQL_DIR", help="directory of .sql migration files")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default text)"
    )
    parser.add_argument(
        "--order",
        choices=ORDERS,
        default="auto",
        help="how files are ordered (default auto: what real tools do)",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        default=None,
        help="plan from what this database already has (default: DATABASE_URL when set)",
    )
    parser.add_argument(
        "--version-table",
        metavar="NAME",
        default="alembic_version",
        help="the version table env.py gives Alembic (default alembic_version): a set creating a table "
        "of that name is reported (AG105)",
    )


def load_start(url: str) -> SchemaModel:
    """Snapshot of the database at ``url`` (read-only: catalog queries only)."""
    import sqlalchemy as sa

    from alembic_guard.redact import error_line, mask_url, scrub

    try:
        from alembic_guard.live.snapshot import snapshot
    except ImportError as exc:
        raise UsageError(
            f"--database needs alembic_guard.live.snapshot, which is not available: {exc}",
            hint="upgrade alembic_guard, or plan without --database",
        )
    try:
        engine = sa.create_engine(url)
    except Exception as exc:
        raise UsageError(
            f"bad database URL {mask_url(url)}: {scrub(str(exc), known=url)}",
            hint="use postgresql://user:password@host:port/dbname",
        )
    try:
        with engine.connect() as conn:
            return snapshot(conn)
    except sa.exc.DBAPIError as exc:
        raise ConnectionFailed(
            f"cannot read the database {mask_url(url)}: {error_line(exc, known=url)}",
            hint="check --database / DATABASE_URL, that the server runs, and the credentials",
        )
    finally:
        engine.dispose()


def run(config: Any, args: argparse.Namespace) -> int:
    from alembic_guard.cli import database_url
    from alembic_guard.plan import plan_directory
    from alembic_guard.render import plan_json, plan_text

    # only an explicit URL or DATABASE_URL: sqlalchemy.url of an alembic.ini nearby
    # is the app's database, not necessarily the one these files are meant for
    url = database_url(None, getattr(args, "database", None))
    start = load_start(url) if url else None
    result = plan_directory(
        args.sql_dir,
        order=getattr(args, "order", "auto"),
        start=start,
        version_table=getattr(args, "version_table", None) or "alembic_version",
    )
    if args.format == "json":
        sys.stdout.write(plan_json.render(result))
    else:
        sys.stdout.write(plan_text.render(result, title=args.sql_dir))
    return 0 if result.ok else 1
