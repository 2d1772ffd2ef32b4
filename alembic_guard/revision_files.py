"""Broken revision files, named: one line saying which file and what is wrong with it.

Alembic loads every revision file by executing it; a file it cannot use
surfaces as a traceback from deep inside (``AttributeError: module has no
attribute 'upgrade'``, ``KeyError: 'zz9'``), as a warning followed by an
unrelated error (two files with one revision id), or as exit 255.  When a
command fails, :func:`diagnose` reads the revision files *as text* (it
executes nothing) and finds the first problem:

- bytes that are not UTF-8 (where Python would not read them either), an
  empty file, a syntax error (file:line);
- no ``revision = "..."`` or ``down_revision = ...`` assignment, no
  ``upgrade()`` function;
- one revision id in two files;
- a ``down_revision`` or ``depends_on`` naming a revision no file defines.

Reading only: nothing is imported or written.  The happy path never calls it
(a replica that finds the work done must not pay for reading every file).
"""

from __future__ import annotations

import ast
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic_guard.errors import UsageError

_SOURCE = re.compile(r"^(?!\.#|__init__\.py$).*\.py$")  # what Alembic loads as a revision file
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")

# Alembic's own warnings for the two graph problems it only warns about
_ALEMBIC_WARNINGS = (
    r"Revision .* is present more than once",
    r"Revision .* referenced from .* is not present",
)


@dataclass(frozen=True, slots=True)
class RevisionFile:
    """What one revision file declares, read from its text."""

    path: Path
    revision: str | None
    down: tuple[str, ...]
    depends_on: tuple[str, ...]
    branch_labels: tuple[str, ...]


def _names(node: ast.expr | None) -> tuple[str, ...]:
    """The revision ids of a ``down_revision`` / ``depends_on`` value (a string, a tuple, None)."""
    if node is None:
        return ()
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return ()  # computed at run time: nothing to check from the text
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _declared_encoding(data: bytes) -> str | None:
    for line in data.splitlines()[:2]:
        m = _CODING.match(line)
        if m:
            return m.group(1).decode("ascii", "replace")
    return None


def read_file(path: Path, shown: str) -> RevisionFile:
    """Parse one revision file's text; a file Alembic cannot use is a :class:`UsageError`."""
    data = path.read_bytes()
    encoding = _declared_encoding(data) or "utf-8"
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        start = getattr(exc, "start", 0)
        line = data[:start].count(b"\n") + 1
        raise UsageError(
            f"{shown}:{line}: not {encoding} text (byte 0x{data[start]:02x} at offset {start})",
            hint="save the revision file as UTF-8",
        ) from None
    if not text.strip():
        raise UsageError(
            f"{shown}: empty revision file",
            hint="delete it, or write it with `alembic revision -m MESSAGE`",
        )
    try:
        tree = ast.parse(text, filename=shown)
    except SyntaxError as exc:
        raise UsageError(
            f"{shown}:{exc.lineno or 1}: {exc.msg}", hint="fix the revision file's syntax"
        ) from None
    assigned: dict[str, ast.expr | None] = {}
    functions: set[str] = set()
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.add(node.name)
        for target in targets:
            if isinstance(target, ast.Name):
                assigned[target.id] = value
    # a missing ``revision`` is taken from the file name by Alembic; ``down_revision`` is not
    for key in ("down_revision",):
        if key not in assigned:
            raise UsageError(
                f"{shown}: no {key} = ... assignment: Alembic cannot place this file in the history",
                hint="a revision file defines revision, down_revision and upgrade() "
                "(`alembic revision -m MESSAGE` writes one)",
            )
    if "upgrade" not in functions:
        raise UsageError(
            f"{shown}: no upgrade() function", hint="define def upgrade() -> None: (its body may be `pass`)"
        )
    revision = _names(assigned.get("revision"))
    return RevisionFile(
        path,
        revision[0] if revision else None,
        _names(assigned["down_revision"]),
        _names(assigned.get("depends_on")),
        _names(assigned.get("branch_labels")),
    )


def _version_dirs(script: Any) -> list[Path]:
    locations = getattr(script, "version_locations", None) or [os.path.join(script.dir, "versions")]
    return [Path(loc) for loc in locations]


def _files(script: Any) -> Iterator[Path]:
    recursive = bool(getattr(script, "recursive_version_locations", False))
    for directory in _version_dirs(script):
        if not directory.is_dir():
            continue
        found = directory.rglob("*.py") if recursive else directory.glob("*.py")
        yield from sorted(p for p in found if _SOURCE.match(p.name) and p.is_file())


def check(script: Any) -> None:
    """Raise a :class:`UsageError` for the first problem of ``script``'s revision files (read-only)."""
    cwd = Path.cwd()

    def shown(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(cwd.resolve()))
        except ValueError:
            return str(p)

    files = [read_file(p, shown(p)) for p in _files(script)]
    by_id: dict[str, RevisionFile] = {}
    for f in files:
        if f.revision is None:
            continue
        if f.revision in by_id:
            other = shown(by_id[f.revision].path)
            raise UsageError(
                f"{shown(f.path)}: revision {f.revision!r} is also defined in {other}",
                hint="give one of them a new revision id (and fix the down_revision that points at it)",
            )
        by_id[f.revision] = f
    labels = {label for f in files for label in f.branch_labels}
    ids = sorted(by_id)

    def known(name: str) -> bool:
        if name in by_id or name in labels:
            return True
        # Alembic accepts an unambiguous prefix of at least four characters
        return len(name) >= 4 and sum(1 for i in ids if i.startswith(name)) == 1

    for f in files:
        for key, names in (("down_revision", f.down), ("depends_on", f.depends_on)):
            for name in names:
                if not known(name):
                    raise UsageError(
                        f"{shown(f.path)}: {key} = {name!r} names no revision in {_where(script)}",
                        hint=f"use an existing revision's id (alembic history lists them), or remove {key}",
                    )


def _where(script: Any) -> str:
    return ", ".join(str(d) for d in _version_dirs(script))


def diagnose(config: Any) -> UsageError | None:
    """The revision-file problem that explains a failed command, or ``None`` (read-only)."""
    try:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(config)
    except Exception:
        return None
    try:
        check(script)
    except UsageError as problem:
        return problem
    except OSError:
        return None
    return None


@contextmanager
def graph_warnings_as_errors() -> Iterator[None]:
    """Alembic's warnings about duplicate and missing revisions raise, so :func:`diagnose` can name them.

    Alembic only warns, then goes on with one of two files of the same id (or
    without a missing one) and fails later with an unrelated message.
    """
    with warnings.catch_warnings():
        for message in _ALEMBIC_WARNINGS:
            warnings.filterwarnings("error", message=message, category=UserWarning)
        yield
