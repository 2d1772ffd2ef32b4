"""``alembic guard-repair [--apply] [--allow-destructive] [--database URL]``: repair drift.

Compares the live database with the schema the revisions leave at head (a
scratch database upgraded to head when the role may create one, else the
replayed revisions), prints the repair plan as SQL with a comment per step,
and with ``--apply`` runs it under the migration lock, recording it in the
ledger (direction ``repair``).  Steps that drop or rewrite anything are only
planned with ``--allow-destructive``.  Completed non-transactional steps of
failed revisions (from the ledger) are offered for undoing as well.

Exit 0: nothing to do, or everything repaired.  1: drift remains (or a data
check refused a step).  2: usage, configuration or connection error.
"""

from __future__ import annotations

import argparse
from typing import Any

import sqlalchemy as sa

from alembic_guard.commands import add_version_table_arguments
from alembic_guard.dburl import create_engine
from alembic_guard.errors import UsageError
from alembic_guard.search_path import resolving_in, search_path_of, unqualified_schema
from alembic_guard.search_path import search_path as current_search_path

NAME = "guard-repair"
HELP = (
    "Plan (default: print the SQL) or apply repairs of schema drift; never drops without --allow-destructive."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--apply", action="store_true", help="run the plan (under the migration lock)")
    parser.add_argument(
        "--allow-destructive",
        action="store_true",
        help="also plan drops and rewrites (extra columns / tables / indexes, type changes)",
    )
    parser.add_argument(
        "--database", metavar="URL", default=None, help="default: DATABASE_URL, else sqlalchemy.url"
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="build the expected schema by replaying the revisions instead of in a scratch database",
    )
    add_version_table_arguments(parser)


def run(config: Any, args: argparse.Namespace) -> int:
    from alembic_guard.cli import database_url

    url = database_url(config, args.database)
    if not url:
        raise UsageError(
            "no database URL: --database is not given, DATABASE_URL is not set and alembic.ini has no "
            "sqlalchemy.url",
            hint="export DATABASE_URL=postgresql://user:password@host/dbname",
        )
    live, pending_undo, heads, search_path = _read_live(url, args.version_table, args.version_table_schema)
    # unqualified names in the revisions resolve where the role's search_path puts them
    with resolving_in(search_path):
        return _repair(config, args, url, live, pending_undo, heads)


def _repair(config: Any, args: argparse.Namespace, url: str, live: Any, pending_undo: Any, heads: Any) -> int:
    from alembic_guard.diff import compare
    from alembic_guard.redact import mask_url
    from alembic_guard.repair.apply import apply_plan
    from alembic_guard.repair.expected import expected_schema
    from alembic_guard.repair.plan import RepairPlan, plan_repair
    from alembic_guard.rollback import undo_steps

    search_path = current_search_path()
    # the revisions the database is at, so pending ones are not mistaken for drift
    expected = expected_schema(
        config, url, scratch=False if args.replay else None, targets=heads or ("head",)
    )
    # a version table of another name is bookkeeping too (the scratch database has one as well)
    version_table = (args.version_table_schema or unqualified_schema(), args.version_table)
    expected.model.drop_table(*version_table)
    drifts = compare(expected.model, live, compare_expressions=expected.catalog, search_path=search_path)
    plan = plan_repair(
        drifts,
        expected.model,
        live,
        allow_destructive=args.allow_destructive,
        definitions=expected.definitions,
    )
    undo, undo_skipped = undo_steps(
        pending_undo, live, expected.model, allow_destructive=args.allow_destructive
    )
    # a failed revision's leftover is reported once, as what it is, not also as an extra object
    covered = {s.drift.ref for s in undo + tuple(u for u in undo_skipped) if s.drift is not None}
    plan = RepairPlan(
        tuple(s for s in plan.steps if s.drift is None or s.drift.ref not in covered) + undo,
        tuple(u for u in plan.not_repaired if u.drift.ref not in covered) + undo_skipped,
    )
    print(f"-- database {mask_url(url)}; expected schema from the {expected.method} method")
    print(plan.render())
    if not args.apply:
        return 0 if plan.empty else 1
    if not plan.steps:
        return 0 if plan.empty else 1
    from alembic_guard.runtime.config import load_settings

    settings = load_settings(ini_path=config.config_file_name)
    result = apply_plan(
        url,
        plan,
        live,
        lock_wait_s=settings.lock_wait_s,
        lock_timeout=settings.lock_timeout,
        version_table=args.version_table,
        version_table_schema=args.version_table_schema,
    )
    for _, message in result.failed:
        print(f"-- FAILED: {message}")
    after, _, _, _ = _read_live(url, args.version_table, args.version_table_schema)
    left = compare(expected.model, after, compare_expressions=expected.catalog, search_path=search_path)
    print(
        f"-- applied {len(result.done)} of {len(plan.steps)} step(s); "
        f"{len(left)} drift(s) remain" + (":" if left else "")
    )
    for d in left:
        print(f"--   {d.render()}")
    return 0 if not left and result.ok else 1


def _read_live(
    url: str, version_table: str, version_table_schema: str | None
) -> tuple[Any, list[Any], tuple[str, ...], tuple[str, ...]]:
    """Snapshot (bookkeeping tables left out), the ledger's records, the current heads and the
    search path unqualified names resolve in (read-only).

    The ledger is read where the runtime writes it: next to the version table.
    """
    from alembic.runtime.migration import MigrationContext

    from alembic_guard.live.snapshot import BOOKKEEPING_TABLES, snapshot
    from alembic_guard.runtime.ledger import Ledger

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            search_path = search_path_of(conn)
            conn.rollback()
            live = snapshot(conn, exclude=BOOKKEEPING_TABLES)
            live.drop_table(version_table_schema or search_path[0], version_table)
            ledger = Ledger(conn, schema=version_table_schema)
            records = ledger.records() if ledger.exists() else []
            mc = MigrationContext.configure(
                conn, opts={"version_table": version_table, "version_table_schema": version_table_schema}
            )
            heads = tuple(sorted(mc.get_current_heads()))
            conn.rollback()
    except sa.exc.DBAPIError as exc:
        from alembic_guard.check.live import connection_error

        raise connection_error(url, exc) from None
    finally:
        engine.dispose()
    return live, records, heads, search_path
