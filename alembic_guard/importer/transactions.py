"""Which imported statements must run outside the revision's transaction.

Pure.  Beside what PostgreSQL itself refuses inside a transaction block
(``CREATE INDEX CONCURRENTLY``, ``VACUUM``: :mod:`alembic_guard.importer.render`
knows those), two things make a statement non-transactional in a raw SQL set:

- its file carries its tool's no-transaction marker
  (:attr:`SourceFile.no_transaction`): the tool ran every statement of the
  file on its own, and a statement may rely on it (a later one of the file
  sees the first one committed);
- it ends transactions itself: a ``DO`` block whose body runs ``COMMIT`` /
  ``ROLLBACK`` (a batched backfill), or a ``CALL`` of a procedure whose body
  does (directly or through procedures it calls).  golang-migrate has no
  marker, so this is the only way to tell.  Run inside a transaction block,
  PostgreSQL refuses them with SQLSTATE 2D000 (invalid transaction termination).

Such statements go into ``op.get_context().autocommit_block()``; the runtime
resumes a revision that stopped part-way through such a block by its rules
for autocommit steps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pglast
from pglast.parser import ParseError, parse_sql_json, scan

from alembic_guard.sql.statement import Statement

__all__ = ["AutocommitReason", "autocommit_reasons"]

AutocommitReason = str

_ENDS_TRANSACTION = ("PLpgSQL_stmt_commit", "PLpgSQL_stmt_rollback")


def autocommit_reasons(statements: Sequence[Statement]) -> list[AutocommitReason | None]:
    """For each statement (in planned order), why it must run in autocommit; ``None``: it need not.

    ``CALL`` is matched to the procedures the statements before it create (by
    name, any schema: a procedure created outside the set is not known and its
    call stays transactional).
    """
    committing: set[str] = set()
    out: list[AutocommitReason | None] = []
    for st in statements:
        node = st.node
        reason: AutocommitReason | None = None
        if "DoStmt" in node:
            if _body_commits(_do_body(node["DoStmt"]), "DO", committing):
                reason = "its DO block ends transactions (COMMIT / ROLLBACK inside)"
        elif "CreateFunctionStmt" in node:
            fn = node["CreateFunctionStmt"]
            if fn.get("is_procedure"):
                body = _option(fn, "as")
                name = _last_name(fn.get("funcname"))
                if name and body is not None and _body_commits(body, _header(st.text), committing):
                    committing.add(name)
        elif "CallStmt" in node:
            fc = node["CallStmt"].get("funccall", {})
            fc = fc.get("FuncCall", fc)
            name = _last_name(fc.get("funcname"))
            if name in committing:
                reason = f"the procedure {name} it calls ends transactions (COMMIT / ROLLBACK)"
        if reason is None and st.source.no_transaction:
            reason = "its file is marked to run outside a transaction"
        out.append(reason)
    return out


def _strings(items: Iterable[Any] | None) -> list[str]:
    return [i["String"]["sval"] for i in items or () if isinstance(i, dict) and "String" in i]


def _last_name(items: Iterable[Any] | None) -> str | None:
    names = _strings(items)
    return names[-1].lower() if names else None


def _option(fn: dict[str, Any], name: str) -> str | None:
    for o in fn.get("options") or ():
        de = o.get("DefElem", {})
        if de.get("defname") == name:
            return _first_string(de.get("arg"))
    return None


def _first_string(arg: Any) -> str | None:
    """The string of a DefElem argument: a String, or the first of a List (AS 'body' [, 'symbol'])."""
    if isinstance(arg, dict) and "List" in arg:
        arg = (arg["List"].get("items") or [None])[0]
    parts = _strings([arg])
    return parts[0] if parts else None


def _do_body(do: dict[str, Any]) -> str | None:
    for a in do.get("args") or ():
        de = a.get("DefElem", {})
        if de.get("defname") == "as":
            return _first_string(de.get("arg"))
    return None


def _header(text: str) -> str:
    """``CREATE PROCEDURE name(args) LANGUAGE plpgsql AS``-like head: the statement up to its body."""
    i = text.find("$")
    return text[:i] if i > 0 else ""


def _body_commits(body: str | None, header: str, committing: set[str]) -> bool:
    """Does a PL/pgSQL body end transactions itself (or call a procedure that does)?"""
    if body is None:
        return False
    try:
        tree = pglast.parse_plpgsql(f"{header or 'DO'} $guard_body$ {body} $guard_body$")
    except Exception:  # pglast raises several kinds for PL/pgSQL: read the tokens instead
        return _tokens_commit(body)
    for kind, value in _walk(tree):
        if kind in _ENDS_TRANSACTION:
            return True
        if kind == "PLpgSQL_stmt_call" and isinstance(value, dict):
            query = value.get("expr", {}).get("PLpgSQL_expr", {}).get("query", "")
            if _called(query) in committing:
                return True
    return False


def _called(query: str) -> str | None:
    try:
        stmts = json.loads(parse_sql_json(query)).get("stmts") or []
    except ParseError:
        return None
    node = stmts[0].get("stmt", {}) if stmts else {}
    fc = node.get("CallStmt", {}).get("funccall", {})
    return _last_name(fc.get("FuncCall", fc).get("funcname"))


def _tokens_commit(body: str) -> bool:
    try:
        return any(t.name in ("COMMIT", "ROLLBACK") for t in scan(body))
    except ParseError:
        return False


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)
