"""A guarded Alembic project in a directory, driven through the real ``alembic`` executable.

For tests, benchmarks and demos: ``GuardedProject(tmp_dir, url)`` lays out
the ``guard-init`` template, ``add_revision`` writes revision files, ``run`` /
``popen`` start ``alembic -c <ini> ...`` as separate processes with
``DATABASE_URL`` set.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REVISION_TEMPLATE = '''"""{message}"""
import os

import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{upgrade}


def downgrade():
{downgrade}
'''


def alembic_executable() -> str:
    """The ``alembic`` script of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / "alembic"
    return str(candidate) if candidate.exists() else "alembic"


class GuardedProject:
    """An Alembic environment created from the ``guard-init`` template under ``root``."""

    def __init__(self, root: str | os.PathLike[str], url: str, *, name: str = "migrations") -> None:
        from alembic_guard.commands import init

        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.ini = self.root / "alembic.ini"
        self.script_dir = self.root / name
        self.versions = self.script_dir / "versions"
        config = SimpleNamespace(config_file_name=str(self.ini))
        with open(os.devnull, "w") as devnull:
            stdout, sys.stdout = sys.stdout, devnull
            try:
                init.run(config, argparse.Namespace(directory=str(self.script_dir)))
            finally:
                sys.stdout = stdout
        self._count = 0

    def add_revision(
        self,
        revision: str,
        down: str | None,
        upgrade: str,
        downgrade: str = "pass",
        message: str | None = None,
    ) -> Path:
        """Write ``versions/<n>_<revision>.py`` whose ``upgrade()`` body is ``upgrade``."""
        self._count += 1
        path = self.versions / f"{self._count:04d}_{revision}.py"
        path.write_text(
            REVISION_TEMPLATE.format(
                message=message or f"revision {revision}",
                revision=revision,
                down=down,
                upgrade=textwrap.indent(textwrap.dedent(upgrade).strip() or "pass", "    "),
                downgrade=textwrap.indent(textwrap.dedent(downgrade).strip() or "pass", "    "),
            ),
            encoding="utf-8",
        )
        return path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALEMBIC_GUARD_")}
        env.pop("CI", None)
        env["DATABASE_URL"] = self.url
        env.update(extra)
        return env

    def command(self, *args: str) -> list[str]:
        return [alembic_executable(), "-c", str(self.ini), *args]

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=self.root,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            cwd=self.root,
            env=env or self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kw,
        )
