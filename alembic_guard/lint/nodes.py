"""Small readers of pglast's JSON parse trees shared by the lint rules.

Pure.  The parser has already folded unquoted identifiers to lower case, so
names read here are PostgreSQL's own spelling.  Booleans the parser leaves
out of the JSON are false.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from alembic_guard.model import DEFAULT_SCHEMA, QName, canonical_type

Node = dict[str, Any]


def body(node: Node, kind: str) -> Node | None:
    """The fields of ``node`` when it is a ``kind`` node (``{"IndexStmt": {...}}``), else ``None``."""
    inner = node.get(kind)
    return inner if isinstance(inner, dict) else None


def top(node: Node | None) -> tuple[str, Node] | None:
    """A statement's node kind and its fields (``("IndexStmt", {...})``); ``None`` for an empty node."""
    if not node:
        return None
    kind = next(iter(node))
    inner = node[kind]
    return (kind, inner) if isinstance(inner, dict) else None


def rel_qname(rangevar: Node | None) -> QName | None:
    """``(schema, name)`` of a ``RangeVar``; unqualified names are taken to be in ``public``."""
    if not rangevar:
        return None
    return (rangevar.get("schemaname") or DEFAULT_SCHEMA, rangevar["relname"])


def strings(items: list[Node] | None) -> list[str]:
    """The ``sval`` of each ``String`` node of a name list."""
    out: list[str] = []
    for item in items or ():
        s = item.get("String")
        if s is not None:
            out.append(s.get("sval", ""))
    return out


def name_qname(items: list[Node] | None) -> QName | None:
    """``(schema, name)`` of a dotted name list (``DropStmt`` objects, type names)."""
    parts = strings(items)
    if not parts:
        return None
    if len(parts) == 1:
        return (DEFAULT_SCHEMA, parts[0])
    return (parts[-2], parts[-1])


def alter_cmds(stmt: Node) -> list[Node]:
    """The ``AlterTableCmd`` bodies of an ``AlterTableStmt`` body."""
    return [c["AlterTableCmd"] for c in stmt.get("cmds") or () if "AlterTableCmd" in c]


def _const_text(node: Node) -> str:
    c = node.get("A_Const", {})
    if "ival" in c:
        return str(c["ival"].get("ival", 0))
    if "fval" in c:
        return str(c["fval"].get("fval", ""))
    if "sval" in c:
        return str(c["sval"].get("sval", ""))
    return "?"


def type_spec(type_name: Node | None) -> str | None:
    """The canonical spelling (:func:`canonical_type`) of a ``TypeName`` node."""
    if not type_name:
        return None
    names = strings(type_name.get("names"))
    if names and names[0] == "pg_catalog" and len(names) > 1:
        names = names[1:]
    spec = ".".join(names)
    mods = type_name.get("typmods")
    if mods:
        spec += "(" + ",".join(_const_text(m) for m in mods) + ")"
    spec += "[]" * len(type_name.get("arrayBounds") or ())
    return canonical_type(spec)


def column_constraints(coldef: Node) -> list[Node]:
    """The ``Constraint`` bodies declared inline on a ``ColumnDef``."""
    return [c["Constraint"] for c in coldef.get("constraints") or () if "Constraint" in c]


def walk(node: Any) -> Iterator[Node]:
    """Every dict inside ``node`` (depth first, in document order)."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            yield cur
            stack.extend(reversed(list(cur.values())))
        elif isinstance(cur, list):
            stack.extend(reversed(cur))


def function_names(expr: Any) -> list[str]:
    """Unqualified names of every function called inside an expression tree."""
    out: list[str] = []
    for d in walk(expr):
        call = d.get("FuncCall")
        if isinstance(call, dict):
            parts = strings(call.get("funcname"))
            if parts:
                out.append(parts[-1])
    return out


def string_constants(expr: Any) -> list[str]:
    """Every string literal inside a parse tree."""
    out: list[str] = []
    for d in walk(expr):
        c = d.get("A_Const")
        if isinstance(c, dict) and "sval" in c:
            out.append(c["sval"].get("sval", ""))
    return out


def is_not_null_test(expr: Node | None, column: str) -> bool:
    """Is ``expr`` exactly ``column IS NOT NULL``?"""
    test = (expr or {}).get("NullTest")
    if not test or test.get("nulltesttype") != "IS_NOT_NULL":
        return False
    ref = test.get("arg", {}).get("ColumnRef")
    return bool(ref) and strings(ref.get("fields")) == [column]


def object_name(obj: Node) -> str:
    """Dotted name of one ``DropStmt`` object: a name list, a type name or a bare string."""
    if "List" in obj:
        return ".".join(strings(obj["List"].get("items")))
    if "TypeName" in obj:
        return ".".join(strings(obj["TypeName"].get("names")))
    if "String" in obj:
        return str(obj["String"].get("sval", ""))
    if "ObjectWithArgs" in obj:
        return ".".join(strings(obj["ObjectWithArgs"].get("objname")))
    return "?"
