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
from alembic_guard.output import PLAN_FORMATS

NAME = "guard-plan"
HELP = "Analyze a directory of raw SQL migrations and print the statement-level order and problems."

ORDERS = ("auto", "numeric", "flyway", "timestamp", "text")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql_dir", metavar="SQL_DIR", help="directory of .sql migration files")
    parser.add_argument(
        "--format", choices=tuple(PLAN_FORMATS), default="text", help="output format (default text)"
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
    add_outside_arguments(parser)


def add_outside_arguments(parser: argparse.ArgumentParser) -> None:
    """``--outside-sql``: shared by guard-plan and guard-import."""
    parser.add_argument(
        "--outside-sql",
        metavar="FILE",
        action="append",
        default=[],
        help="a SQL file creating the objects the set uses but does not create (a platform's schemas, "
        "tables, functions); may be given several times; adds to outside_objects / outside_sql of "
        "[tool.alembic_guard]",
    )


def planning_inputs(config: Any, args: argparse.Namespace, *, env_url: bool = True) -> dict[str, Any]:
    """What :func:`~alembic_guard.plan.plan_directory` starts from.

    ``start``, ``outside``, ``extension_lookup`` and ``search_path``.

    The database is ``--database`` or (with ``env_url``) ``DATABASE_URL`` only: ``sqlalchemy.url`` of an
    alembic.ini nearby is the app's database, not necessarily the one these files are meant
    for.  Outside objects come from ``[tool.alembic_guard]`` of the ``pyproject.toml`` beside
    alembic.ini (or in the working directory) and from ``--outside-sql``.  With a database,
    what an extension the set creates provides is read from a scratch database on its server.
    """
    from pathlib import Path

    from alembic_guard import outside as outside_mod
    from alembic_guard.cli import database_url

    url = database_url(None, getattr(args, "database", None)) if env_url else getattr(args, "database", None)
    ini = getattr(config, "config_file_name", None) if config is not None else None
    base = Path(ini).resolve().parent if isinstance(ini, str) else Path.cwd()
    declared = outside_mod.load(
        pyproject=base / "pyproject.toml", outside_sql=getattr(args, "outside_sql", None) or ()
    )
    lookup = None
    if url:
        from alembic_guard.live.extensions import extension_objects

        def lookup(wanted: Any) -> Any:
            return extension_objects(url, wanted)

    start, live_path = load_start(url) if url else (None, None)
    # the files run under the database's own search_path (as the URL's role sees it), else
    # the declared one (search_path / an outside SQL's ALTER DATABASE ... SET search_path)
    return {
        "start": start,
        "outside": declared,
        "extension_lookup": lookup,
        "search_path": live_path or declared.search_path,
    }


def load_start(url: str) -> tuple[SchemaModel, tuple[str, ...]]:
    """Snapshot of the database at ``url`` and its search path (read-only: catalog queries only)."""
    import sqlalchemy as sa

    from alembic_guard.redact import error_line, mask_url

    try:
        from alembic_guard.live.snapshot import snapshot
    except ImportError as exc:
        raise UsageError(
            f"--database needs alembic_guard.live.snapshot, which is not available: {exc}",
            hint="upgrade alembic_guard, or plan without --database",
        )
    from alembic_guard.dburl import create_engine
    from alembic_guard.search_path import search_path_of

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            path = search_path_of(conn)
            return snapshot(conn), path
    except sa.exc.DBAPIError as exc:
        raise ConnectionFailed(
            f"cannot read the database {mask_url(url)}: {error_line(exc, known=url)}",
            hint="check --database / DATABASE_URL, that the server runs, and the credentials",
        )
    finally:
        engine.dispose()


def run(config: Any, args: argparse.Namespace) -> int:
    from alembic_guard.output import render_plan
    from alembic_guard.plan import plan_directory

    result = plan_directory(
        args.sql_dir,
        order=getattr(args, "order", "auto"),
        version_table=getattr(args, "version_table", None) or "alembic_version",
        **planning_inputs(config, args),
    )
    sys.stdout.write(render_plan(result, args.format, title=args.sql_dir))
    return 0 if result.ok else 1
