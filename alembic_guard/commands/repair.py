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
from sqlalchemy.pool import NullPool

from alembic_guard.errors import UsageError

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


def run(config: Any, args: argparse.Namespace) -> int:
    from alembic_guard.cli import database_url, mask_url
    from alembic_guard.diff import compare
    from alembic_guard.repair.apply import apply_plan
    from alembic_guard.repair.expected import expected_schema
    from alembic_guard.repair.plan import RepairPlan, plan_repair
    from alembic_guard.rollback import undo_steps

    url = database_url(config, args.database)
    if not url:
        raise UsageError(
            "no database URL: --database is not given, DATABASE_URL is not set and alembic.ini has no "
            "sqlalchemy.url",
            hint="export DATABASE_URL=postgresql://user:password@host/dbname",
        )
    expected = expected_schema(config, url, scratch=False if args.replay else None)
    live, pending_undo = _read_live(url)
    drifts = compare(expected.model, live, compare_expressions=expected.catalog)
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
    result = apply_plan(url, plan, live)
    for _, message in result.failed:
        print(f"-- FAILED: {message}")
    after, _ = _read_live(url)
    left = compare(expected.model, after, compare_expressions=expected.catalog)
    print(
        f"-- applied {len(result.done)} of {len(plan.steps)} step(s); "
        f"{len(left)} drift(s) remain" + (":" if left else "")
    )
    for d in left:
        print(f"--   {d.render()}")
    return 0 if not left and result.ok else 1


def _read_live(url: str) -> tuple[Any, list[Any]]:
    """Snapshot (bookkeeping tables left out) and the ledger's failed records (read-only)."""
    from alembic_guard.live.snapshot import BOOKKEEPING_TABLES, snapshot
    from alembic_guard.runtime.ledger import Ledger

    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            live = snapshot(conn, exclude=BOOKKEEPING_TABLES)
            ledger = Ledger(conn)
            records = ledger.records() if ledger.exists() else []
            conn.rollback()
    finally:
        engine.dispose()
    return live, records
