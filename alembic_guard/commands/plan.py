"""``alembic guard-plan SQL_DIR``: analyze raw SQL files and print the statement order."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "guard-plan"
HELP = "Analyze a directory of raw SQL migrations and print the statement-level order and problems."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql_dir", metavar="SQL_DIR", help="directory of .sql migration files")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(config: Any, args: argparse.Namespace) -> int:
    print(f"guard-plan {args.sql_dir} (not implemented yet)")
    return 0
