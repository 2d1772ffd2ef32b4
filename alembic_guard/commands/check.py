"""``alembic guard-check``: static checks of every revision, live checks with a database, one report.

Exit 0 clean, 1 errors found (with ``--strict`` warnings too), 2 usage,
configuration or connection errors.  Read-only on the database (a PR review
with ``--base`` / ``--metadata`` creates and drops a scratch database when
the role may).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any

from alembic_guard.commands import add_version_table_arguments
from alembic_guard.errors import UsageError
from alembic_guard.output import CHECK_FORMATS

NAME = "guard-check"
HELP = (
    "Check every revision (lint, references across revisions, heads) and, with a database, pending "
    "pre-flight, drift, ledger failures and changed files; report as text, json, markdown or sarif."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=tuple(CHECK_FORMATS), default="text")
    add_version_table_arguments(parser)
    parser.add_argument("--strict", action="store_true", help="warnings count as errors (exit 1)")
    parser.add_argument(
        "--profile",
        default=None,
        help="judge each op by what the guarded runtime sends under this profile (e.g. prod builds "
        "indexes CONCURRENTLY); default: the configured profile",
    )
    parser.add_argument("--offline", action="store_true", help="static checks only, even with a database URL")
    parser.add_argument("--base", default=None, help="check only the revisions after REV (a PR's new ones)")
    parser.add_argument(
        "--database", default=None, metavar="URL", help="default: DATABASE_URL, then sqlalchemy.url"
    )
    parser.add_argument(
        "--output", default=None, metavar="FILE", help="write the report here instead of stdout"
    )
    parser.add_argument(
        "--metadata",
        default=None,
        metavar="MODULE:ATTR",
        help="the models' MetaData (default: env.py's target_metadata)",
    )


def run(config: Any, args: argparse.Namespace) -> int:
    from alembic_guard.check import CheckOptions, collect
    from alembic_guard.cli import database_url
    from alembic_guard.output import render_check

    url = None if args.offline else database_url(config, args.database)
    options = CheckOptions(
        base=args.base,
        url=url,
        offline=bool(args.offline),
        strict=bool(args.strict),
        metadata=args.metadata,
        review=bool(args.base),
        version_table=args.version_table,
        version_table_schema=args.version_table_schema,
        profile=args.profile,
    )
    report = collect(config, options)
    docs_url = os.environ.get("ALEMBIC_GUARD_DOCS_URL")
    if docs_url:  # forks and mirrors point SARIF's help links at their own docs
        report = dataclasses.replace(report, docs_url=docs_url)
    text = render_check(report, args.format)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise UsageError(f"--output {args.output}: {exc.strerror}", hint="pass a writable path") from None
        s = report.summary
        print(
            f"guard-check: {s.errors} error(s), {s.warnings} warning(s); report written to {args.output}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 1 if report.failed else 0
