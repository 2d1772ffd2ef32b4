"""Effects of DO blocks: the PL/pgSQL body is parsed and each statement inside analysed.

Pure.  Part of :mod:`alembic_guard.sql.effects`, which passes its statement
dispatcher in (the statements inside a block are analysed like top-level ones).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pglast
from pglast.parser import ParseError, parse_sql_json

from alembic_guard.sql.effects_common import Ctx, Node, Source, const_str, sval

Dispatch = Callable[[Ctx, Node], None]

_CATALOG_RE = re.compile(r"\b(pg_[a-z_]+|information_schema)\b", re.I)
_NOT_EXISTS_RE = re.compile(r"^\s*not\s+exists\s*\(", re.I)
_EXISTS_RE = re.compile(r"^\s*exists\s*\(", re.I)
_QUERY_RE = re.compile(r"\s*(select|with)\b", re.I)
_DUPLICATE_CONDITIONS = frozenset(
    {
        "duplicate_object",
        "duplicate_table",
        "duplicate_column",
        "duplicate_schema",
        "duplicate_function",
        "others",
    }
)


def analyze_do(ctx: Ctx, n: Node, dispatch: Dispatch) -> None:
    """DO block (inner dict of ``DoStmt``): the effects (and locks) of the statements inside it."""
    lang = "plpgsql"
    body = None
    body_loc = -1
    for a in n.get("args") or ():
        de = a.get("DefElem", {})
        if de.get("defname") == "language":
            lang = sval(de.get("arg")).lower()
        elif de.get("defname") == "as":
            body = sval(de.get("arg"))
            body_loc = de.get("arg_location", de.get("location", -1))
    if lang != "plpgsql" or body is None:
        ctx.opaque_part(f"DO block in language {lang}")
        return
    try:
        tree = pglast.parse_plpgsql(f"DO $guard_body$ {body} $guard_body$")
    except Exception as exc:  # pglast raises several kinds for PL/pgSQL
        ctx.opaque_part(f"DO block body does not parse: {exc}")
        return
    # where the body's text starts in the file, to point requirements at the reference itself
    start = ctx.src.data.find(body.encode(), max(body_loc, 0)) if body_loc >= 0 else -1
    do = _DoBlock(ctx, body, start, dispatch)
    fn = tree[0].get("PLpgSQL_function", {}) if tree else {}
    do.ignore = frozenset(
        d.get(k, {}).get("refname", "")
        for d in fn.get("datums") or ()
        for k in ("PLpgSQL_var", "PLpgSQL_rec", "PLpgSQL_row")
        if k in d
    )
    do.stmts([fn.get("action", {})], guarded=False)


class _DoBlock:
    def __init__(self, ctx: Ctx, body: str, body_start: int, dispatch: Dispatch):
        self.ctx = ctx
        self.dispatch = dispatch
        self.body = body
        self.body_bytes = body.encode()
        self.body_start = body_start
        self.ignore: frozenset[str] = frozenset()
        self._pos = 0
        self.conditional = 0  # depth of IF EXISTS (catalog query) bodies being read

    def _shift(self, query: str) -> int | None:
        """File byte offset where embedded ``query`` starts (None if not found)."""
        if self.body_start < 0:
            return None
        q = query.encode()
        i = self.body_bytes.find(q, self._pos)
        if i < 0:
            i = self.body_bytes.find(q)
        if i < 0:
            return None
        self._pos = i + len(q)
        return self.body_start + i

    def sql(self, query: str, guarded: bool, prefix: str = "") -> None:
        shift = self._shift(query)
        if shift is not None:
            shift -= len(prefix.encode())
        try:
            parsed = json.loads(parse_sql_json(prefix + query))
        except ParseError as exc:
            self.ctx.opaque_part(f"SQL inside DO block does not parse: {exc.args[0]}")
            return
        sub = Ctx(
            Source(prefix + query),
            self.ctx.search_path,
            shift,
            guarded or self.ctx.ensure_mode,
            self.ctx.known,
        )
        sub.ignore_names = self.ignore
        for entry in parsed.get("stmts") or ():
            self.dispatch(sub, entry["stmt"])
        if self.conditional:
            sub.requires.clear()
        self.ctx.merge(sub)

    def expr(self, e: Any, guarded: bool) -> None:
        q = (e or {}).get("PLpgSQL_expr", {}).get("query")
        if q and not _CATALOG_RE.search(q):
            # conditions and assignments are expressions; PERFORM's is already a query
            self.sql(q, guarded, prefix="" if _QUERY_RE.match(q) else "SELECT ")

    def stmts(self, items: list[Any] | None, guarded: bool) -> None:
        for item in items or ():
            for kind, s in item.items():
                self.stmt(kind, s, guarded)

    def stmt(self, kind: str, s: Node, guarded: bool) -> None:
        if kind == "PLpgSQL_stmt_block":
            # BEGIN ... EXCEPTION WHEN duplicate_object THEN NULL; END: the idiom for "create if missing"
            exc = s.get("exceptions", {}).get("PLpgSQL_exception_block", {})
            conds = {
                c.get("PLpgSQL_condition", {}).get("condname", "")
                for e in exc.get("exc_list") or ()
                for c in e.get("PLpgSQL_exception", {}).get("conditions") or ()
            }
            self.stmts(s.get("body"), guarded or bool(conds & _DUPLICATE_CONDITIONS))
            for e in exc.get("exc_list") or ():
                self.stmts(e.get("PLpgSQL_exception", {}).get("action"), guarded)
        elif kind == "PLpgSQL_stmt_execsql":
            self.sql(s.get("sqlstmt", {}).get("PLpgSQL_expr", {}).get("query", ""), guarded)
        elif kind == "PLpgSQL_stmt_if":
            cond = s.get("cond", {}).get("PLpgSQL_expr", {}).get("query", "")
            on_catalog = bool(_CATALOG_RE.search(cond))
            self.expr(s.get("cond"), guarded)
            if on_catalog and _EXISTS_RE.match(cond):
                # IF EXISTS (catalog query): the body runs only when the object is there,
                # so what it names is not required
                self.conditional += 1
                self.stmts(s.get("then_body"), guarded)
                self.conditional -= 1
            else:
                self.stmts(s.get("then_body"), guarded or (on_catalog and bool(_NOT_EXISTS_RE.match(cond))))
            for el in s.get("elsif_list") or ():
                e = el.get("PLpgSQL_if_elsif", {})
                self.expr(e.get("cond"), guarded)
                self.stmts(e.get("stmts"), guarded)
            self.stmts(s.get("else_body"), guarded)
        elif kind in ("PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors"):
            lit = (s.get("query") or {}).get("PLpgSQL_expr", {}).get("query", "")
            text = _literal_sql(lit)
            if text is not None:
                self.sql(text, guarded)
            else:
                self.ctx.opaque_part("EXECUTE of a dynamic SQL string")
        elif kind in (
            "PLpgSQL_stmt_loop",
            "PLpgSQL_stmt_while",
            "PLpgSQL_stmt_fori",
            "PLpgSQL_stmt_foreach_a",
        ):
            for key in ("cond", "lower", "upper", "expr"):
                self.expr(s.get(key), guarded)
            self.stmts(s.get("body"), guarded)
        elif kind == "PLpgSQL_stmt_fors":
            self.sql(s.get("query", {}).get("PLpgSQL_expr", {}).get("query", ""), guarded)
            self.stmts(s.get("body"), guarded)
        elif kind == "PLpgSQL_stmt_perform" or kind in ("PLpgSQL_stmt_assign",):
            self.expr(s.get("expr"), guarded)
        elif kind == "PLpgSQL_stmt_case":
            for w in s.get("case_when_list") or ():
                cw = w.get("PLpgSQL_case_when", {})
                self.stmts(cw.get("stmts"), guarded)
            self.stmts(s.get("else_stmts"), guarded)
        # RAISE, RETURN, EXIT, NULL, GET DIAGNOSTICS, ...: no schema effect


def _literal_sql(expr_text: str) -> str | None:
    """The SQL of ``EXECUTE 'literal'`` when the string is a plain constant, else None."""
    try:
        parsed = json.loads(parse_sql_json("SELECT " + expr_text))
    except ParseError:
        return None
    stmts: list[Node] = parsed.get("stmts") or []
    if len(stmts) != 1:
        return None
    tl: list[Node] = stmts[0]["stmt"].get("SelectStmt", {}).get("targetList") or []
    if len(tl) != 1:
        return None
    return const_str(tl[0].get("ResTarget", {}).get("val"))
