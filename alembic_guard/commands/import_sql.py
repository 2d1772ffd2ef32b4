"""``alembic guard-import SQL_DIR``: raw SQL migrations → ordered Alembic revisions.

Exit 0: revisions written, or nothing new to import; 1: the statements cannot
be planned, or a source file changed after it was imported; 2: usage errors
(no Alembic environment, missing directory, unparsable SQL).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from alembic_guard.commands.plan import add_outside_arguments, planning_inputs
from alembic_guard.errors import GuardError, PlanError
from alembic_guard.importer import module as m
from alembic_guard.importer import writer
from alembic_guard.sql.source import ORDERS

NAME = "guard-import"
HELP = "Write Alembic revisions (guarded operations) for a directory of raw SQL migrations, in planned order."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql_dir", metavar="SQL_DIR", help="directory of .sql migration files")
    parser.add_argument(
        "--order", choices=ORDERS, default="auto", help="how the files are ordered (default: auto)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be written; write nothing")
    parser.add_argument(
        "--database",
        metavar="URL",
        default=None,
        help="plan from what this database already has, e.g. a platform's schemas and roles "
        "(only when given: DATABASE_URL is not read, so the revisions never depend on the app's database)",
    )
    add_outside_arguments(parser)
    parser.add_argument(
        "--version-table",
        metavar="NAME",
        default="alembic_version",
        help="the version table env.py gives Alembic (default alembic_version): a set creating a table "
        "of that name is refused (AG105)",
    )


class SourceChanged(GuardError):
    """A source file's checksum differs from the one its imported revision recorded."""

    exit_code = 1


def _checksum(text: str) -> str:
    return text if not text or ":" in text else f"sha256:{text}"


def import_directory(
    config: Any,
    sql_dir: str,
    *,
    order: str = "auto",
    dry_run: bool = False,
    out: Callable[[str], None] = print,
    version_table: str = "alembic_version",
    planning: dict[str, Any] | None = None,
) -> list[m.RevisionSpec]:
    """Plan ``sql_dir`` and write the revisions not imported yet; returns their specs.

    Reads the SQL files and the versions directory; writes new revision files
    (nothing with ``dry_run``).  Raises :class:`PlanError` (cycle, unresolved
    reference), :class:`SourceChanged`, :class:`UsageError`.
    """
    from alembic_guard.search_path import resolving_in

    planning = dict(planning or {})
    # the revisions name a table's schema unless it is where the files' unqualified names go
    with resolving_in(planning.get("search_path")):
        return _import(config, sql_dir, order, dry_run, out, version_table, planning)


def _import(
    config: Any,
    sql_dir: str,
    order: str,
    dry_run: bool,
    out: Callable[[str], None],
    version_table: str,
    planning: dict[str, Any],
) -> list[m.RevisionSpec]:
    from alembic_guard.plan import plan_directory

    script = writer.script_directory(config)
    existing = writer.read_revisions(script)
    plan = plan_directory(sql_dir, order=order, version_table=version_table, **planning)
    if not plan.ok:
        details = "\n".join(
            "  " + p.render() + (f"\n    hint: {p.hint}" if p.hint else "") for p in plan.problems
        )
        raise PlanError(
            f"{sql_dir}: the statements cannot be ordered ({len(plan.errors)} problem(s)); nothing written",
            hint="fix the problems `alembic guard-plan` reports, then import again",
            details=details,
        )

    for problem in plan.problems:  # warnings only, past this point: opaque statements keep their place
        out(f"warning: {problem.render()}")

    recorded: dict[str, list[writer.ImportedRevision]] = {}
    for rev in existing:
        if rev.source_file is not None:
            recorded.setdefault(rev.source_file, []).append(rev)
    for src in plan.source_files:
        revs = recorded.get(src.path)
        if not revs:
            continue
        now = _checksum(src.checksum)
        for rev in revs:
            if rev.source_checksum != now:
                raise SourceChanged(
                    f"{src.path} changed after it was imported as revision {rev.revision} "
                    f"({rev.source_checksum} recorded, {now} now)",
                    hint="an applied migration must not change: restore the file and put the change "
                    "in a new migration file",
                )
    known_paths = {src.path for src in plan.source_files}
    for path in sorted(set(recorded) - known_paths):
        out(f"note: {path} was imported ({recorded[path][0].revision}) but is no longer in {sql_dir}")

    specs = m.build_revisions(plan.steps, skip_files=recorded, head=writer.head_of(existing))
    if not specs:
        out(f"Nothing to import: every file in {sql_dir} is already imported.")
        return []
    versions = _versions_dir(script)
    verb = "would write" if dry_run else "wrote"
    if not dry_run:
        writer.write_revisions(versions, specs)
    for spec in specs:
        ops = sum(1 for s in spec.steps if s.rendered.op != "execute")
        raw = len(spec.steps) - ops
        out(f"{verb} {versions}/{spec.filename}")
        out(f"    {spec.title}: {ops} op(s), {raw} raw SQL statement(s), revises {spec.down_revision}")
    moved = sum(1 for s in plan.steps if s.moved and s.statement.file not in recorded)
    tail = f" ({moved} statement(s) moved by the plan)" if moved else ""
    out(f"{len(specs)} revision(s) {'to write' if dry_run else 'written'}{tail}.")
    return specs


def _versions_dir(script: Any) -> str:
    return str(script.versions)


def run(config: Any, args: argparse.Namespace) -> int:
    import_directory(
        config,
        args.sql_dir,
        order=args.order,
        dry_run=args.dry_run,
        version_table=getattr(args, "version_table", None) or "alembic_version",
        # only an explicit --database: DATABASE_URL is usually the application's database, which
        # may hold these very objects already (the adoption case) — the revisions must not depend on it
        planning=planning_inputs(config, args, env_url=False),
    )
    sys.stdout.flush()
    return 0
