"""What queries and data statements read and write: relations and columns they require.

Pure.  Walks SELECT / INSERT / UPDATE / DELETE parse trees (pglast JSON) with
a scope per query level: FROM items (tables, joins, subqueries, functions)
under their aliases, CTE names (which are not relations).  A column reference
qualified by an alias of a table becomes a column requirement; an unqualified
one only when exactly one table is in scope (otherwise only the relations are
required, since which table owns the column is not known without a catalog).
"""

from __future__ import annotations

from typing import Any

from alembic_guard.model import ObjRef, QName
from alembic_guard.sql.effects_common import (
    SYSTEM_SCHEMAS,
    Ctx,
    Node,
    const_str,
    split_qualified,
    strings,
    sval,
)

_SEQUENCE_FUNCTIONS = frozenset({"nextval", "currval", "setval"})


class Scope:
    __slots__ = ("ctes", "items", "outputs", "parent")

    def __init__(self, parent: Scope | None = None):
        self.parent = parent
        # alias → relation, or None for a subquery / function / CTE / catalog relation
        self.items: dict[str, QName | None] = {}
        self.ctes: set[str] = set()
        self.outputs: set[str] = set()

    def is_cte(self, name: str) -> bool:
        s: Scope | None = self
        while s is not None:
            if name in s.ctes:
                return True
            s = s.parent
        return False

    def lookup(self, alias: str) -> tuple[bool, QName | None]:
        s: Scope | None = self
        while s is not None:
            if alias in s.items:
                return True, s.items[alias]
            s = s.parent
        return False, None


def _column_ref(ctx: Ctx, ref: Node, scope: Scope, allow_outputs: bool = False) -> None:
    fields = ref.get("fields") or ()
    if not fields or "A_Star" in fields[-1]:
        return
    names = [sval(f) for f in fields]
    loc = ref.get("location", -1)
    if len(names) == 1:
        col = names[0]
        if col in ctx.ignore_names or (allow_outputs and col in scope.outputs):
            return
        if len(scope.items) == 1:
            (rel,) = scope.items.values()
            if rel is not None:
                ctx.require(ObjRef.column(rel[0], rel[1], col), loc)
        return
    if len(names) == 2:
        found, rel = scope.lookup(names[0])
        if found and rel is not None:
            ctx.require(ObjRef.column(rel[0], rel[1], names[1]), loc)
        return
    if len(names) == 3:
        ctx.require(ObjRef.column(names[0], names[1], names[2]), loc)


# Nodes that can hold nothing a statement requires: skipped without a look inside.
_LEAVES = frozenset(
    {
        "A_Const",
        "String",
        "Integer",
        "Float",
        "Boolean",
        "ParamRef",
        "SQLValueFunction",
        "A_Star",
        "SetToDefault",
    }
)


def walk(ctx: Ctx, node: Any, scope: Scope, allow_outputs: bool = False) -> None:
    """Walk an expression (or any sub-tree) for column references, subqueries and casts.

    Hot path (every VALUES row of a data migration passes here): plain type
    checks; a one-key node (``{"FuncCall": {...}}``, the shape of almost every
    node) is handled where it is met instead of through one more call, and
    leaves (``{"A_Const": ...}``, ``{"String": ...}``) are pruned unopened.
    """
    if type(node) is list:
        for x in node:
            tx = type(x)
            if tx is dict:
                if len(x) == 1:
                    for k, v in x.items():
                        if k not in _LEAVES:
                            if type(v) is dict:
                                _visit(ctx, k, v, scope, allow_outputs)
                            elif type(v) is list:
                                walk(ctx, v, scope, allow_outputs)
                else:
                    walk(ctx, x, scope, allow_outputs)
            elif tx is list:
                walk(ctx, x, scope, allow_outputs)
        return
    if type(node) is not dict:
        return
    for k, v in node.items():
        tv = type(v)
        if tv is dict:
            if k not in _LEAVES:
                _visit(ctx, k, v, scope, allow_outputs)
        elif tv is list and k not in _LEAVES:
            walk(ctx, v, scope, allow_outputs)


def _visit(ctx: Ctx, k: str, v: Node, scope: Scope, allow_outputs: bool) -> None:
    """One ``k: v`` entry of a tree whose value is a dict (a node, or a field holding one)."""
    if k == "ColumnRef":
        _column_ref(ctx, v, scope, allow_outputs)
    elif k == "FuncCall":
        _func_call(ctx, v)
        for key in ("args", "agg_order", "agg_filter", "over"):
            if key in v:
                walk(ctx, v[key], scope, allow_outputs)
    elif k == "TypeCast":
        walk(ctx, v.get("arg"), scope, allow_outputs)
        tn = v.get("typeName")
        if tn:
            ctx.type_of(tn)
    elif k == "SelectStmt":
        read_select(ctx, v, scope)
    elif k in _DML:
        read_dml(ctx, k, v, scope)
    elif len(v) == 1:
        # a field holding one node ({"lexpr": {"ColumnRef": ...}}): visit the node directly
        for kk, vv in v.items():
            if kk not in _LEAVES:
                if type(vv) is dict:
                    _visit(ctx, kk, vv, scope, allow_outputs)
                elif type(vv) is list:
                    walk(ctx, vv, scope, allow_outputs)
    else:
        walk(ctx, v, scope, allow_outputs)


_DML = frozenset({"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"})


def _func_call(ctx: Ctx, v: Node) -> None:
    names = strings(v.get("funcname"))
    if len(names) == 2 and names[0] not in SYSTEM_SCHEMAS:
        ctx.require(ObjRef("function", names[0], names[1]), v.get("location", -1))
    elif names and names[-1] in _SEQUENCE_FUNCTIONS and v.get("args"):
        # nextval('seq') names its sequence in a string: the sequence must exist
        lit = const_str(v["args"][0])
        if lit is not None:
            seq = ctx.qualified(split_qualified(lit))
            ctx.require(ObjRef("sequence", *seq), v.get("location", -1))


def _from_item(ctx: Ctx, item: Node, scope: Scope) -> None:
    if "RangeVar" in item:
        rv = item["RangeVar"]
        name = rv.get("relname", "")
        alias = (rv.get("alias") or {}).get("aliasname") or name
        if rv.get("schemaname") is None and scope.is_cte(name):
            scope.items[alias] = None
            return
        q = ctx.rangevar(rv)
        if q[0] in SYSTEM_SCHEMAS:
            scope.items[alias] = None
            return
        ctx.require(ObjRef.relation(*q), rv.get("location", -1))
        scope.items[alias] = q
    elif "JoinExpr" in item:
        j = item["JoinExpr"]
        _from_item(ctx, j["larg"], scope)
        _from_item(ctx, j["rarg"], scope)
        if "quals" in j:
            walk(ctx, j["quals"], scope)
        alias = (j.get("alias") or {}).get("aliasname")
        if alias:
            scope.items[alias] = None
    elif "RangeSubselect" in item:
        r = item["RangeSubselect"]
        # LATERAL subqueries see the items before them; others see only outer levels
        sub = r.get("subquery", {})
        walk(ctx, sub, scope if r.get("lateral") else (scope.parent or Scope()))
        alias = (r.get("alias") or {}).get("aliasname")
        if alias:
            scope.items[alias] = None
    elif "RangeFunction" in item:
        r = item["RangeFunction"]
        walk(ctx, r.get("functions"), scope)
        alias = (r.get("alias") or {}).get("aliasname")
        if alias:
            scope.items[alias] = None
    else:
        walk(ctx, item, scope)


def _with(ctx: Ctx, w: Node | None, scope: Scope) -> None:
    if not w:
        return
    ctes = w.get("WithClause", w).get("ctes") or ()
    for c in ctes:
        cte = c.get("CommonTableExpr", {})
        scope.ctes.add(cte.get("ctename", ""))
    for c in ctes:
        walk(ctx, c.get("CommonTableExpr", {}).get("ctequery"), Scope(scope))


def read_select(ctx: Ctx, s: Node, parent: Scope | None) -> None:
    """Require what one SELECT (inner dict of ``SelectStmt``) reads."""
    scope = Scope(parent)
    _with(ctx, s.get("withClause"), scope)
    if s.get("op", "SETOP_NONE") != "SETOP_NONE":
        for side in ("larg", "rarg"):
            if side in s:
                read_select(ctx, s[side], scope)
        walk(ctx, s.get("sortClause"), scope, allow_outputs=True)
        return
    if "intoClause" in s:
        ctx.opaque_part("SELECT INTO creates a table whose columns come from the query")
    for item in s.get("fromClause") or ():
        _from_item(ctx, item, scope)
    for t in s.get("targetList") or ():
        rt = t.get("ResTarget", {})
        if rt.get("name"):
            scope.outputs.add(rt["name"])
        walk(ctx, rt.get("val"), scope)
    for key in ("whereClause", "havingClause", "valuesLists", "limitCount", "limitOffset", "windowClause"):
        if key in s:
            walk(ctx, s[key], scope)
    for key in ("groupClause", "sortClause", "distinctClause"):
        if key in s:
            walk(ctx, s[key], scope, allow_outputs=True)


def _target(ctx: Ctx, d: Node, scope: Scope) -> QName | None:
    rv = d.get("relation") or {}
    q = ctx.rangevar(rv)
    if q[0] in SYSTEM_SCHEMAS:
        scope.items[(rv.get("alias") or {}).get("aliasname") or q[1]] = None
        return None
    ctx.require(ObjRef.relation(*q), rv.get("location", -1))
    scope.items[(rv.get("alias") or {}).get("aliasname") or q[1]] = q
    return q


def _set_targets(ctx: Ctx, q: QName | None, targets: list[Any] | None, scope: Scope) -> None:
    for t in targets or ():
        rt = t.get("ResTarget", {})
        name = rt.get("name")
        if q is not None and name:
            ctx.require(ObjRef.column(q[0], q[1], name), rt.get("location", -1))
        walk(ctx, rt.get("val"), scope)
        walk(ctx, rt.get("indirection"), scope)


def read_dml(ctx: Ctx, kind: str, d: Node, parent: Scope | None = None) -> None:
    """Require the table and columns an INSERT / UPDATE / DELETE touches."""
    scope = Scope(parent)
    _with(ctx, d.get("withClause"), scope)
    if kind == "InsertStmt":
        q = _target(ctx, d, Scope())  # the target is not in scope of the source query
        if q is not None:
            for c in d.get("cols") or ():
                rt = c.get("ResTarget", {})
                ctx.require(ObjRef.column(q[0], q[1], rt.get("name", "")), rt.get("location", -1))
        if "selectStmt" in d:
            walk(ctx, d["selectStmt"], scope)
        occ = d.get("onConflictClause")
        tscope = Scope(parent)
        if q is not None:
            tscope.items[q[1]] = q
            tscope.items["excluded"] = q
        if occ:
            occ = occ.get("OnConflictClause", occ)
            infer = (occ.get("infer") or {}).get("InferClause", occ.get("infer") or {})
            for e in infer.get("indexElems") or ():
                ie = e.get("IndexElem", {})
                if ie.get("name") and q is not None:
                    ctx.require(ObjRef.column(q[0], q[1], ie["name"]))
                walk(ctx, ie.get("expr"), tscope)
            walk(ctx, infer.get("whereClause"), tscope)
            _set_targets(ctx, q, occ.get("targetList"), tscope)
            walk(ctx, occ.get("whereClause"), tscope)
        walk(ctx, d.get("returningList") or d.get("returningClause"), tscope)
        return
    q = _target(ctx, d, scope)
    if kind == "MergeStmt":
        _from_item(ctx, d.get("sourceRelation") or {}, scope)
        walk(ctx, d.get("joinCondition"), scope)
        for w in d.get("mergeWhenClauses") or ():
            mw = w.get("MergeWhenClause", {})
            walk(ctx, mw.get("condition"), scope)
            _set_targets(ctx, q, mw.get("targetList"), scope)
            walk(ctx, mw.get("values"), scope)
        return
    for item in d.get("fromClause") or d.get("usingClause") or ():
        _from_item(ctx, item, scope)
    if kind == "UpdateStmt":
        _set_targets(ctx, q, d.get("targetList"), scope)
    walk(ctx, d.get("whereClause"), scope)
    walk(ctx, d.get("returningList") or d.get("returningClause"), scope)
