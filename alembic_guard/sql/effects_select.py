"""What queries and data statements read and write: relations and columns they require, and
the columns (with types) a query produces.

Pure.  Walks SELECT / INSERT / UPDATE / DELETE parse trees (pglast JSON) with
a scope per query level: FROM items (tables, joins, subqueries, functions)
under their aliases, each with its columns when they are known (from
:class:`~alembic_guard.sql.effects_known.Known`: what the statements before
made), and CTE names (which are not relations, and hide a table of that name
only inside their query).  A column reference qualified by an alias of a
table becomes a column requirement; an unqualified one belongs to the
innermost query level with an item that has it, and when the items' columns
are not known, to the query's single table (with several tables only the
relations are required).  With ``want``, :func:`read_select` also returns the
query's :class:`Output`: PostgreSQL's names for its columns, ``*`` expanded,
and their types where they are plain to see.
"""

from __future__ import annotations

import re
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
from alembic_guard.sql.effects_known import ColumnTypes

_SEQUENCE_FUNCTIONS = frozenset({"nextval", "currval", "setval"})


Item = tuple[QName | None, ColumnTypes | None]
"""A FROM item under its alias: (the relation to require, or ``None`` for a subquery / function /
CTE / catalog relation; its columns when all are known, else ``None``)."""


class Output:
    """The columns a query produces, in order (a name may repeat: ``SELECT NULL::int, NULL::int``)
    with types where known, and whether the list is complete (``SELECT *`` over a relation the
    analysis does not know makes it partial)."""

    __slots__ = ("complete", "names", "types")

    def __init__(self, columns: ColumnTypes | None = None, complete: bool = True):
        self.names: list[str] = list(columns or ())
        self.types: list[str | None] = list((columns or {}).values())
        self.complete = complete

    def add(self, name: str, typ: str | None) -> None:
        self.names.append(name)
        self.types.append(typ)

    @property
    def columns(self) -> ColumnTypes:
        """Name → type; a repeated name keeps its first place (a relation cannot have it twice)."""
        cols: ColumnTypes = {}
        for n, t in zip(self.names, self.types, strict=True):
            cols.setdefault(n, t)
        return cols

    def known(self) -> ColumnTypes | None:
        """The columns when all are known (a subquery's, a CTE's), literal types resolved."""
        return self.final().columns if self.complete else None

    def final(self) -> Output:
        """A query's output as a relation has it: an untyped literal (``'x'``, ``NULL``) is text."""
        out = Output(complete=self.complete)
        out.names = list(self.names)
        out.types = ["text" if t == UNKNOWN else t for t in self.types]
        return out

    def renamed(self, names: list[str]) -> Output:
        """``AS x(a, b)`` / ``CREATE VIEW v (a, b)``: the first columns take the given names."""
        out = Output(complete=self.complete)
        out.names = names[: len(self.names)] + self.names[len(names) :]
        out.types = list(self.types)
        for n in names[len(self.names) :]:
            out.add(n, None)  # more names than the query has columns is PostgreSQL's error
        return out

    def merge(self, other: Output) -> None:
        """A UNION's column types: one type when both branches agree (an untyped literal takes the
        other branch's type), else unknown; names stay the first branch's."""
        for i, mine in enumerate(self.types):
            theirs = other.types[i] if i < len(other.types) else None
            if mine == UNKNOWN:
                self.types[i] = _no_typmod(theirs)
            elif theirs == UNKNOWN:
                self.types[i] = _no_typmod(mine)
            else:
                self.types[i] = _unify(mine, theirs)
        self.complete = self.complete and other.complete


class Scope:
    __slots__ = ("ctes", "from_cols", "items", "outputs", "parent")

    def __init__(self, parent: Scope | None = None):
        self.parent = parent
        self.items: dict[str, Item] = {}
        # CTE name → its columns (None when not all known); CTE names are not relations
        self.ctes: dict[str, ColumnTypes | None] = {}
        self.outputs: set[str] = set()
        # the columns of each top-level FROM item, in order: what ``*`` expands to
        self.from_cols: list[ColumnTypes | None] = []

    def cte(self, name: str) -> tuple[bool, ColumnTypes | None]:
        s: Scope | None = self
        while s is not None:
            if name in s.ctes:
                return True, s.ctes[name]
            s = s.parent
        return False, None

    def lookup(self, alias: str) -> tuple[bool, Item]:
        s: Scope | None = self
        while s is not None:
            if alias in s.items:
                return True, s.items[alias]
            s = s.parent
        return False, (None, None)


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
        _unqualified(ctx, col, scope, loc)
        return
    if len(names) == 2:
        found, (rel, _) = scope.lookup(names[0])
        if found and rel is not None:
            ctx.require(ObjRef.column(rel[0], rel[1], names[1]), loc)
        return
    if len(names) == 3:
        ctx.require(ObjRef.column(names[0], names[1], names[2]), loc)


def _unqualified(ctx: Ctx, col: str, scope: Scope, loc: int) -> None:
    """An unqualified column belongs to the innermost query level with an item that has it
    (a subquery may name its outer query's columns); a name no item has but an alias is
    a whole-row reference (``SELECT h FROM c h``)."""
    s: Scope | None = scope
    while s is not None:
        items = s.items
        if items:
            owner: QName | None = None
            hits = 0
            unknown = False
            for rel, cols in items.values():
                if cols is None:
                    unknown = True
                elif col in cols:
                    hits += 1
                    owner = rel
            if hits:
                if hits == 1 and owner is not None:
                    ctx.require(ObjRef.column(owner[0], owner[1], col), loc)
                return
            if unknown:
                # an item whose columns are not known may have it: only the innermost lone item is
                # taken to own it (what a single statement can tell), unless the name is an alias
                if s is scope and len(items) == 1 and not scope.lookup(col)[0]:
                    ((rel, _),) = items.values()
                    if rel is not None:
                        ctx.require(ObjRef.column(rel[0], rel[1], col), loc)
                return
        s = s.parent
    if scope.lookup(col)[0]:
        return  # a whole-row reference through an alias
    if len(scope.items) == 1:
        # no relation in reach has it: the lone table of the query should (a truly missing column)
        ((rel, _),) = scope.items.values()
        if rel is not None:
            ctx.require(ObjRef.column(rel[0], rel[1], col), loc)


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


def _from_item(ctx: Ctx, item: Node, scope: Scope) -> ColumnTypes | None:
    """Put one FROM item in scope, requiring what it reads; its columns when all are known."""
    if "RangeVar" in item:
        rv = item["RangeVar"]
        name = rv.get("relname", "")
        alias_node = rv.get("alias") or {}
        alias = alias_node.get("aliasname") or name
        if rv.get("schemaname") is None:
            is_cte, cte_cols = scope.cte(name)
            if is_cte:
                cols = _renamed(cte_cols, alias_node)
                scope.items[alias] = (None, cols)
                return cols
        q = ctx.rangevar(rv)
        if q[0] in SYSTEM_SCHEMAS:
            scope.items[alias] = (None, None)
            return None
        known = ctx.known
        if q in known.sequences:
            ctx.require(ObjRef("sequence", *q), rv.get("location", -1))
        else:
            ctx.require(ObjRef.relation(*q), rv.get("location", -1))
        cols = _renamed(known.relation_columns(q), alias_node)
        scope.items[alias] = (q, cols)
        return cols
    if "JoinExpr" in item:
        j = item["JoinExpr"]
        left = _from_item(ctx, j["larg"], scope)
        right = _from_item(ctx, j["rarg"], scope)
        if "quals" in j:
            walk(ctx, j["quals"], scope)
        cols = _joined(left, right, strings(j.get("usingClause")), bool(j.get("isNatural")))
        alias_node = j.get("alias") or {}
        if alias_node.get("aliasname"):
            cols = _renamed(cols, alias_node)
            scope.items[alias_node["aliasname"]] = (None, cols)
        return cols
    if "RangeSubselect" in item:
        r = item["RangeSubselect"]
        # LATERAL subqueries see the items before them; others see only outer levels
        sub = (r.get("subquery") or {}).get("SelectStmt")
        outer = scope if r.get("lateral") else (scope.parent or Scope())
        cols = None
        if sub is not None:
            out = read_select(ctx, sub, outer, want=True)
            cols = _renamed(out.known() if out is not None else None, r.get("alias") or {})
        else:
            walk(ctx, r.get("subquery"), outer)
        # PostgreSQL 16 lets a subquery go without an alias: its columns are still in scope
        alias = (r.get("alias") or {}).get("aliasname") or f"?subquery{len(scope.items)}"
        scope.items[alias] = (None, cols)
        return cols
    if "RangeFunction" in item:
        r = item["RangeFunction"]
        walk(ctx, r.get("functions"), scope)
        alias_node = r.get("alias") or {}
        cols = None
        if r.get("coldeflist"):
            cols = {}
            for c in r["coldeflist"]:
                cd = c.get("ColumnDef", {})
                cols[cd.get("colname", "")] = ctx.type_of(cd.get("typeName") or {})
        elif alias_node.get("colnames"):
            cols = dict.fromkeys(strings(alias_node["colnames"]))
        if alias_node.get("aliasname"):
            scope.items[alias_node["aliasname"]] = (None, cols)
        return cols
    walk(ctx, item, scope)
    return None


def _renamed(cols: ColumnTypes | None, alias: Node) -> ColumnTypes | None:
    """``FROM t AS x(a, b)``: the first columns take the alias's names."""
    names = strings(alias.get("colnames"))
    if cols is None or not names:
        return cols
    return Output(cols).renamed(names).columns


def _joined(
    left: ColumnTypes | None, right: ColumnTypes | None, using: list[str], natural: bool
) -> ColumnTypes | None:
    """Columns of ``a JOIN b``: the USING (or NATURAL) columns once, first; then the others."""
    if left is None or right is None:
        return None
    if natural:
        using = [c for c in left if c in right]
    cols: ColumnTypes = {c: left.get(c) for c in using}
    for part in (left, right):
        for k, v in part.items():
            cols.setdefault(k, v)
    return cols


def _with(ctx: Ctx, w: Node | None, scope: Scope) -> None:
    if not w:
        return
    w = w.get("WithClause", w)
    ctes = [c.get("CommonTableExpr", {}) for c in w.get("ctes") or ()]
    for cte in ctes:
        # a recursive CTE reads itself: known only by its column list until its query is read
        names = strings(cte.get("aliascolnames"))
        scope.ctes[cte.get("ctename", "")] = dict.fromkeys(names) if names else None
    for cte in ctes:
        out = _query_output(ctx, cte.get("ctequery") or {}, scope)
        names = strings(cte.get("aliascolnames"))
        if out is not None:
            scope.ctes[cte.get("ctename", "")] = out.renamed(names).known()


def _query_output(ctx: Ctx, q: Node, parent: Scope) -> Output | None:
    """Read a CTE's query (SELECT, or INSERT / UPDATE / DELETE ... RETURNING); its output."""
    if "SelectStmt" in q:
        return read_select(ctx, q["SelectStmt"], parent, want=True)
    for kind in _DML:
        if kind in q:
            return read_dml(ctx, kind, q[kind], parent, want=True)
    walk(ctx, q, Scope(parent))
    return None


def read_select(ctx: Ctx, s: Node, parent: Scope | None, want: bool = False) -> Output | None:
    """Require what one SELECT (inner dict of ``SelectStmt``) reads; with ``want``, its output columns."""
    scope = Scope(parent)
    _with(ctx, s.get("withClause"), scope)
    if s.get("op", "SETOP_NONE") != "SETOP_NONE":
        outs = [read_select(ctx, s[side], scope, want) for side in ("larg", "rarg") if side in s]
        walk(ctx, s.get("sortClause"), scope, allow_outputs=True)
        if not want or not outs or outs[0] is None:
            return None
        # a UNION takes its column names from its first branch
        first = outs[0]
        if len(outs) > 1 and outs[1] is not None:
            first.merge(outs[1])
        return first
    for item in s.get("fromClause") or ():
        scope.from_cols.append(_from_item(ctx, item, scope))
    out = Output() if want else None
    for t in s.get("targetList") or ():
        rt = t.get("ResTarget", {})
        if rt.get("name"):
            scope.outputs.add(rt["name"])
        val = rt.get("val")
        walk(ctx, val, scope)
        if out is not None:
            _add_output(ctx, out, rt, scope)
    for key in ("whereClause", "havingClause", "valuesLists", "limitCount", "limitOffset", "windowClause"):
        if key in s:
            walk(ctx, s[key], scope)
    for key in ("groupClause", "sortClause", "distinctClause"):
        if key in s:
            walk(ctx, s[key], scope, allow_outputs=True)
    if out is not None and "valuesLists" in s:
        rows = s["valuesLists"]
        row: list[Any] = ((rows[0].get("List") or {}).get("items") or []) if rows else []
        for i, v in enumerate(row):
            out.add(f"column{i + 1}", _expr_type(ctx, v, scope))
    return out


def _add_output(ctx: Ctx, out: Output, rt: Node, scope: Scope) -> None:
    """One target of a SELECT list (or RETURNING list) as output columns; ``*`` expands."""
    val = rt.get("val") or {}
    ref = val.get("ColumnRef")
    if ref is not None and not rt.get("name"):
        fields = ref.get("fields") or ()
        if fields and "A_Star" in fields[-1]:
            if len(fields) == 1:
                parts = scope.from_cols
            else:
                parts = [scope.lookup(sval(fields[-2]))[1][1]]
            for cols in parts:
                if cols is None:
                    out.complete = False
                else:
                    for k, v in cols.items():
                        out.add(k, v)
            return
    name = rt.get("name") or figure_name(val)[0]
    out.add(name, _expr_type(ctx, val, scope))


# FigureColname() of PostgreSQL's parser: the name of an unnamed output column.
_NAMED_NODES = {
    "A_ArrayExpr": "array",
    "RowExpr": "row",
    "CoalesceExpr": "coalesce",
    "GroupingFunc": "grouping",
    "XmlSerialize": "xmlserialize",
}
_SUBLINK_NAMES = {"EXISTS_SUBLINK": "exists", "ARRAY_SUBLINK": "array"}


def figure_name(val: Node) -> tuple[str, int]:
    """(name, strength) PostgreSQL gives an unnamed select-list expression: 2 for a name taken
    from a column or function, 1 for a fallback (a type name, ``case``), 0 for ``?column?``."""
    if not val:
        return "?column?", 0
    kind, v = next(iter(val.items()))
    if kind == "ColumnRef":
        fields = v.get("fields") or ()
        if fields and "String" in fields[-1]:
            return sval(fields[-1]), 2
    elif kind == "A_Indirection":
        for ind in reversed(v.get("indirection") or ()):
            if "String" in ind:
                return sval(ind), 2
        return figure_name(v.get("arg") or {})
    elif kind == "FuncCall":
        names = strings(v.get("funcname"))
        if names:
            return names[-1], 2
    elif kind == "A_Expr":
        if v.get("kind") == "AEXPR_NULLIF":
            return "nullif", 2
    elif kind == "TypeCast":
        name, strength = figure_name(v.get("arg") or {})
        if strength <= 1:
            names = strings((v.get("typeName") or {}).get("names"))
            if names:
                return names[-1], 1
        return name, strength
    elif kind == "CollateClause":
        return figure_name(v.get("arg") or {})
    elif kind == "SubLink":
        link = v.get("subLinkType")
        if link in _SUBLINK_NAMES:
            return _SUBLINK_NAMES[link], 2
        if link in ("EXPR_SUBLINK", "MULTIEXPR_SUBLINK"):
            targets = (v.get("subselect") or {}).get("SelectStmt", {}).get("targetList") or ()
            if targets:
                rt = targets[0].get("ResTarget", {})
                if rt.get("name"):
                    return rt["name"], 2
                return figure_name(rt.get("val") or {})
    elif kind == "CaseExpr":
        name, strength = figure_name(v.get("defresult") or {})
        if strength <= 1:
            return "case", 1
        return name, strength
    elif kind == "MinMaxExpr":
        return ("greatest" if v.get("op") == "IS_GREATEST" else "least"), 2
    elif kind == "SQLValueFunction":
        op = v.get("op", "")
        return op.removeprefix("SVFOP_").removesuffix("_N").lower(), 2
    elif kind in _NAMED_NODES:
        return _NAMED_NODES[kind], 2
    return "?column?", 0


# the type of an untyped literal ('x', NULL): resolved by a UNION's other branch, else text
UNKNOWN = "unknown"
_CONST_TYPES = {"ival": "integer", "fval": "numeric", "sval": UNKNOWN, "boolval": "boolean", "bsval": "bit"}
_FUNCTION_TYPES = {
    "count": "bigint",
    "now": "timestamp with time zone",
    "gen_random_uuid": "uuid",
    "row_number": "bigint",
    "rank": "bigint",
    "dense_rank": "bigint",
}
_SVF_TYPES = {
    "SVFOP_CURRENT_DATE": "date",
    "SVFOP_CURRENT_TIMESTAMP": "timestamp with time zone",
    "SVFOP_LOCALTIMESTAMP": "timestamp without time zone",
}


def _expr_type(ctx: Ctx, val: Any, scope: Scope) -> str | None:
    """The type of an output expression where it is plain to see (a column, a cast, a literal)."""
    if not isinstance(val, dict) or not val:
        return None
    kind, v = next(iter(val.items()))
    if kind == "ColumnRef":
        fields: list[Any] = v.get("fields") or []
        if len(fields) == 2 and "String" in fields[1]:
            cols = scope.lookup(sval(fields[0]))[1][1]
            return cols.get(sval(fields[1])) if cols is not None else None
        if len(fields) == 1 and "String" in fields[0]:
            col = sval(fields[0])
            s: Scope | None = scope
            while s is not None:
                for _, cols in s.items.values():
                    if cols is not None and col in cols:
                        return cols[col]
                s = s.parent
        return None
    if kind == "TypeCast":
        return ctx.type_of(v.get("typeName") or {}, location_required=False)
    if kind == "A_Const":
        if v.get("isnull"):
            return UNKNOWN
        if "fval" in v:
            # an integer too big for integer is a bigint (then numeric); 1.5 and 1e3 are numeric
            text = str((v["fval"] or {}).get("fval", ""))
            if text.lstrip("-").isdigit():
                return "bigint" if -(2**63) <= int(text) < 2**63 else "numeric"
            return "numeric"
        for k, t in _CONST_TYPES.items():
            if k in v:
                return t
        return None
    if kind == "FuncCall":
        names = strings(v.get("funcname"))
        if not names or len(names) > 2 or (len(names) == 2 and names[0] != "pg_catalog"):
            return None
        if names[-1] in ("max", "min") and len(v.get("args") or ()) == 1 and not v.get("over"):
            return _expr_type(ctx, v["args"][0], scope)
        return _FUNCTION_TYPES.get(names[-1])
    if kind == "SQLValueFunction":
        return _SVF_TYPES.get(v.get("op", ""))
    if kind in _BOOLEAN_NODES or (kind == "A_Expr" and _is_predicate(v)):
        return "boolean"
    if kind == "SubLink":
        link = v.get("subLinkType")
        if link in ("EXISTS_SUBLINK", "ANY_SUBLINK", "ALL_SUBLINK"):
            return "boolean"
        if link == "EXPR_SUBLINK":
            # (SELECT count(*) FROM ...): what its one column is, when plain without its FROM items
            targets: list[Any] = (v.get("subselect") or {}).get("SelectStmt", {}).get("targetList") or []
            if len(targets) == 1:
                sub = _expr_type(ctx, targets[0].get("ResTarget", {}).get("val"), Scope())
                return "text" if sub == UNKNOWN else sub
        return None
    if kind in ("CoalesceExpr", "MinMaxExpr"):
        return _common_type(ctx, v.get("args") or (), scope)
    if kind == "CaseExpr":
        results = [(w.get("CaseWhen") or {}).get("result") for w in v.get("args") or ()]
        return _common_type(ctx, [*results, v.get("defresult")], scope)
    return None


_BOOLEAN_NODES = frozenset({"BoolExpr", "NullTest", "BooleanTest"})
_COMPARISONS = frozenset(
    ["=", "<>", "!=", "<", ">", "<=", ">=", "~~", "!~~", "~~*", "!~~*", "~", "~*", "!~", "!~*"]
)
_PREDICATE_KINDS = frozenset(
    {
        "AEXPR_DISTINCT",
        "AEXPR_NOT_DISTINCT",
        "AEXPR_IN",
        "AEXPR_LIKE",
        "AEXPR_ILIKE",
        "AEXPR_SIMILAR",
        "AEXPR_BETWEEN",
        "AEXPR_NOT_BETWEEN",
        "AEXPR_BETWEEN_SYM",
        "AEXPR_NOT_BETWEEN_SYM",
    }
)


def _is_predicate(v: Node) -> bool:
    """A comparison, IN, LIKE, BETWEEN ...: a boolean whatever it compares."""
    k = v.get("kind")
    if k in _PREDICATE_KINDS:
        return True
    if k == "AEXPR_OP":
        name = strings(v.get("name"))
        return bool(name) and name[-1] in _COMPARISONS
    return False


def _common_type(ctx: Ctx, exprs: Any, scope: Scope) -> str | None:
    """The type of COALESCE / CASE / GREATEST over ``exprs``: one type when every non-NULL one has
    it, else unknown (PostgreSQL's type resolution is not redone here)."""
    found: str | None = None
    untyped = False
    for e in exprs:
        if not e:
            continue
        t = _expr_type(ctx, e, scope)
        if t == UNKNOWN:
            untyped = True  # resolved by the others (all untyped: text in the end)
            continue
        if t is None:
            return None
        found = t if found is None else _unify(found, t)
        if found is None:
            return None
    if found is None:
        return UNKNOWN
    return _no_typmod(found) if untyped else found


# Numeric types in the order PostgreSQL casts them implicitly (integer -> bigint -> numeric ...):
# COALESCE(bigint, 0) and a UNION of integer and bigint are bigint.
_NUMERIC_RANK = {"smallint": 1, "integer": 2, "bigint": 3, "numeric": 4, "real": 5, "double precision": 6}


def _unify(a: str | None, b: str | None) -> str | None:
    """The type PostgreSQL resolves two known types to, where that is plain (else ``None``)."""
    if a is None or b is None:
        return None
    if a == b:
        return a
    ra, rb = _NUMERIC_RANK.get(_no_typmod(a) or ""), _NUMERIC_RANK.get(_no_typmod(b) or "")
    if ra is None or rb is None:
        return None
    return _no_typmod(a if ra >= rb else b)


_TYPMOD = re.compile(r"\(\d+(?:,\d+)?\)")


def _no_typmod(t: str | None) -> str | None:
    """The common type of ``varchar(20)`` and an untyped literal is ``varchar``: PostgreSQL keeps a
    length or precision only when every input has the same one."""
    return _TYPMOD.sub("", t) if t is not None and t != UNKNOWN else t


def _target(ctx: Ctx, d: Node, scope: Scope) -> QName | None:
    """The table a data statement writes, in scope under its alias (what ``RETURNING *`` lists)."""
    rv = d.get("relation") or {}
    q = ctx.rangevar(rv)
    alias = (rv.get("alias") or {}).get("aliasname") or q[1]
    if q[0] in SYSTEM_SCHEMAS:
        scope.items[alias] = (None, None)
        scope.from_cols.append(None)
        return None
    ctx.require(ObjRef.relation(*q), rv.get("location", -1))
    cols = ctx.known.relation_columns(q)
    scope.items[alias] = (q, cols)
    scope.from_cols.append(cols)
    return q


def _set_targets(ctx: Ctx, q: QName | None, targets: list[Any] | None, scope: Scope) -> None:
    for t in targets or ():
        rt = t.get("ResTarget", {})
        name = rt.get("name")
        if q is not None and name:
            ctx.require(ObjRef.column(q[0], q[1], name), rt.get("location", -1))
        walk(ctx, rt.get("val"), scope)
        walk(ctx, rt.get("indirection"), scope)


def _returning(ctx: Ctx, d: Node, scope: Scope, want: bool) -> Output | None:
    ret = d.get("returningList") or d.get("returningClause")
    walk(ctx, ret, scope)
    if not want:
        return None
    out = Output()
    targets = ret.get("exprs") if isinstance(ret, dict) else ret
    for t in targets or ():
        _add_output(ctx, out, t.get("ResTarget", {}), scope)
    return out


def read_dml(ctx: Ctx, kind: str, d: Node, parent: Scope | None = None, want: bool = False) -> Output | None:
    """Require the table and columns an INSERT / UPDATE / DELETE touches; with ``want``, what its
    RETURNING list produces (a data-modifying CTE's columns)."""
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
            cols = ctx.known.relation_columns(q)
            tscope.items[q[1]] = (q, cols)
            tscope.items["excluded"] = (q, cols)
            tscope.from_cols.append(cols)
            alias = ((d.get("relation") or {}).get("alias") or {}).get("aliasname")
            if alias:
                tscope.items[alias] = (q, cols)
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
        return _returning(ctx, d, tscope, want)
    q = _target(ctx, d, scope)
    if kind == "MergeStmt":
        _from_item(ctx, d.get("sourceRelation") or {}, scope)
        walk(ctx, d.get("joinCondition"), scope)
        for w in d.get("mergeWhenClauses") or ():
            mw = w.get("MergeWhenClause", {})
            walk(ctx, mw.get("condition"), scope)
            _set_targets(ctx, q, mw.get("targetList"), scope)
            walk(ctx, mw.get("values"), scope)
        return _returning(ctx, d, scope, want)
    for item in d.get("fromClause") or d.get("usingClause") or ():
        scope.from_cols.append(_from_item(ctx, item, scope))
    if kind == "UpdateStmt":
        _set_targets(ctx, q, d.get("targetList"), scope)
    walk(ctx, d.get("whereClause"), scope)
    return _returning(ctx, d, scope, want)
