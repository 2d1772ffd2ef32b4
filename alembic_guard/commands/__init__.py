"""One module per command: NAME, HELP, add_arguments(parser), run(config, args) -> int."""

from __future__ import annotations

import argparse


def add_version_table_arguments(parser: argparse.ArgumentParser) -> None:
    """``--version-table`` / ``--version-table-schema``, for the commands that read a database's history.

    env.py's ``context.configure`` may name another version table; the lock and the ledger follow it,
    and only env.py knows it, so these commands are told it the same way.
    """
    parser.add_argument(
        "--version-table",
        default="alembic_version",
        help="as env.py passes it to context.configure (default: alembic_version)",
    )
    parser.add_argument(
        "--version-table-schema",
        default=None,
        help="as env.py passes it to context.configure; the ledger lives in that schema too",
    )
