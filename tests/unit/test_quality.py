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
PURE = (
    "alembic_guard/codes.py",
    "alembic_guard/model.py",
    "alembic_guard/changes.py",
    "alembic_guard/errors.py",
    "alembic_guard/diff.py",
    "alembic_guard/identity.py",
    "alembic_guard/ddl.py",
    "alembic_guard/decide",
    "alembic_guard/sql",
    "alembic_guard/plan",
    "alembic_guard/output",
    "alembic_guard/repair/plan.py",
    "alembic_guard/importer/render.py",
    "alembic_guard/importer/naming.py",
    "alembic_guard/importer/module.py",
    "alembic_guard/importer/adopt.py",
)
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


# Importing these, in a fresh interpreter, must not load any I/O machinery:
# the pure core is usable (and testable) without a database driver or Alembic.
PURE_MODULES = (
    "alembic_guard.codes",
    "alembic_guard.model",
    "alembic_guard.changes",
    "alembic_guard.errors",
    "alembic_guard.sql.statement",
    "alembic_guard.sql.parse",
    "alembic_guard.sql.effects",
    "alembic_guard.plan",
    "alembic_guard.lint",
    "alembic_guard.diff",
    "alembic_guard.identity",
    "alembic_guard.ddl",
    "alembic_guard.decide",
    "alembic_guard.decide.columns",
    "alembic_guard.decide.tables",
    "alembic_guard.decide.indexes",
    "alembic_guard.decide.constraints",
    "alembic_guard.repair.plan",
    "alembic_guard.output",
    "alembic_guard.output.check_text",
    "alembic_guard.output.check_json",
    "alembic_guard.output.check_markdown",
    "alembic_guard.output.check_sarif",
    "alembic_guard.output.plan_text",
    "alembic_guard.output.plan_json",
    "alembic_guard.importer.render",
    "alembic_guard.importer.naming",
    "alembic_guard.importer.module",
    "alembic_guard.importer.adopt",
)


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_io_machinery(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {set(FORBIDDEN_IMPORTS)!r}"
        " or m.startswith(('alembic.runtime', 'alembic.command')))\n"
        "print(','.join(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"importing {module} loads {proc.stdout.strip()}"


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


# Test helpers (servers, scratch projects, before/after descriptions) serve tests,
# benchmarks and the demo; the runtime never imports them.
TEST_HELPER_USERS = ("alembic_guard/testing/", "alembic_guard/pytest_plugin.py", "alembic_guard/demo.py")


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, node.module)]
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def test_runtime_imports_no_test_helpers() -> None:
    bad: list[str] = []
    for path in sorted((ROOT / "alembic_guard").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(TEST_HELPER_USERS):
            continue
        for line, name in _imported_modules(ast.parse(path.read_text())):
            if name == "alembic_guard.testing" or name.startswith("alembic_guard.testing."):
                bad.append(f"{rel}:{line} imports {name}")
    assert not bad, bad
