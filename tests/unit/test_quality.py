"""The codebase stays ruff-clean, mypy-clean, and its pure core does no I/O."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Modules of the pure core: analysis, planning, model, changes, rendering.
# They must not open connections or import Alembic's runtime (DESIGN.md).
PURE = ("alembic_guard/model.py", "alembic_guard/changes.py", "alembic_guard/sql", "alembic_guard/plan")
FORBIDDEN_IMPORTS = (
    "sqlalchemy",
    "psycopg2",
    "psycopg",
    "alembic.runtime",
    "alembic.command",
    "subprocess",
    "socket",
)


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} not installed")
    return found


def test_ruff_clean() -> None:
    proc = subprocess.run(
        [_tool("ruff"), "check", "alembic_guard", "tests", "bench"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean() -> None:
    proc = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _pure_files() -> list[Path]:
    files: list[Path] = []
    for entry in PURE:
        p = ROOT / entry
        if p.is_dir():
            files.extend(sorted(p.rglob("*.py")))
        elif p.exists():
            files.append(p)
    return files


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_core_does_no_io(path: Path) -> None:
    tree = ast.parse(path.read_text())
    bad: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for n in names:
            if any(n == f or n.startswith(f + ".") for f in FORBIDDEN_IMPORTS):
                bad.append(f"line {node.lineno}: import {n}")
    # the source loader is the one place of the sql package allowed to read files
    if path.name != "source.py":
        text = path.read_text()
        for call in ("open(", ".read_text(", ".read_bytes("):
            if call in text:
                bad.append(f"calls {call}")
    assert not bad, f"{path.relative_to(ROOT)} is in the pure core but: {bad}"
