"""Suppressions written as Python comments in a revision file: ``# alembic-guard: ignore[AG207]``.

The SQL form (``-- alembic-guard: ignore[...]`` inside ``op.execute`` text)
is handled by the linter on the rendered SQL; typed ops (``op.create_index``)
have no SQL text to carry a comment, so the revision file's own comments are
read.  A comment governs the op statement it ends a line of (any line of a
call spread over several), or the one right below it with only comments and
blank lines between.  Codes or rule ids, comma-separated, as in the SQL form.
A suppression that silences nothing is reported (AG001 unused-suppression).

Pure: works on the file's text.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass

from alembic_guard.output.report import Finding, Location

__all__ = ["Suppression", "apply", "find"]

_COMMENT_RE = re.compile(r"#[ \t]*alembic-guard:[ \t]*ignore\[([^\]\n]*)\]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Suppression:
    line: int  # of the comment
    col: int
    names: tuple[str, ...]
    first: int  # lines of the op statement it governs (0 when none)
    last: int
    text: str


def _statement_spans(tree: ast.AST) -> list[tuple[int, int]]:
    """(first, last) line of every simple statement (an op call, an assignment...)."""
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and not hasattr(node, "body"):
            spans.append((node.lineno, node.end_lineno or node.lineno))
    return sorted(spans)


def find(text: str) -> list[Suppression]:
    """The suppression comments of a revision file, each with the statement it governs."""
    try:
        tree = ast.parse(text)
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (SyntaxError, tokenize.TokenError, ValueError):
        return []  # a file that does not parse is reported as such elsewhere
    spans = _statement_spans(tree)
    lines = text.splitlines()
    out = []
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        m = _COMMENT_RE.search(tok.string)
        if not m:
            continue
        line, col = tok.start
        names = tuple(n.strip() for n in m.group(1).split(",") if n.strip())
        first = last = 0
        own_line = not lines[line - 1][:col].strip()
        if not own_line:
            for a, b in spans:
                if a <= line <= b:
                    first, last = a, b
        else:
            for a, b in spans:
                if a > line:
                    between = lines[line : a - 1]
                    if all(not ln.strip() or ln.strip().startswith("#") for ln in between):
                        first, last = a, b
                    break
        out.append(Suppression(line, col + 1, names, first, last, tok.string.strip()))
    return out


def _matches(name: str, f: Finding) -> bool:
    return name.upper() == f.code or name.lower() == f.rule_id


def apply(
    findings: Sequence[Finding],
    file: str,
    revision: str,
    suppressions: Sequence[Suppression],
    unused: Finding | None,
) -> list[Finding]:
    """``findings`` without those the suppressions of revision file ``file`` silence, plus one
    ``unused`` finding (a template: AG001's code, severity and help) per name that silenced nothing."""
    used: set[tuple[int, str]] = set()
    out = []
    for f in findings:
        hit = False
        if f.revision == revision and f.location is not None and f.location.file == file:
            for s in suppressions:
                if s.first <= f.location.line <= s.last and s.first:
                    names = [n for n in s.names if _matches(n, f)]
                    if names:
                        used.update((s.line, n) for n in names)
                        hit = True
        if not hit:
            out.append(f)
    if unused is not None:
        for s in suppressions:
            for n in s.names:
                if (s.line, n) not in used:
                    where = "" if s.first else " (no op statement on or below this line)"
                    out.append(
                        Finding(
                            code=unused.code,
                            rule_id=unused.rule_id,
                            severity=unused.severity,
                            message=f"ignore[{n}]{where}: {unused.message}",
                            help=unused.help,
                            source="lint",
                            revision=revision,
                            location=Location(file, s.line, s.col),
                            sql=None,
                        )
                    )
    return out
