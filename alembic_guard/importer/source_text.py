"""The user's own text of an expression inside a statement, for the importer.

pglast's deparser writes some expressions in a form PostgreSQL stores
differently: the SQL-syntax functions (``trim(x)`` comes back as
``pg_catalog.btrim(x)``, ``substring(x from 2)`` as ``substring(x, 2)``,
``x AT TIME ZONE 'UTC'`` as ``timezone('UTC', x)``, ``COLLATION FOR (x)`` ...).
PostgreSQL keeps the syntax a function was written in (``funcformat``), so a
CHECK, a default or an index predicate rendered that way reads back from the
catalog as another definition than the raw SQL gives.  The importer therefore
passes the user's text through: :func:`expression_text` finds the slice of the
statement that *is* the expression node, proven by parsing the slice again and
comparing the trees (locations aside).  When no slice can be proven, the
deparsed text is used only if it parses back to the same tree; otherwise the
caller keeps the whole statement as raw SQL.

Pure: parsing only.
"""

from __future__ import annotations

from typing import Any

import pglast
from pglast import parser
from pglast.parser import ParseError
from pglast.stream import RawStream

__all__ = ["NoFaithfulText", "expression_text", "parenthesized", "unparenthesized"]


class NoFaithfulText(Exception):
    """Neither the source nor the deparser gives text that parses back to the expression."""


def expression_text(node: Any, source: str) -> str:
    """Text of ``node`` (an expression parsed from ``source``) that PostgreSQL reads as the same expression.

    The shortest slice of ``source`` that starts at the expression's first
    located token or at one of the constants, operators or ``(`` just before
    it (the leftmost first), has balanced parentheses and no top-level comma,
    and parses to a tree equal to ``node``; else pglast's deparse when it
    parses back equal.
    Raises :class:`NoFaithfulText`.
    """
    tokens = _tokens(source)
    first = _first_location(node)
    if tokens and first is not None:
        found = _slice(node, source, tokens, first)
        if found is not None:
            return found
    text = str(RawStream()(node))
    if _same(node, text):
        return text
    raise NoFaithfulText(text)


def parenthesized(text: str) -> str:
    """``text`` in parentheses, unless one pair already encloses all of it (an index key needs them)."""
    return text if _enclosed(text) else f"({text})"


def unparenthesized(text: str) -> str:
    """``text`` without one pair of parentheses enclosing all of it (a CHECK's own, which Alembic
    writes again)."""
    return text[1:-1].strip() if _enclosed(text) else text


def _enclosed(text: str) -> bool:
    """Is all of ``text`` inside one matching pair of parentheses?"""
    tokens = _tokens(text)
    if len(tokens) < 2 or tokens[0].name != "ASCII_40" or tokens[-1].name != "ASCII_41":
        return False
    if tokens[0].start != 0 or tokens[-1].end + 1 != len(text):
        return False
    depth = 0
    for k, t in enumerate(tokens):
        depth += {"ASCII_40": 1, "ASCII_41": -1}.get(t.name, 0)
        if depth == 0:
            return k == len(tokens) - 1
    return False


def _tokens(source: str) -> list[Any]:
    try:
        return list(parser.scan(source))
    except ParseError:
        return []


def _first_location(node: Any) -> int | None:
    """The smallest location in the node's tree: where its text starts (bar enclosing parentheses)."""
    best: int | None = None
    stack: list[Any] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, tuple | list):
            stack.extend(n)
            continue
        if not isinstance(n, pglast.ast.Node):
            continue
        for attr in getattr(n, "__slots__", ()):
            value = getattr(n, attr, None)
            if attr == "location":
                if isinstance(value, int) and value >= 0 and (best is None or value < best):
                    best = value
            elif isinstance(value, pglast.ast.Node | tuple | list):
                stack.append(value)
    return best


# tokens that may start an expression without a location of their own: pglast drops the location
# of constants (A_Const), so ``'a' || x`` is known to start at ``||`` only; parentheses and
# operators before the first located token may belong to it too
_CONSTANT_KEYWORDS = frozenset({"TRUE_P", "FALSE_P", "NULL_P"})
_NOT_BEFORE = frozenset({"ASCII_41", "ASCII_44", "ASCII_59", "IDENT"})  # ")" "," ";" a name


def _slice(node: Any, source: str, tokens: list[Any], first: int) -> str | None:
    start = next((i for i, t in enumerate(tokens) if t.start >= first), None)
    if start is None or tokens[start].start != first:
        return None
    starts = [start]
    while starts[-1] > 0:
        before = tokens[starts[-1] - 1]
        if before.name in _CONSTANT_KEYWORDS or (
            before.kind == "NO_KEYWORD" and before.name not in _NOT_BEFORE
        ):
            starts.append(starts[-1] - 1)
        else:
            break
    # the outermost "(" first: text in its own parentheses fits wherever an expression goes
    for i in reversed(starts):
        depth = 0
        for j in range(i, len(tokens)):
            name = tokens[j].name
            if name == "ASCII_40":
                depth += 1
            elif name == "ASCII_41":
                depth -= 1
                if depth < 0:
                    break
            elif depth == 0 and name in ("ASCII_44", "ASCII_59"):  # "," or ";" ends any expression here
                break
            if depth == 0:
                text = source[tokens[i].start : tokens[j].end + 1]
                if _same(node, text):
                    return text
    return None


def _same(node: Any, text: str) -> bool:
    """Does ``text`` parse to ``node`` (locations aside)?"""
    try:
        parsed = pglast.parse_sql(f"SELECT ({text}\n)")
    except ParseError:
        return False
    if len(parsed) != 1:
        return False
    targets: Any = getattr(parsed[0].stmt, "targetList", None)
    return bool(targets) and len(targets) == 1 and targets[0].val == node
