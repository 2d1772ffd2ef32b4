"""``alembic guard-adopt``: take over a database a legacy SQL runner managed.

Snapshots the live schema, checks every imported revision (base first)
against it, stamps the fully present prefix into ``alembic_version`` and
reports precisely what the partly present and absent revisions still lack;
``alembic upgrade head`` then completes them through the guards.  A legacy
tracking table (``--legacy-table``, default ``schema_migrations``) is read
when it exists and reported against the schema, never trusted over it.

Exit 0: stamped (or would stamp, with ``--dry-run``), or nothing to stamp
because ``upgrade head`` completes the rest: a database that has none of the
revisions' objects (it builds them all) or whose first revision is only
partly there (the guards add what is missing); 2: usage, configuration or
connection errors.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from typing import Any

from alembic_guard.errors import UsageError
from alembic_guard.importer import adopt as decide_mod
from alembic_guard.importer import writer

NAME = "guard-adopt"
HELP = (
    "Check a database run by a legacy SQL runner against the imported revisions and stamp "
    "what is really there."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--legacy-table",
        default="schema_migrations",
        metavar="NAME",
        help="the legacy runner's tracking table, [schema.]name (default: schema_migrations)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the decision; stamp nothing")
    parser.add_argument(
        "--database", metavar="URL", help="database URL (default: DATABASE_URL, then sqlalchemy.url)"
    )


def read_legacy_rows(connection: Any, table: str) -> list[tuple[str, bool]] | None:
    """``(version, dirty)`` rows of the legacy table, ``None`` when it does not exist (read-only).

    The version is the column named ``version`` (golang-migrate, dbmate,
    Rails...), else ``version_num``, ``filename``, ``name``, else the first
    column; ``dirty`` is golang-migrate's flag when the table has it.
    """
    import sqlalchemy as sa

    schema, _, name = table.rpartition(".")
    insp = sa.inspect(connection)
    if not insp.has_table(name, schema=schema or None):
        return None
    cols = [c["name"] for c in insp.get_columns(name, schema=schema or None)]
    if not cols:
        return []
    version = next((c for c in ("version", "version_num", "filename", "name") if c in cols), cols[0])
    prep = connection.dialect.identifier_preparer
    qualified = (prep.quote(schema) + "." if schema else "") + prep.quote(name)
    dirty = ", " + prep.quote("dirty") if "dirty" in cols else ""
    rows = connection.execute(
        sa.text(f"SELECT {prep.quote(version)}{dirty} FROM {qualified} ORDER BY 1")
    ).all()
    return [(str(r[0]), bool(r[1]) if dirty else False) for r in rows]


def revision_history(script: Any, revisions: Any) -> tuple[list[Any], list[decide_mod.Unsure]]:
    """Each revision's model changes (``None`` where unknown) and what it may have done beyond
    them (:class:`~alembic_guard.importer.adopt.Unsure`), in history order; no database.

    Each ``upgrade()`` is rendered offline and its SQL analysed, all revisions
    in one pass (a statement is analysed knowing what the earlier ones made),
    so the changes name what PostgreSQL names (the index behind a primary key,
    a serial column's sequence), as guard-import's record of the revision does.
    A revision that cannot be rendered offline (it reads data through
    ``op.get_bind()``) has unknown changes and is judged by that record.
    """
    from alembic_guard.runtime.preflight import render_revision_sql
    from alembic_guard.search_path import search_path
    from alembic_guard.sql.effects import analyze_all
    from alembic_guard.sql.parse import parse_text

    statements: list[Any] = []
    known: list[bool] = []
    for r in revisions:
        sql = render_revision_sql(script.get_revision(r.revision).module.upgrade)
        try:
            parsed = parse_text(sql, r.path) if sql is not None else None
        except Exception:  # SQL our grammar does not read: judged by guard-import's record
            parsed = None
        known.append(parsed is not None)
        statements.extend(parsed or ())
    try:
        analyzed = analyze_all(statements, search_path=search_path())
    except Exception:  # the analysis failed as a whole: every revision judged on its own
        return [None] * len(revisions), [decide_mod.Unsure()] * len(revisions)
    by_path: dict[str, list[Any]] = {}
    for a in analyzed:
        by_path.setdefault(a.statement.file, []).append(a)
    changes: list[Any] = []
    unsure: list[decide_mod.Unsure] = []
    for r, ok in zip(revisions, known, strict=True):
        done = by_path.get(r.path, []) if ok else []
        changes.append(tuple(c for a in done for c in a.effect.changes) if ok else None)
        unsure.append(decide_mod.unsure_of(done))
    return changes, unsure


def _current_revisions(connection: Any) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    return tuple(MigrationContext.configure(connection).get_current_heads())


def adopt(
    config: Any,
    *,
    legacy_table: str = "schema_migrations",
    dry_run: bool = False,
    url: str | None = None,
    out: Callable[[str], None] = print,
) -> tuple[decide_mod.AdoptDecision, int]:
    """Decide and (unless ``dry_run``) stamp; returns the decision and the exit code.

    Reads the versions directory and the database (read-only snapshot, legacy
    table); writes only ``alembic_version``.  Unless ``dry_run``, all of it
    happens under the migration lock (the one ``alembic upgrade`` takes), so
    an upgrade never interleaves with it.
    """

    from alembic_guard.cli import database_url
    from alembic_guard.dburl import create_engine
    from alembic_guard.runtime.config import load_settings
    from alembic_guard.runtime.lock import lock_key
    from alembic_guard.runtime.pooler import migration_lock
    from alembic_guard.runtime.runner.session import connect

    script = writer.script_directory(config)
    revisions = writer.read_revisions(script)
    if not any(r.imported for r in revisions):
        raise UsageError(
            "no imported revisions in the versions directory",
            hint="run `alembic guard-import SQL_DIR` first",
        )
    db = database_url(config, url)
    if not db:
        raise UsageError("no database URL", hint="set DATABASE_URL or sqlalchemy.url, or pass --database")
    engine = create_engine(db)
    try:
        if dry_run:
            with engine.connect() as conn:
                return _decide_and_stamp(conn, script, revisions, legacy_table, db, dry_run=True, out=out)
        # Read, decide and stamp under the migration lock: an upgrade that ran in between
        # would otherwise have its alembic_version moved back by the stamp.
        run_id = uuid.uuid4().hex[:12]
        settings = load_settings(ini_path=config.config_file_name)
        with connect(engine, run_id, "adopt", autocommit=True) as admin:
            lock = migration_lock(
                admin,
                engine,
                lock_key(),
                wait_s=settings.lock_wait_s,
                lease_s=settings.lock_lease_s,
                schema=None,
            )
            lock.acquire()
            try:
                with engine.connect() as conn:
                    return _decide_and_stamp(
                        conn, script, revisions, legacy_table, db, dry_run=False, out=out
                    )
            finally:
                lock.release()
    finally:
        engine.dispose()


def _decide_and_stamp(
    conn: Any,
    script: Any,
    revisions: Any,
    legacy_table: str,
    db: str,
    *,
    dry_run: bool,
    out: Callable[[str], None],
) -> tuple[decide_mod.AdoptDecision, int]:
    """Read the database, decide, and stamp on ``conn`` unless ``dry_run`` (the caller holds the lock)."""
    from alembic.runtime.migration import MigrationContext

    from alembic_guard.live.snapshot import BOOKKEEPING_TABLES, snapshot
    from alembic_guard.redact import mask_url
    from alembic_guard.search_path import resolving_in, search_path_of

    legacy = read_legacy_rows(conn, legacy_table)
    # the legacy table stays in the snapshot: no revision touches it, unless the history
    # creates a table of that name itself (then it is judged as any other)
    live = snapshot(conn, exclude=BOOKKEEPING_TABLES)
    current = _current_revisions(conn)
    path = search_path_of(conn)
    conn.rollback()

    # unqualified names in the revisions resolve as they did on this database (its search_path),
    # and the snapshot writes types as that search_path shows them
    with resolving_in(path):
        changes, unsure = revision_history(script, revisions)
        decision = decide_mod.decide(revisions, live, legacy, history=changes, unsure=unsure)
    out(f"Database {mask_url(db)}")
    shown_table = legacy_table if legacy is not None else None
    for line in decide_mod.render_decision(decision, legacy_table=shown_table):
        out(line)
    if legacy is None:
        out(f"No legacy table {legacy_table}: decided from the schema alone.")

    order = [r.revision for r in revisions]
    total = len(revisions)
    if current:
        at = max((order.index(c) for c in current if c in order), default=-1)
        if at + 1 >= decision.adopted:
            out(f"Already stamped at {', '.join(current)}: nothing to adopt.")
            return decision, 0
    if decision.stamp is None:
        if decision.anything_present:
            # a normal outcome, not a failure: the guards add what is missing and skip the rest
            out(
                "Nothing stamped: the first revision is only partly present. "
                "`alembic upgrade head` completes it through the guards (existing objects and rows are kept)."
            )
            return decision, 0
        out("Nothing to adopt: none of the revisions' objects exist; `alembic upgrade head` creates them.")
        return decision, 0
    verb = "Would stamp" if dry_run else "Stamped"
    if not dry_run:
        # on the connection that read the database, inside the lock (``alembic stamp`` would
        # go through env.py, whose guarded run waits for the very lock held here)
        MigrationContext.configure(conn).stamp(script, decision.stamp)
        conn.commit()
    rest = total - decision.adopted
    tail = f"; `alembic upgrade head` completes the other {rest} through the guards" if rest else ""
    out(f"{verb} {decision.stamp} ({decision.adopted} of {total} revisions present){tail}.")
    return decision, 0


def run(config: Any, args: argparse.Namespace) -> int:
    _, code = adopt(
        config,
        legacy_table=args.legacy_table,
        dry_run=args.dry_run,
        url=getattr(args, "database", None),
    )
    return code
