"""Docs that run: the marked blocks of the user guides are executed, and their outputs are the outputs.

Each guide in ``RUN`` is played top to bottom in a fresh temporary project
directory, with the *installed* package (the suite venv's ``bin`` first on
``PATH``, the working directory outside the checkout) against the suite's
PostgreSQL.  The block format (see also docs/index.md, "Docs that run"):

- a fenced ``console`` block is run: each ``$ `` line is a shell command
  (``bash``; ``export`` and ``cd`` carry over to the next command), the lines
  below it are its output (stdout and stderr, as a terminal shows them);
  ``...`` on a line of its own stands for any number of lines; a last line
  ``[exit N]`` says the command exits N (default 0);
- a fenced block whose info string has ``file=PATH`` is written to
  ``PATH`` (relative to the project) at that point;
- a fenced Python block with ``edit=GLOB`` replaces, in the one file matching
  ``GLOB``, each top-level function it defines (``def upgrade() -> None:``
  of a revision just generated, say);
- every other block is an illustration and is not run.

Outputs are compared after masking what changes from run to run: revision
ids (12 hex digits), durations (``51 ms``), timestamps, the temporary
project's path (shown as ``/home/you/app``), process ids.

Database URLs are written as users write them: ``postgresql://app:secret@db/app``.
The harness points libpq's ``PGHOSTADDR`` / ``PGPORT`` at the suite's server,
so that URL reaches it unchanged (the host name ``db`` is never resolved), and
creates the role and the database the guide names.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from alembic_guard.quoting import quote_ident
from alembic_guard.testing import PostgresServer

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SHOWN_PROJECT = "/home/you/app"

# guide -> (databases it names, what of the example application it works on, copied into the project)
RUN: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "quickstart.md": (("app",), ()),
    "migrating-from-raw-sql.md": (("taskboard",), ("alembic/legacy_sql", "alembic/production_state.py")),
    "testing.md": (("app",), ()),
    "deployment.md": (("app",), ()),
}

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Command:
    line: int  # in the guide, 1-based
    command: str
    expected: tuple[str, ...]
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class WriteFile:
    line: int
    path: str
    text: str


@dataclass(frozen=True, slots=True)
class EditFunctions:
    line: int
    glob: str
    text: str


@dataclass(slots=True)
class Guide:
    name: str
    steps: list[Command | WriteFile | EditFunctions] = field(default_factory=list)


def parse(name: str, text: str) -> Guide:
    """The runnable steps of one guide, in order (pure)."""
    guide = Guide(name)
    for m in _FENCE.finditer(text):
        info = m.group(1).split()
        body = m.group(2)
        line = text.count("\n", 0, m.start()) + 2  # the block's first line
        if not info:
            continue
        attrs = dict(a.split("=", 1) for a in info[1:] if "=" in a)
        if info[0] == "console":
            guide.steps.extend(_commands(body, line))
        elif "file" in attrs:
            guide.steps.append(WriteFile(line, attrs["file"], body))
        elif "edit" in attrs:
            guide.steps.append(EditFunctions(line, attrs["edit"], body))
    return guide


def _commands(body: str, first_line: int) -> list[Command]:
    out: list[Command] = []
    current: tuple[int, str] | None = None
    expected: list[str] = []

    def close() -> None:
        if current is None:
            return
        lines = list(expected)
        code = 0
        if lines and re.fullmatch(r"\[exit \d+\]", lines[-1].strip()):
            code = int(lines.pop().strip()[6:-1])
        out.append(Command(current[0], current[1], tuple(lines), code))

    for i, raw in enumerate(body.splitlines()):
        if raw.startswith("$ "):
            close()
            current, expected = (first_line + i, raw[2:]), []
        elif current is not None:
            expected.append(raw)
    close()
    return out


# -- masking and matching -----------------------------------------------------------------------

_MASKS = (
    (re.compile(r"(?<![0-9a-f])[0-9a-f]{12}(?![0-9a-f])"), "<rev>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:?\d{2})?"), "<time>"),
    # right-aligned in columns: the width varies with the digits
    (re.compile(r" *\b\d+(?:\.\d+)? ?ms\b"), " <n> ms"),
    (re.compile(r" *\b\d+\.\d+ ?s\b"), " <n> s"),
    (re.compile(r"\bpid \d+"), "pid <n>"),
    (re.compile(r"\bt_\d+_\d+_[0-9a-f]{6}\b"), "<db>"),
)


def mask(text: str) -> str:
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return text


def matches(expected: tuple[str, ...], actual: str) -> bool:
    """Do the output lines match the expected ones (masked; ``...`` lines stand for any lines)?"""
    parts = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(re.escape(mask(line).rstrip()) + r"\n")
    pattern = "".join(parts)
    got = "\n".join(mask(ln).rstrip() for ln in actual.splitlines())
    got = got + "\n" if got else ""
    return re.fullmatch(pattern, got) is not None


# -- running ---------------------------------------------------------------------------------------


def _env(server_url: str, home: Path) -> dict[str, str]:
    u = make_url(server_url)
    venv_bin = str(Path(sys.executable).parent)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALEMBIC_GUARD_", "PG", "PYTEST_"))
        and k not in ("DATABASE_URL", "CI", "PYTHONPATH")
    }
    env.update(
        PATH=venv_bin + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
        HOME=str(home),
        PYTHONUNBUFFERED="1",  # stdout and stderr interleave as on a terminal
        PYTHONDONTWRITEBYTECODE="1",
        COLUMNS="100",
        PGHOSTADDR=str(u.host or "127.0.0.1"),
        PGPORT=str(u.port or 5432),
    )
    return env


class Shell:
    """Commands run one by one in bash; exported variables and the directory carry over."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.state = cwd.parent / "shell-state.sh"
        self.state.write_text("")
        self.where = cwd.parent / "shell-cwd"
        self.where.write_text(str(cwd))

    def run(self, command: str) -> tuple[int, str]:
        script = (
            f'source "{self.state}" 2>/dev/null; cd "$(cat "{self.where}")"\n'
            f"{command}\n"
            f'__rc=$?; export -p > "{self.state}"; pwd > "{self.where}"; exit $__rc\n'
        )
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
        )
        return done.returncode, done.stdout


def _edit_functions(path: Path, text: str) -> None:
    """Replace each top-level function ``text`` defines in the file at ``path``."""
    import ast

    source = path.read_text()
    new = ast.parse(textwrap.dedent(text))
    for fn in [n for n in new.body if isinstance(n, ast.FunctionDef)]:
        tree = ast.parse(source)
        (old,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == fn.name]
        lines = source.splitlines(keepends=True)
        start = (old.decorator_list[0].lineno if old.decorator_list else old.lineno) - 1
        replacement = ast.get_source_segment(textwrap.dedent(text), fn, padded=False) or ""
        source = "".join(lines[:start]) + replacement + "\n" + "".join(lines[old.end_lineno or start + 1 :])
    path.write_text(source)


def _prepare_databases(server: PostgresServer, names: tuple[str, ...]) -> None:
    engine = sa.create_engine(server.url("postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if not conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'app'")).scalar():
                conn.execute(sa.text("CREATE ROLE app LOGIN SUPERUSER PASSWORD 'secret'"))
            for name in names:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)"))
                conn.execute(sa.text(f"CREATE DATABASE {quote_ident(name)} OWNER app"))
    finally:
        engine.dispose()


def play(guide: Guide, project: Path, env: dict[str, str]) -> list[str]:
    """Run every step; returns one message per disagreement between the guide and the tool."""
    shell = Shell(project, env)
    problems: list[str] = []
    for step in guide.steps:
        where = f"docs/{guide.name}:{step.line}"
        if isinstance(step, WriteFile):
            target = project / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text)
            continue
        if isinstance(step, EditFunctions):
            found = sorted(project.glob(step.glob))
            if len(found) != 1:
                problems.append(f"{where}: edit={step.glob} matches {len(found)} files")
                return problems
            _edit_functions(found[0], step.text)
            continue
        code, out = shell.run(step.command)
        out = out.replace(str(project), SHOWN_PROJECT)
        if code != step.exit_code or not matches(step.expected, out):
            shown = "\n".join("    " + ln for ln in out.splitlines())
            wanted = "\n".join("    " + ln for ln in step.expected)
            problems.append(
                f"{where}: $ {step.command}\n  exit {code} (the guide says {step.exit_code})\n"
                f"  the guide shows:\n{wanted}\n  the tool printed:\n{shown}"
            )
            if code != step.exit_code:
                return problems  # later steps build on this one
    return problems


@pytest.mark.parametrize("name", sorted(RUN))
def test_the_guide_runs_as_written(name: str, pg_server: PostgresServer, tmp_path: Path) -> None:
    databases, example_parts = RUN[name]
    guide = parse(name, (DOCS / name).read_text(encoding="utf-8"))
    assert any(isinstance(s, Command) for s in guide.steps), f"docs/{name} has no console block"
    _prepare_databases(pg_server, databases)
    project = tmp_path / "app"
    project.mkdir()
    for part in example_parts:
        src, dst = ROOT / part, project / part
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    env = _env(pg_server.url("postgres"), tmp_path)
    problems = play(guide, project, env)
    assert not problems, "\n\n".join(problems)


def test_the_block_format() -> None:
    """The harness itself: what is run, what is compared, what is masked."""
    text = textwrap.dedent(
        """
        ```console
        $ alembic upgrade head   # a comment
        INFO  applied ea754af56ee8 in 51 ms
        ...
        done
        $ false
        [exit 1]
        ```

        ```python file=models.py
        x = 1
        ```

        ```python edit=migrations/versions/*_users.py
        def upgrade() -> None:
            pass
        ```

        ```
        not run
        ```
        """
    )
    guide = parse("t.md", text)
    assert [type(s).__name__ for s in guide.steps] == ["Command", "Command", "WriteFile", "EditFunctions"]
    first, second = guide.steps[0], guide.steps[1]
    assert isinstance(first, Command) and isinstance(second, Command)
    assert first.line == 3 and second.exit_code == 1 and second.expected == ()
    assert matches(first.expected, "INFO  applied 0123456789ab in 7 ms\nmore\nlines\ndone\n")
    assert matches(first.expected, "INFO  applied 0123456789ab in 7 ms\ndone\n")
    assert not matches(first.expected, "INFO  applied 0123456789ab in 7 ms\n")
    assert not matches(first.expected, "INFO  skipped 0123456789ab in 7 ms\ndone\n")
