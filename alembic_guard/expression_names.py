"""The identifiers an SQL expression names, and the expression with one of them renamed.

Pure, standard library only (the schema model uses it).  For the expressions
the model keeps — index keys and predicates, CHECK constraints — which name
the columns PostgreSQL drops or renames them with.
"""

from __future__ import annotations

import re

__all__ = ["is_plain_name", "mentions_name", "rename_name"]

# a string literal (E'' and $$ quoting aside: index and CHECK expressions as the catalog and
# the analysis keep them use plain ''), a quoted identifier, or a bare word
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")+\"|[A-Za-z_][A-Za-z0-9_$]*")


def _names(expression: str) -> list[tuple[int, int, str]]:
    """(start, end, name) of each identifier of an expression, outside string literals."""
    out = []
    for m in _TOKEN.finditer(expression):
        tok = m.group(0)
        if tok.startswith("'"):
            continue
        name = tok[1:-1].replace('""', '"') if tok.startswith('"') else tok.lower()
        out.append((m.start(), m.end(), name))
    return out


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def is_plain_name(key: str) -> bool:
    """Is an index key entry a column's own name as written (``A``), not an expression?

    The model keeps key entries either way; a name is matched exactly (a
    quoted ``"A"`` is not ``a``), an expression through :func:`mentions_name`.
    """
    return _PLAIN.fullmatch(key) is not None


def mentions_name(expression: str | None, name: str) -> bool:
    """Does an expression (an index key or predicate, a CHECK) use the identifier ``name``?

    Outside string literals, bare words folded to lower case as PostgreSQL
    folds them; loose by design (a function of the same name counts too):
    what it is for is what PostgreSQL drops or renames with a column.
    """
    return bool(expression) and any(n == name for _, _, n in _names(expression or ""))


def rename_name(expression: str, old: str, new: str) -> str:
    """The expression with the identifier ``old`` written as ``new`` (what a column rename does)."""
    from alembic_guard.quoting import quote_ident  # quoting imports the model, which imports this

    parts, pos = [], 0
    for start, end, name in _names(expression):
        if name == old:
            parts.append(expression[pos:start])
            parts.append(quote_ident(new))
            pos = end
    parts.append(expression[pos:])
    return "".join(parts)
