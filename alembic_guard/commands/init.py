"""``alembic guard-init DIR``: like ``alembic init``, with an ``env.py`` guarded by alembic_guard."""

from __future__ import annotations

import argparse
import os
from importlib import resources
from pathlib import Path
from typing import Any

from alembic_guard.errors import UsageError

NAME = "guard-init"
HELP = "Create a new Alembic environment whose env.py runs migrations through alembic_guard."

TEMPLATE = "guarded"
_INI_TEMPLATE = "alembic.ini.tmpl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="directory to create (must not exist or be empty)")


def run(config: Any, args: argparse.Namespace) -> int:
    """Writes DIR/env.py, DIR/script.py.mako, DIR/README, DIR/versions/ and alembic.ini (if absent)."""
    target = Path(args.directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            f"{target}: directory exists and is not empty",
            hint="choose a new directory name, or empty this one first",
        )
    ini_name = getattr(config, "config_file_name", None) or "alembic.ini"
    ini_path = Path(ini_name)
    template = resources.files("alembic_guard").joinpath("templates").joinpath(TEMPLATE)
    try:  # the directory first: nothing is written when it cannot be created
        target.mkdir(parents=True, exist_ok=True)
        (target / "versions").mkdir()
    except OSError as exc:
        raise UsageError(
            f"{target}: cannot create the directory: {exc.strerror or exc}",
            hint="choose a directory you can write to",
        ) from None
    for entry in sorted(template.iterdir(), key=lambda e: e.name):
        if entry.name == _INI_TEMPLATE or entry.name.startswith((".", "__")) or not entry.is_file():
            continue
        (target / entry.name).write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")
        print(f"  created {target / entry.name}")
    print(f"  created {target / 'versions'}")
    if ini_path.exists():
        print(f"  kept existing {ini_path} (set script_location = {target} in it)")
    else:
        # script_location relative to the ini file, as alembic init writes it.
        rel = os.path.relpath(target.resolve(), ini_path.resolve().parent)
        ini_text = template.joinpath(_INI_TEMPLATE).read_text(encoding="utf-8")
        ini_path.write_text(ini_text.replace("${script_location}", "%(here)s/" + rel), encoding="utf-8")
        print(f"  created {ini_path}")
    print(f"Guarded Alembic environment ready in {target}: set DATABASE_URL or sqlalchemy.url in {ini_path}.")
    return 0
