"""Effects of DO blocks: the PL/pgSQL body is parsed and each statement inside analysed.

Pure.  Part of :mod:`alembic_guard.sql.effects`, which passes its statement
dispatcher in (the statements inside a block are analysed like top-level ones).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import pglast
from pglast.parser import ParseError, parse_sql_json

from alembic_guard.model import ObjRef
from alembic_guard.quoting import quote_ident
from alembic_guard.sql.effects_common import Ctx, Node, Source, const_str, sval
from alembic_guard.sql.statement import bounded, dynamic_key

Dispatch = Callable[[Ctx, Node], None]

_CATALOG_RE = re.compile(r"\b(pg_[a-z_]+|information_schema)\b", re.I)
_NOT_EXISTS_RE = re.compile(r"^\s*not\s+exists\s*\(", re.I)
_EXISTS_RE = re.compile(r"^\s*exists\s*\(", re.I)
_QUERY_RE = re.compile(r"\s*(select|with)\b", re.I)
_SELECT_EXPR_RE = re.compile(r"\s*select\s+(.*?)\s*$", re.I | re.S)
# PL/pgSQL assignments (parse modes PLPGSQL_ASSIGN1..3): "n := ...", "r.f := ...", "a[1] = ..."
_ASSIGN_MODES = frozenset({3, 4, 5})
_IDENT = r'(?:"(?:[^"]|"")*"|[\w$]+)'
_ASSIGN_TARGET_RE = re.compile(rf"\s*{_IDENT}(?:\s*\.\s*{_IDENT}|\s*\[[^\]]*\])*\s*:?=\s*")
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


def _body_of(tree: list[Any]) -> Node:
    fn: Node = tree[0].get("PLpgSQL_function", {}) if tree else {}
    return fn


def _datum_names(fn: Node) -> frozenset[str]:
    return frozenset(
        d.get(k, {}).get("refname", "")
        for d in fn.get("datums") or ()
        for k in ("PLpgSQL_var", "PLpgSQL_rec", "PLpgSQL_row")
        if k in d
    )


def analyze_plpgsql_body(
    ctx: Ctx, header: str, body: str, dispatch: Dispatch, preset: Held | None = None
) -> Ctx | None:
    """The facts of a PL/pgSQL function body, collected in a new context (None: it does not parse).

    ``header`` is a ``CREATE FUNCTION ... AS`` / ``CREATE PROCEDURE ... AS`` head with the
    function's parameter names (types do not matter to the parser).  Nothing is merged into
    ``ctx``: the caller decides what a body's facts mean (run-time requirements, and what a
    call may create).  Positions inside the body are not tracked (its facts are never shown
    at a position).
    """
    try:
        tree = pglast.parse_plpgsql(f"{header} $guard_body$ {body} $guard_body$")
    except Exception:  # pglast raises several kinds for PL/pgSQL
        return None
    sub = Ctx(ctx.src, ctx.search_path, None, False, ctx.known)
    sub.check_bodies = ctx.check_bodies
    do = _DoBlock(sub, body, -1, dispatch)
    fn = _body_of(tree)
    do.ignore = _datum_names(fn)
    do.vars.update(preset or {})
    do.declare(fn)
    do.stmts([fn.get("action", {})], guarded=False)
    return sub


_HEADER_MODES = {"FUNC_PARAM_OUT": "OUT ", "FUNC_PARAM_INOUT": "INOUT ", "FUNC_PARAM_VARIADIC": "VARIADIC "}


def _plpgsql_header(n: Node) -> str:
    """A ``CREATE FUNCTION`` head PL/pgSQL's parser accepts, with the function's parameter names.

    Types are left out (``text`` for all): the parser looks user types up in a catalog it does
    not have, and the analysis only needs the names (they are variables, not columns).
    """
    ret = [sval(x) for x in (n.get("returnType") or {}).get("names") or ()]
    if ret[-1:] in (["trigger"], ["event_trigger"]):
        return f"CREATE FUNCTION guard_body() RETURNS {ret[-1]} LANGUAGE plpgsql AS"
    params, table = [], []
    for p in n.get("parameters") or ():
        fp = p.get("FunctionParameter", {})
        mode = fp.get("mode", "FUNC_PARAM_DEFAULT")
        name = fp.get("name")
        typ = "text[]" if mode == "FUNC_PARAM_VARIADIC" else "text"
        if mode == "FUNC_PARAM_TABLE":
            table.append(f'"{name}" text')
        else:
            params.append(_HEADER_MODES.get(mode, "") + (f'"{name}" {typ}' if name else typ))
    args = ", ".join(params)
    if n.get("is_procedure"):
        return f"CREATE PROCEDURE guard_body({args}) LANGUAGE plpgsql AS"
    if table:
        returns = f"TABLE({', '.join(table)})"
    elif ret[-1:] == ["void"]:
        returns = "void"
    elif (n.get("returnType") or {}).get("setof"):
        returns = "SETOF record"
    else:
        returns = "record"  # RETURN <expression> parses against record whatever the real type
    return f"CREATE FUNCTION guard_body({args}) RETURNS {returns} LANGUAGE plpgsql AS"


def _body_text(n: Node) -> str:
    """The string body (``AS '...'``) of a CREATE FUNCTION / PROCEDURE (inner dict)."""
    for o in n.get("options") or ():
        de = o.get("DefElem", {})
        if de.get("defname") == "as":
            arg = de.get("arg")
            items = arg.get("List", {}).get("items") or () if isinstance(arg, dict) else ()
            return sval(items[0]) if items else ""
    return ""


_IN_MODES = frozenset({"FUNC_PARAM_DEFAULT", "FUNC_PARAM_IN", "FUNC_PARAM_INOUT", "FUNC_PARAM_VARIADIC"})


def call_patterns(ctx: Ctx, fn: Node, args: list[Any], dispatch: Dispatch) -> list[str] | None:
    """What one call of a PL/pgSQL function (its CREATE FUNCTION, inner dict) may create, as
    patterns: the body read again with each parameter bound to the call's constant argument,
    so ``make_partition('events', ...)`` may create ``relation:public.events_*``, not any
    relation.  None when the body cannot be read."""
    params = [p.get("FunctionParameter", {}) for p in fn.get("parameters") or ()]
    inputs = [p for p in params if p.get("mode", "FUNC_PARAM_DEFAULT") in _IN_MODES]
    preset: Held = {}
    for p, a in zip(inputs, args, strict=False):
        value = const_text(a)
        if p.get("name") and value is not None:
            preset[str(p["name"]).lower()] = "'" + value.replace("'", "''") + "'"
    if not preset:
        return None
    done = analyze_plpgsql_body(ctx, _plpgsql_header(fn), _body_text(fn), dispatch, preset)
    if done is None:
        return None
    out: list[str] = []
    for ref in (*done.creates, *done.ensures):
        key = dynamic_key(ref).replace("[", "[[]").replace("?", "[?]")
        if key not in out:
            out.append(key)
    return out + [p for p in done.dynamic if p not in out]


def function_body(ctx: Ctx, n: Node, lang: str | None, dispatch: Dispatch) -> None:
    """What the string body of CREATE FUNCTION / PROCEDURE (inner dict) needs, and may create.

    - ``LANGUAGE sql``: PostgreSQL checks the body at creation (unless ``SET
      check_function_bodies = off`` came earlier): what it reads is required.
    - ``LANGUAGE plpgsql``: nothing is checked at creation; what the body names is needed when
      the function runs (``uses``), and what it creates, statically or through dynamic SQL,
      is what a call may create (``dynamic``, moved to the callers by ``analyze_all``).
    Other languages are not read.  ``BEGIN ATOMIC`` bodies are read by the caller.
    """
    as_arg = None
    for o in n.get("options") or ():
        de = o.get("DefElem", {})
        if de.get("defname") == "as":
            as_arg = de.get("arg")
    items = as_arg.get("List", {}).get("items") or () if isinstance(as_arg, dict) else ()
    body = sval(items[0]) if items else ""
    if not body.strip():
        return
    if lang == "sql":
        try:
            parsed = json.loads(parse_sql_json(body))
        except ParseError:
            return  # PostgreSQL would refuse it at creation; the error is its to report
        sub = Ctx(Source(body), ctx.search_path, None, False, ctx.known)
        sub.ignore_names = ctx.ignore_names | frozenset(
            p.get("FunctionParameter", {}).get("name", "") for p in n.get("parameters") or ()
        )
        for entry in parsed.get("stmts") or ():
            dispatch(sub, entry["stmt"])
        made = {(r.kind, r.schema, r.name, r.parent) for r in (*sub.creates, *sub.ensures)}
        needed = [q for q in sub.requires if (q.ref.kind, q.ref.schema, q.ref.name, q.ref.parent) not in made]
        (ctx.requires if ctx.check_bodies else ctx.uses).extend(needed)
        ctx.uses.extend(sub.uses)
    elif lang == "plpgsql":
        done = analyze_plpgsql_body(ctx, _plpgsql_header(n), body, dispatch)
        if done is None:
            return
        ctx.uses.extend(done.requires)
        ctx.uses.extend(done.uses)
        for ref in (*done.creates, *done.ensures):
            key = dynamic_key(ref).replace("[", "[[]").replace("?", "[?]")
            if key not in ctx.dynamic:
                ctx.dynamic.append(key)
        ctx.dynamic.extend(p for p in done.dynamic if p not in ctx.dynamic)


def _declared_row_types(ctx: Ctx, fn: Node) -> None:
    """A DO block runs at once: ``r t%ROWTYPE`` needs relation t, ``n t.c%TYPE`` column t.c."""
    for d in fn.get("datums") or ():
        datatype = (d.get("PLpgSQL_var") or {}).get("datatype") or {}
        typname = datatype.get("PLpgSQL_type", {}).get("typname", "")
        head, _, tail = typname.rpartition("%")
        if not head:
            continue
        # the PL/pgSQL parser gives the names already folded ("RateLimit" and rate_limit alike)
        names = head.split(".")
        if tail.lower() == "rowtype":
            q = ctx.qualified(names)
            ctx.require(ObjRef("sequence" if q in ctx.known.sequences else "relation", *q))
        elif tail.lower() == "type" and len(names) >= 2:
            t = ctx.qualified(names[:-1])
            ctx.require(ObjRef.column(t[0], t[1], names[-1]))


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
    fn = _body_of(tree)
    do.ignore = _datum_names(fn)
    do.declare(fn)
    _declared_row_types(ctx, fn)
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
        # depth of branches that may not run (IF on data or settings, CASE, loops): what they
        # require is needed only if they run, what they drop may stay
        self.maybe = 0
        # string variables: name -> the expression last assigned (None: assigned differently
        # more than once), so ``sql := format(...); EXECUTE sql`` is read like ``EXECUTE format(...)``
        self.vars: dict[str, str | None] = {}
        # loop record fields bound to a constant list by the loop's query
        # (``FOR r IN SELECT relname AS n FROM pg_class WHERE relname IN ('a', 'b')``)
        self.bound: dict[str, tuple[str, ...]] = {}

    def declare(self, fn: Node) -> None:
        """Record the declared default values of the block's string variables."""
        for d in fn.get("datums") or ():
            var = d.get("PLpgSQL_var") or {}
            q = (var.get("default_val") or {}).get("PLpgSQL_expr", {}).get("query")
            if var.get("refname") and q:
                self._assign(var["refname"], q)

    def _assign(self, name: str, expr_text: str) -> None:
        key = name.lower()
        if key in self.vars and self.vars[key] != expr_text:
            self.vars[key] = None
        else:
            self.vars[key] = expr_text

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
        sub = self._analyze(query, guarded, prefix)
        if sub is not None:
            self._merge(sub)

    def _analyze(self, query: str, guarded: bool, prefix: str = "") -> Ctx | None:
        """The facts of SQL embedded in the block (None, and an opaque part, if it does not parse)."""
        shift = self._shift(query)
        if shift is not None:
            shift -= len(prefix.encode())
        try:
            stmts = json.loads(parse_sql_json(prefix + query)).get("stmts") or ()
        except ParseError as exc:
            self.ctx.opaque_part(f"SQL inside DO block does not parse: {exc.args[0]}")
            return None
        return self._read(prefix + query, stmts, shift, guarded)

    def _read(self, text: str, stmts: Sequence[Node], shift: int | None, guarded: bool) -> Ctx:
        """The facts of parsed statements ``stmts`` of ``text``, in a context of their own."""
        sub = Ctx(Source(text), self.ctx.search_path, shift, guarded or self.ctx.ensure_mode, self.ctx.known)
        sub.ignore_names = self.ignore
        sub.check_bodies = self.ctx.check_bodies
        for entry in stmts:
            self.dispatch(sub, entry["stmt"])
        return sub

    def _merge(self, sub: Ctx) -> None:
        if self.conditional:
            # IF EXISTS (catalog query): nothing is required, and the check may be about another
            # object than the one dropped: the drop is conditional
            sub.requires.clear()
            _conditional_drops(sub)
        elif self.maybe:
            sub.uses.extend(sub.requires)
            sub.requires.clear()
            _conditional_drops(sub)
        self.ctx.merge(sub)

    def expr(self, e: Any, guarded: bool) -> None:
        pe = (e or {}).get("PLpgSQL_expr", {})
        q = pe.get("query")
        if q and pe.get("parseMode") in _ASSIGN_MODES:
            # an assignment's text is "target := expression": the expression is what is read
            m = _ASSIGN_TARGET_RE.match(q)
            q = q[m.end() :] if m else q
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
            query = s.get("sqlstmt", {}).get("PLpgSQL_expr", {}).get("query", "")
            self.sql(query, guarded)
            fields = (s.get("target") or {}).get("PLpgSQL_row", {}).get("fields") or []
            value = _select_value(query) if s.get("into") and len(fields) == 1 else None
            if value is not None:
                self._assign(fields[0].get("name", ""), value)  # SELECT <expr> INTO name
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
            elif on_catalog and _NOT_EXISTS_RE.match(cond):
                self.stmts(s.get("then_body"), True)
            else:
                # a condition on data, settings or a function, or another test of the catalog
                # (a count, a comparison: it may hold or not): the branch may not run
                self._maybe(s.get("then_body"), guarded)
            for el in s.get("elsif_list") or ():
                e = el.get("PLpgSQL_if_elsif", {})
                self.expr(e.get("cond"), guarded)
                self._maybe(e.get("stmts"), guarded)
            if on_catalog and (_EXISTS_RE.match(cond) or _NOT_EXISTS_RE.match(cond)):
                self.stmts(s.get("else_body"), guarded)
            else:
                self._maybe(s.get("else_body"), guarded)
        elif kind in ("PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors"):
            lit = (s.get("query") or {}).get("PLpgSQL_expr", {}).get("query", "")
            held = self.vars.get(lit.strip().lower()) if re.fullmatch(r"\s*[\w$]+\s*", lit) else None
            if held is not None:
                lit = held  # EXECUTE of a variable holding built text: read the text it was built from
            text = _literal_sql(lit)
            if text is not None:
                self.sql(text, guarded)
            elif self._templated(lit, guarded):
                pass
            else:
                patterns, known_shape = dynamic_patterns(lit, self.ctx, self.dispatch, self.vars)
                if not (known_shape and patterns and all(bounded(p) for p in patterns)):
                    self.ctx.opaque_part("EXECUTE of a dynamic SQL string")
                for p in patterns:
                    if p not in self.ctx.dynamic:
                        self.ctx.dynamic.append(p)
        elif kind in (
            "PLpgSQL_stmt_loop",
            "PLpgSQL_stmt_while",
            "PLpgSQL_stmt_fori",
            "PLpgSQL_stmt_foreach_a",
        ):
            for key in ("cond", "lower", "upper", "expr"):
                self.expr(s.get(key), guarded)
            self._maybe(s.get("body"), guarded)  # a loop may run no time at all
        elif kind == "PLpgSQL_stmt_fors":
            query = s.get("query", {}).get("PLpgSQL_expr", {}).get("query", "")
            self.sql(query, guarded)
            rec = (s.get("var") or {}).get("PLpgSQL_rec", {}).get("refname")
            if rec:
                self.bound.update(_bound_fields(rec, query))
            self._maybe(s.get("body"), guarded)
        elif kind == "PLpgSQL_stmt_assign":
            q = (s.get("expr") or {}).get("PLpgSQL_expr", {}).get("query") or ""
            m = _ASSIGN_TARGET_RE.match(q)
            target = q[: m.end()].split(":")[0].split("=")[0].strip() if m else ""
            if m and re.fullmatch(r"[\w$]+", target):
                self._assign(target, q[m.end() :])
            self.expr(s.get("expr"), guarded)
        elif kind in (
            "PLpgSQL_stmt_perform",
            "PLpgSQL_stmt_return",
            "PLpgSQL_stmt_return_next",
        ):
            self.expr(s.get("expr"), guarded)
        elif kind == "PLpgSQL_stmt_return_query":
            if s.get("query"):
                self.sql(s["query"].get("PLpgSQL_expr", {}).get("query", ""), guarded)
            elif s.get("dynquery"):
                self.stmt("PLpgSQL_stmt_dynexecute", {"query": s["dynquery"]}, guarded)
        elif kind == "PLpgSQL_stmt_case":
            for w in s.get("case_when_list") or ():
                cw = w.get("PLpgSQL_case_when", {})
                self._maybe(cw.get("stmts"), guarded)
            self._maybe(s.get("else_stmts"), guarded)
        # RAISE, RETURN, EXIT, NULL, GET DIAGNOSTICS, ...: no schema effect

    def _templated(self, expr_text: str, guarded: bool) -> bool:
        """Read ``EXECUTE <built text>`` whose run-time parts name no object it creates, drops or alters.

        The text is built with a placeholder for each run-time part (a loop field bound to a
        constant list is expanded to each of its values).  When the placeholder stands only
        where a role or a read object is named (``GRANT ... TO <role>``, ``SELECT ... FROM
        %I``), the statement's effect on the schema is known: what it reads by a run-time
        name is a run-time dependency that cannot be named, and is left out.  Otherwise
        (it creates or drops a run-time name) the caller falls back to patterns and opaque.
        """
        texts = expand_template(expr_text, self.bound, self.vars)
        if not texts:
            return False
        subs: list[Ctx] = []
        for text in texts:
            parsed = _parse_template(text)
            if parsed is None:
                return False
            try:
                sub = self._read(*parsed, None, guarded)
            except (KeyError, IndexError, TypeError, AttributeError, ValueError):
                return False
            if sub.opaque or sub.dynamic:
                return False
            made = (*sub.creates, *sub.ensures, *sub.drops, *sub.alters, *sub.maybe_drops)
            if any(_MARK in _ref_text(r) for r in made):
                return False
            if any(_MARK in repr(c) for c in sub.changes):
                return False
            sub.requires = [q for q in sub.requires if _MARK not in _ref_text(q.ref)]
            sub.uses = [q for q in sub.uses if _MARK not in _ref_text(q.ref)]
            sub.query_columns = []
            subs.append(sub)
        # a bound loop field runs inside its loop, already read as a branch that may not run
        for sub in subs:
            self._merge(sub)
        return True

    def _maybe(self, items: list[Any] | None, guarded: bool) -> None:
        self.maybe += 1
        self.stmts(items, guarded)
        self.maybe -= 1


def _conditional_drops(sub: Ctx) -> None:
    """Drops in a branch that may not run: ordered like drops, not applied to the model (replay
    and the guards cannot know whether they ran; the guards read the catalog again)."""
    if not sub.drops:
        return
    sub.maybe_drops.extend(sub.drops)
    dropped = {(r.kind, r.schema, r.name, r.parent) for r in sub.drops}
    sub.drops.clear()
    sub.changes = [
        c
        for c in sub.changes
        if not (
            type(c).__name__ == "DropObject"
            and (c.ref.kind, c.ref.schema, c.ref.name, c.ref.parent) in dropped
        )
    ]


# A placeholder for the run-time parts of a dynamic statement: an identifier where %I / %s
# stand, a literal where %L does; patterns turn it back into a wildcard.
_MARK = "guard_dyn_x"
_FORMAT_SPEC = re.compile(r"%(?:\d+\$)?-?\d*([IsL%])")


_BOUND = "guard_dyn_"  # + "i<k>" (an identifier, %I) or "s<k>" (text): the k-th bound loop field


def _ref_text(ref: ObjRef) -> str:
    return f"{ref.schema}.{ref.parent}.{ref.name}"


Held = dict[str, "str | None"]  # a variable → the expression text last assigned to it
_HELD_DEPTH = 4  # variables resolved through at most this many assignments (``q := q || ...``)
_CASE_FUNCS = {"lower": str.lower, "upper": str.upper}


def const_text(node: Any) -> str | None:
    """A string or integer constant as its text (``format`` and ``||`` print both), else None."""
    c = const_str(node)
    if c is not None:
        return c
    if isinstance(node, dict) and "TypeCast" in node:
        return const_text(node["TypeCast"].get("arg"))
    ac = node.get("A_Const") if isinstance(node, dict) else None
    if ac is not None and "ival" in ac:
        return str(ac["ival"].get("ival", 0))
    return None


def _expr_node(expr_text: str) -> Any:
    """The parse tree of one expression (None if it is not one)."""
    try:
        parsed = json.loads(parse_sql_json("SELECT " + expr_text))
        return parsed["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]
    except (ParseError, KeyError, IndexError, TypeError):
        return None


def _select_value(query: str) -> str | None:
    """``SELECT <expression>`` with nothing else (no FROM, one column): the expression's text."""
    m = _SELECT_EXPR_RE.match(query)
    if m is None:
        return None
    try:
        sel = json.loads(parse_sql_json(query))["stmts"][0]["stmt"]["SelectStmt"]
    except (ParseError, KeyError, IndexError, TypeError):
        return None
    if len(sel.get("targetList") or ()) != 1 or set(sel) - {"targetList", "limitOption", "op"}:
        return None
    return str(m.group(1))


def _template(
    node: Any,
    bound: dict[str, tuple[str, ...]] | None = None,
    held: Held | None = None,
    depth: int = 0,
) -> str | None:
    """The text of a string expression with its run-time parts replaced by a placeholder.

    Constant arguments of ``format`` are put in as PostgreSQL would; a variable is read
    through the expression last assigned to it (``held``: a function's parameters bound to
    a call's constant arguments, ``name := format(...)``, ``SELECT ... INTO name``); a loop
    field bound to a constant list (``bound``) becomes a numbered marker that
    :func:`expand_template` replaces with each value.
    """
    names = list(bound or {})

    def field(n: Any, ident: bool) -> str:
        cr = n.get("ColumnRef") if isinstance(n, dict) else None
        if cr is not None:
            parts = [sval(f) for f in cr.get("fields") or ()]
            key = ".".join(parts).lower()
            if key in names:
                return f"{_BOUND}{'i' if ident else 's'}{names.index(key)}"
            expr = (held or {}).get(key) if len(parts) == 1 and depth < _HELD_DEPTH else None
            if expr is not None:
                inner = _template(_expr_node(expr), bound, held, depth + 1)
                if inner is not None:
                    return quote_ident(inner) if ident and _MARK not in inner else inner
        return _MARK

    def walk(n: Any) -> str | None:
        if not isinstance(n, dict):
            return _MARK
        if "TypeCast" in n:
            return walk(n["TypeCast"].get("arg"))
        c = const_text(n)
        if c is not None:
            return c
        fc = n.get("FuncCall")
        if fc is not None:
            fname = [sval(x) for x in fc.get("funcname") or ()]
            args = fc.get("args") or []
            if fname[-1:] and fname[-1] in _CASE_FUNCS and len(args) == 1:
                inner = walk(args[0])
                return None if inner is None else _CASE_FUNCS[fname[-1]](inner)
            if fname[-1:] == ["concat"]:
                pieces = [walk(a) for a in args]
                return None if any(p is None for p in pieces) else "".join(p or "" for p in pieces)
            if fname[-1:] == ["format"] and args:
                fmt = const_str(args[0])
                if fmt is None:
                    return None
                nxt = [1]

                def spec(m: re.Match[str]) -> str:
                    kind = m.group(1)
                    if kind == "%":
                        return "%"
                    pos = m.group(0)[1:].split("$")[0] if "$" in m.group(0) else None
                    i = int(pos) if pos and pos.isdigit() else nxt[0]
                    nxt[0] = i + 1
                    arg = args[i] if i < len(args) else None
                    value = walk(arg) if arg is not None else _MARK
                    if value is not None and _MARK in value:
                        value = None
                    if kind == "L":
                        return "'x'" if value is None else "'" + value.replace("'", "''") + "'"
                    if value is not None and _BOUND not in value:
                        return quote_ident(value) if kind == "I" else value
                    return field(arg, kind == "I")

                return _FORMAT_SPEC.sub(spec, fmt)
            return _MARK
        ae = n.get("A_Expr")
        if ae is not None and [sval(x) for x in ae.get("name") or ()] == ["||"]:
            left, right = walk(ae.get("lexpr")), walk(ae.get("rexpr"))
            return None if left is None or right is None else left + right
        return field(n, False)

    return walk(node)


def expand_template(expr_text: str, bound: dict[str, tuple[str, ...]], held: Held | None = None) -> list[str]:
    """The SQL texts ``EXECUTE <expr_text>`` may run: one per value of a bound loop field it
    uses (a placeholder stays for other run-time parts); ``[]`` when its text cannot be told."""
    target = _expr_node(expr_text)
    if target is None:
        return []
    text = _template(target, bound, held)
    if text is None or text.strip() == _MARK:
        return []
    used = sorted({int(k) for k in re.findall(_BOUND + r"[is](\d+)", text)})
    if not used:
        return [text]
    if len(used) > 1:
        return []  # two loop fields at once: their values go in pairs, not as a product
    k = used[0]
    values = list(bound.values())[k]
    return [text.replace(f"{_BOUND}i{k}", quote_ident(v)).replace(f"{_BOUND}s{k}", v) for v in values]


def _bound_fields(rec: str, query: str) -> dict[str, tuple[str, ...]]:
    """``rec.field`` → values, for output columns of a loop's query that its WHERE limits to a
    constant list (``relname IN ('a', 'b')`` as one conjunct)."""
    try:
        parsed = json.loads(parse_sql_json(query))
        sel = parsed["stmts"][0]["stmt"]["SelectStmt"]
    except (ParseError, KeyError, IndexError, TypeError):
        return {}
    where = sel.get("whereClause") or {}
    conjuncts = (
        where["BoolExpr"].get("args") or []
        if where.get("BoolExpr", {}).get("boolop") == "AND_EXPR"
        else [where]
    )
    lists: dict[str, tuple[str, ...]] = {}
    for c in conjuncts:
        ae = c.get("A_Expr") if isinstance(c, dict) else None
        if not ae or ae.get("kind") != "AEXPR_IN" or [sval(x) for x in ae.get("name") or ()] != ["="]:
            continue
        col = ae.get("lexpr", {}).get("ColumnRef")
        items = (ae.get("rexpr") or {}).get("List", {}).get("items") or []
        values = [const_str(i) for i in items]
        if col and values and all(v is not None for v in values):
            key = ".".join(sval(f) for f in col.get("fields") or ()).lower()
            lists[key] = tuple(v for v in values if v is not None)
    out: dict[str, tuple[str, ...]] = {}
    for t in sel.get("targetList") or ():
        rt = t.get("ResTarget", {})
        col = (rt.get("val") or {}).get("ColumnRef")
        if not col:
            continue
        key = ".".join(sval(f) for f in col.get("fields") or ()).lower()
        name = rt.get("name") or sval((col.get("fields") or [None])[-1])
        if key in lists and name:
            out[f"{rec.lower()}.{name.lower()}"] = lists[key]
    return out


def dynamic_patterns(
    expr_text: str, ctx: Ctx, dispatch: Dispatch, held: Held | None = None
) -> tuple[list[str], bool]:
    """Glob patterns (over :func:`~alembic_guard.sql.statement.dynamic_key`) of what the SQL an
    ``EXECUTE <expr_text>`` builds may create (``["*"]`` when its shape cannot be told), and
    whether that is all it does to named objects (False when it also drops or alters an
    object whose name is made at run time).

    ``format('CREATE TABLE %I (...)', ...)`` and ``'CREATE TABLE ' || name || ...`` keep
    their constant text: the statement is analysed with a placeholder for the run-time
    parts, and each object it would create becomes a pattern (``relation:public.*``).
    """
    target = _expr_node(expr_text)
    if target is None:
        return ["*"], False
    text = _template(target, None, held)
    if text is None or text.strip() == _MARK:
        return ["*"], False
    parsed = _parse_template(text)
    if parsed is None:
        return ["*"], False
    text, stmts = parsed
    sub = Ctx(Source(text), ctx.search_path, None, False, ctx.known)
    for entry in stmts:
        try:
            dispatch(sub, entry["stmt"])
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            return ["*"], False
    if sub.opaque and not (sub.creates or sub.ensures):
        return ["*"], False
    out: list[str] = []
    for ref in (*sub.creates, *sub.ensures):
        key = dynamic_key(ref).replace("[", "[[]").replace("?", "[?]").replace(_MARK, "*")
        if key not in out:
            out.append(key)
    # dropping or altering a run-time name is unknown, unless it is a name this text creates
    unknown = any(
        _MARK in _ref_text(r) and dynamic_key(r).replace(_MARK, "*") not in out
        for r in (*sub.drops, *sub.alters, *sub.maybe_drops)
    )
    return out + [p for p in sub.dynamic if p not in out], not unknown and not sub.opaque


_STANDALONE_MARK = re.compile(rf"(?<![\w$]){_MARK}(?![\w$])")


def _parse_template(text: str) -> tuple[str, list[Node]] | None:
    """The statements of a template; a placeholder standing alone where PostgreSQL wants a
    number (``modulus %s``, ``LIMIT %s``) is read as ``0`` when the text does not parse
    with it.  None when it does not parse either way."""
    for candidate in (text, _STANDALONE_MARK.sub("0", text)):
        try:
            return candidate, list(json.loads(parse_sql_json(candidate)).get("stmts") or ())
        except ParseError:
            continue
    return None


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
