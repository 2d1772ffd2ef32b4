"""Statement effects: what each SQL statement creates, ensures, requires, drops and alters.

Pure: works on the parse trees :mod:`alembic_guard.sql.parse` produced
(pglast's JSON dicts, walked with plain dict access because the whole
pipeline has to reach 10 MB/s) and on the source text, from which the text
of CHECK / DEFAULT / index expressions is sliced by byte position.

- :func:`analyze` gives one statement's :class:`Effect` under a search path;
- :func:`analyze_all` analyses statements in order, following
  ``SET [LOCAL] search_path`` and ``set_config('search_path', ...)`` (reset
  at each new file).

Unqualified names are created in, and required from, the first schema of the
search path: without a catalog there is no way to know which schema of the
path would resolve a name, and migrations nearly always use one schema.
Anything not understood gives ``Effect(opaque=<why>)`` together with the
facts that are certain; nothing is silently dropped.  See ``docs/analysis.md``.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

import pglast
from pglast.parser import ParseError, parse_sql_json

from alembic_guard import changes as ch
from alembic_guard.model import (
    SERIAL_TYPES,
    Column,
    CompositeType,
    Constraint,
    EnumType,
    Extension,
    Function,
    Index,
    ObjRef,
    QName,
    Sequence,
    Table,
    Trigger,
    View,
)
from alembic_guard.sql.effects_common import (
    SYSTEM_SCHEMAS,
    Ctx,
    Node,
    Source,
    const_str,
    min_location,
    strings,
    sval,
)
from alembic_guard.sql.effects_select import Scope, read_dml, read_select, walk
from alembic_guard.sql.statement import AnalyzedStatement, Effect, SourceFile, Statement

__all__ = ["analyze", "analyze_all"]

DEFAULT_SEARCH_PATH: tuple[str, ...] = ("public",)
TableKind = Literal["table", "partitioned", "foreign", "unlogged"]

# --------------------------------------------------------------------------
# Source text cache: one encoded copy per file, not per statement
# --------------------------------------------------------------------------

_SOURCES: dict[int, tuple[SourceFile, Source]] = {}


def _source_of(src: SourceFile) -> Source:
    hit = _SOURCES.get(id(src))
    if hit is not None and hit[0] is src:
        return hit[1]
    if len(_SOURCES) > 8:
        _SOURCES.clear()
    s = Source(src.text)
    _SOURCES[id(src)] = (src, s)
    return s


# --------------------------------------------------------------------------
# Tables: columns and constraints
# --------------------------------------------------------------------------

_DEFAULT_STOPS = frozenset(
    {b"NOT", b"NULL", b"CHECK", b"REFERENCES", b"UNIQUE", b"PRIMARY", b"CONSTRAINT", b"GENERATED", b"COLLATE"}
)
_FK_ACTIONS = {"a": None, "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}


def _default_text(ctx: Ctx, expr: Node) -> str:
    return ctx.src.text_after_keyword(expr, b"DEFAULT", _DEFAULT_STOPS)


def _expr_columns(expr: Any) -> list[str]:
    """Unqualified column names referenced in an expression, in source order."""
    found: list[tuple[int, str]] = []
    stack = [expr]
    while stack:
        n = stack.pop()
        if isinstance(n, list):
            stack.extend(n)
        elif isinstance(n, dict):
            cr = n.get("ColumnRef")
            if cr is not None:
                f = cr.get("fields") or ()
                if f and "String" in f[-1]:
                    found.append((cr.get("location", 0), sval(f[-1])))
                continue
            stack.extend(v for v in n.values() if isinstance(v, (dict, list)))
    seen: list[str] = []
    for _, name in sorted(found):
        if name not in seen:
            seen.append(name)
    return seen


class _TableBuild:
    """Columns and constraints gathered while reading a CREATE TABLE / ADD COLUMN."""

    def __init__(self, ctx: Ctx, schema: str, table: str):
        self.ctx = ctx
        self.schema = schema
        self.table = table
        self.columns: list[Column] = []
        self.constraints: list[Constraint] = []
        self.explicit: set[str] = set()  # constraint names written in the SQL
        self.sequences: list[Sequence] = []

    def unique_name(self, name: str) -> str:
        """PostgreSQL appends 1, 2, ... when a chosen name is taken within the statement."""
        taken = {c.name for c in self.constraints}
        if name not in taken:
            return name
        base, label = name.rsplit("_", 1)
        i = 1
        while f"{base}_{label}{i}" in taken:
            i += 1
        return f"{base}_{label}{i}"

    def drop_redundant_keys(self) -> None:
        """One index per key: PostgreSQL folds a UNIQUE identical to the primary key (or to an
        earlier UNIQUE) of the same statement into it, keeping an explicit name if one was given."""
        keys = [c for c in self.constraints if c.kind == "primary_key"]
        keys += [c for c in self.constraints if c.kind == "unique"]
        kept: dict[tuple[tuple[str, ...], bool], Constraint] = {}
        renamed: dict[int, Constraint] = {}
        dropped: set[int] = set()
        for c in keys:
            first = kept.get((c.columns, c.deferrable))
            if first is None:
                kept[(c.columns, c.deferrable)] = c
                continue
            dropped.add(id(c))
            if first.name not in self.explicit and c.name in self.explicit:
                better = dataclasses.replace(first, name=c.name)
                renamed[id(first)] = better
                kept[(c.columns, c.deferrable)] = better
        if dropped or renamed:
            self.constraints = [renamed.get(id(c), c) for c in self.constraints if id(c) not in dropped]

    def constraint(self, con: Node, column: str | None) -> Constraint | None:
        """Read one Constraint node (column-level when ``column`` is given)."""
        ctx = self.ctx
        kind = con.get("contype", "")
        name = con.get("conname")
        validated = not con.get("skip_validation", False)
        deferrable = bool(con.get("deferrable"))
        q = (self.schema, self.table)
        if kind in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
            cols = tuple(strings(con.get("keys"))) or ((column,) if column else ())
            if con.get("indexname"):
                # ADD CONSTRAINT ... USING INDEX: the index becomes the constraint
                ix = con["indexname"]
                ctx.require(ObjRef("index", self.schema, ix), con.get("location", -1))
                ctx.changes.append(ch.DropObject(ObjRef("index", self.schema, ix)))
            k = "primary_key" if kind == "CONSTR_PRIMARY" else "unique"
            if name is not None:
                self.explicit.add(name)
            if name is None:
                name = (
                    ch.pg_object_name(self.table, None, "pkey")
                    if k == "primary_key"
                    else ch.pg_object_name(self.table, "_".join(cols), "key")
                )
            return Constraint(name, q, k, cols, deferrable=deferrable)  # type: ignore[arg-type]
        if kind == "CONSTR_FOREIGN":
            cols = tuple(strings(con.get("fk_attrs"))) or ((column,) if column else ())
            ref = ctx.rangevar(con.get("pktable", {}))
            ref_cols = tuple(strings(con.get("pk_attrs")))
            loc = con["pktable"].get("location", -1)
            if ref != q:
                ctx.require(ObjRef.relation(*ref), loc)
                for rc in ref_cols:
                    ctx.require(ObjRef.column(ref[0], ref[1], rc), loc)
            if name is None:
                name = ch.pg_object_name(self.table, "_".join(cols), "fkey")
            return Constraint(
                name,
                q,
                "foreign_key",
                cols,
                ref_table=ref,
                ref_columns=ref_cols,
                validated=validated,
                on_delete=_FK_ACTIONS.get(con.get("fk_del_action", "a")),
                on_update=_FK_ACTIONS.get(con.get("fk_upd_action", "a")),
                deferrable=deferrable,
            )
        if kind == "CONSTR_CHECK":
            expr = con.get("raw_expr")
            used = _expr_columns(expr)
            text = ctx.src.group_text(con.get("location", -1))
            if name is None:
                # PostgreSQL names a CHECK after its column only when it uses exactly one
                name = self.unique_name(
                    ch.pg_object_name(self.table, used[0] if len(used) == 1 else None, "check")
                )
            walk(ctx, expr, _no_scope())
            return Constraint(name, q, "check", tuple(used), expression=text, validated=validated)
        if kind == "CONSTR_EXCLUSION":
            ex_cols: list[str] = []
            for pair in con.get("exclusions") or ():
                items = pair.get("List", {}).get("items") or pair
                ie = items[0].get("IndexElem", {}) if items else {}
                ex_cols.append(ie.get("name") or "expr")
            if name is None:
                name = ch.pg_object_name(self.table, "_".join(ex_cols), "excl")
            return Constraint(name, q, "exclude", tuple(ex_cols))
        return None

    def column(self, cd: Node) -> Column:
        """Read one ColumnDef: type, NOT NULL, DEFAULT, GENERATED, IDENTITY, inline constraints."""
        ctx = self.ctx
        name = cd.get("colname", "")
        tn = cd.get("typeName") or {}
        tnames = strings(tn.get("names"))
        serial = len(tnames) == 1 and tnames[0] in SERIAL_TYPES
        ctype = ctx.type_of(tn)
        nullable = True
        default: str | None = None
        identity = False
        generated: str | None = None
        if serial:
            seq = ch.pg_object_name(self.table, name, "seq")
            qual = seq if self.schema == "public" else f"{self.schema}.{seq}"
            default = f"nextval('{qual}'::regclass)"
            nullable = False
            self.sequences.append(Sequence(self.schema, seq, owned_by=(self.schema, self.table, name)))
        for c in cd.get("constraints") or ():
            con = c.get("Constraint", {})
            kind = con.get("contype")
            if kind == "CONSTR_NOTNULL":
                nullable = False
            elif kind == "CONSTR_NULL":
                nullable = True
            elif kind == "CONSTR_DEFAULT":
                expr = con.get("raw_expr")
                at = con.get("location", -1)
                if at >= 0 and ctx.src.data[at : at + 7].upper() == b"DEFAULT":
                    # the constraint starts at its keyword: no need to look for it
                    default = ctx.src.slice(at + 7, ctx.src.expr_end(at + 7, _DEFAULT_STOPS))
                else:
                    default = _default_text(ctx, expr)
                walk(ctx, expr, _no_scope())
            elif kind == "CONSTR_IDENTITY":
                identity = True
                nullable = False
                seq = ch.pg_object_name(self.table, name, "seq")
                self.sequences.append(Sequence(self.schema, seq, owned_by=(self.schema, self.table, name)))
            elif kind == "CONSTR_GENERATED":
                generated = ctx.src.group_text(con.get("location", -1))
            else:
                made = self.constraint(con, name)
                if made is not None:
                    self.constraints.append(made)
                    if made.kind == "primary_key":
                        nullable = False
        col = Column(name, ctype, nullable, default, identity, generated)
        self.columns.append(col)
        return col


def _no_scope() -> Scope:
    return Scope()


def _provide_table_parts(ctx: Ctx, b: _TableBuild, ine: bool) -> None:
    s, t = b.schema, b.table
    for col in b.columns:
        ctx.provide(ObjRef.column(s, t, col.name), ine)
    for con in b.constraints:
        assert con.name is not None
        ctx.provide(ObjRef("constraint", s, con.name, t), ine)
    for seq in b.sequences:
        ctx.provide(ObjRef("sequence", s, seq.name), ine)
        ctx.changes.append(ch.PutSequence(seq, if_not_exists=ine or ctx.ensure_mode))


def _create_table(ctx: Ctx, n: Node, kind: TableKind = "table") -> None:
    rv = n.get("relation", {})
    if rv.get("relpersistence") == "t":
        return  # temporary tables live in the session's own schema, not in the model
    schema, name = ctx.rangevar(rv)
    ctx.require_schema(schema, rv.get("location", -1))
    ine = bool(n.get("if_not_exists"))
    b = _TableBuild(ctx, schema, name)
    copies: list[ch.CopyColumns] = []
    for elt in n.get("tableElts") or ():
        if "ColumnDef" in elt:
            b.column(elt["ColumnDef"])
        elif "Constraint" in elt:
            made = b.constraint(elt["Constraint"], None)
            if made is not None:
                b.constraints.append(made)
        elif "TableLikeClause" in elt:
            like = elt["TableLikeClause"]["relation"]
            src = ctx.rangevar(like)
            ctx.require(ObjRef.relation(*src), like.get("location", -1))
            options = elt["TableLikeClause"].get("options", 0)
            copies.append(ch.CopyColumns(schema, name, src, "like", options, len(b.columns)))
    b.drop_redundant_keys()
    parents = n.get("inhRelations") or ()
    mode = "partition" if n.get("partbound") else "inherits"
    for p in parents:
        prv = p.get("RangeVar", {})
        src = ctx.rangevar(prv)
        ctx.require(ObjRef.relation(*src), prv.get("location", -1))
        copies.insert(0, ch.CopyColumns(schema, name, src, mode))  # type: ignore[arg-type]
    if n.get("partspec"):
        kind = "partitioned"
    elif rv.get("relpersistence") == "u":
        kind = "unlogged"
    ctx.provide(ObjRef.relation(schema, name), ine)
    _provide_table_parts(ctx, b, ine)
    pk_cols = {c for con in b.constraints if con.kind == "primary_key" for c in con.columns}
    cols = tuple(
        Column(c.name, c.type, False, c.default, c.identity, c.generated) if c.name in pk_cols else c
        for c in b.columns
    )
    ctx.changes.append(ch.PutTable(Table(schema, name, cols, kind), if_not_exists=ine or ctx.ensure_mode))
    ctx.changes.extend(copies)
    for con in b.constraints:
        ctx.changes.append(ch.PutConstraint(con, if_not_exists=ine or ctx.ensure_mode))


def _create_table_as(ctx: Ctx, n: Node) -> None:
    into = n.get("into", {})
    rv = into.get("rel", {})
    q = ctx.rangevar(rv)
    ine = bool(n.get("if_not_exists"))
    read_select(ctx, n.get("query", {}).get("SelectStmt", {}), None)
    ctx.provide(ObjRef.relation(*q), ine)
    cols = tuple(strings(into.get("colNames"))) or _output_names(n.get("query", {}).get("SelectStmt", {}))
    for c in cols:
        ctx.provide(ObjRef.column(q[0], q[1], c), ine)
    if n.get("objtype") == "OBJECT_MATVIEW":
        ctx.changes.append(
            ch.PutView(View(q[0], q[1], _stmt_query_text(ctx, n, rv.get("location", -1)), True, cols))
        )
    else:
        ctx.opaque_part("CREATE TABLE AS: column types come from the query")


def _output_names(sel: Node) -> tuple[str, ...]:
    """Column names a SELECT produces, when they can be told without a catalog."""
    while sel.get("op", "SETOP_NONE") != "SETOP_NONE" and "larg" in sel:
        sel = sel["larg"]
    out = []
    for t in sel.get("targetList") or ():
        rt = t.get("ResTarget", {})
        if rt.get("name"):
            out.append(rt["name"])
            continue
        v = rt.get("val") or {}
        if "ColumnRef" in v:
            f = v["ColumnRef"].get("fields") or ()
            if f and "String" in f[-1]:
                out.append(sval(f[-1]))
                continue
            return tuple(out)  # a star: the list depends on the catalog
        elif "FuncCall" in v:
            out.append(strings(v["FuncCall"].get("funcname"))[-1])
        elif "TypeCast" in v and "ColumnRef" in v["TypeCast"].get("arg", {}):
            f = v["TypeCast"]["arg"]["ColumnRef"].get("fields") or ()
            out.append(sval(f[-1]) if f else "?column?")
        else:
            out.append("?column?")
    return tuple(out)


def _stmt_query_text(ctx: Ctx, n: Node, anchor: int) -> str | None:
    """Source text of a view's query: from after ``AS`` to the end of the statement."""
    loc = min_location(n.get("query"))
    if loc < 0 or anchor < 0:
        return None
    k = ctx.src.data[anchor:loc].upper().rfind(b"AS")
    start = anchor + k + 2 if k >= 0 else loc
    return ctx.src.slice(start, ctx.src.statement_end(start))


# --------------------------------------------------------------------------
# ALTER TABLE
# --------------------------------------------------------------------------


def _alter_table(ctx: Ctx, n: Node) -> None:
    rv = n.get("relation", {})
    schema, table = ctx.rangevar(rv)
    objtype = n.get("objtype", "OBJECT_TABLE")
    missing_ok = bool(n.get("missing_ok"))
    tref = ObjRef.relation(schema, table)
    if objtype in ("OBJECT_INDEX",):
        tref = ObjRef("index", schema, table)
    elif objtype == "OBJECT_SEQUENCE":
        tref = ObjRef("sequence", schema, table)
    elif objtype == "OBJECT_TYPE":
        tref = ObjRef("type", schema, table)
    if not missing_ok:
        ctx.require(tref, rv.get("location", -1))
    ctx.alters.append(tref)
    for c in n.get("cmds") or ():
        _alter_cmd(ctx, c.get("AlterTableCmd", {}), schema, table)


_NO_MODEL_EFFECT = frozenset(
    {
        "AT_SetStatistics",
        "AT_SetStorage",
        "AT_SetCompression",
        "AT_SetOptions",
        "AT_ResetOptions",
        "AT_SetRelOptions",
        "AT_ResetRelOptions",
        "AT_ReplaceRelOptions",
        "AT_ChangeOwner",
        "AT_ClusterOn",
        "AT_DropCluster",
        "AT_SetLogged",
        "AT_SetUnLogged",
        "AT_EnableTrig",
        "AT_EnableAlwaysTrig",
        "AT_EnableReplicaTrig",
        "AT_DisableTrig",
        "AT_EnableTrigAll",
        "AT_DisableTrigAll",
        "AT_EnableTrigUser",
        "AT_DisableTrigUser",
        "AT_EnableRowSecurity",
        "AT_DisableRowSecurity",
        "AT_ForceRowSecurity",
        "AT_NoForceRowSecurity",
        "AT_ReplicaIdentity",
        "AT_SetTableSpace",
        "AT_SetAccessMethod",
        "AT_EnableRule",
        "AT_DisableRule",
        "AT_SetIdentity",
        "AT_GenericOptions",
    }
)


def _alter_cmd(ctx: Ctx, c: Node, schema: str, table: str) -> None:
    sub = c.get("subtype", "")
    name = c.get("name")
    missing_ok = bool(c.get("missing_ok"))
    d = c.get("def") or {}
    colref = ObjRef.column(schema, table, name or "")
    if sub == "AT_AddColumn":
        b = _TableBuild(ctx, schema, table)
        col = b.column(d.get("ColumnDef", {}))
        _provide_table_parts(ctx, b, missing_ok)
        ctx.changes.append(ch.PutColumn(schema, table, col, if_not_exists=missing_ok or ctx.ensure_mode))
        for con in b.constraints:
            ctx.changes.append(ch.PutConstraint(con, if_not_exists=missing_ok or ctx.ensure_mode))
    elif sub == "AT_DropColumn":
        if not missing_ok:
            ctx.require(colref)
        ctx.drops.append(colref)
        ctx.changes.append(ch.DropObject(colref, c.get("behavior") == "DROP_CASCADE"))
    elif sub == "AT_AlterColumnType":
        ctx.require(colref)
        ctx.alters.append(colref)
        cd = d.get("ColumnDef", {})
        ctype = ctx.type_of(cd.get("typeName") or {})
        if "raw_default" in cd:  # the USING expression
            walk(ctx, cd["raw_default"], _single(schema, table))
        ctx.changes.append(ch.AlterColumn(schema, table, name or "", type=ctype))
    elif sub in ("AT_SetNotNull", "AT_DropNotNull"):
        ctx.require(colref)
        ctx.alters.append(colref)
        ctx.changes.append(ch.AlterColumn(schema, table, name or "", nullable=sub == "AT_DropNotNull"))
    elif sub == "AT_ColumnDefault":
        ctx.require(colref)
        ctx.alters.append(colref)
        if d:
            walk(ctx, d, _no_scope())
            ctx.changes.append(ch.AlterColumn(schema, table, name or "", default=_default_text(ctx, d)))
        else:
            ctx.changes.append(ch.AlterColumn(schema, table, name or "", drop_default=True))
    elif sub == "AT_AddIdentity":
        ctx.require(colref)
        ctx.alters.append(colref)
        seq = ch.pg_object_name(table, name or "", "seq")
        ctx.provide(ObjRef("sequence", schema, seq))
        ctx.changes.append(ch.PutSequence(Sequence(schema, seq, owned_by=(schema, table, name or ""))))
        ctx.changes.append(ch.AlterColumn(schema, table, name or "", nullable=False, identity=True))
    elif sub == "AT_DropIdentity":
        if not missing_ok:
            ctx.require(colref)
        ctx.alters.append(colref)
        ctx.changes.append(ch.AlterColumn(schema, table, name or "", identity=False))
    elif sub == "AT_AddConstraint":
        b = _TableBuild(ctx, schema, table)
        con_node = d.get("Constraint", {})
        for kc in strings(con_node.get("keys")) + strings(con_node.get("fk_attrs")):
            ctx.require(ObjRef.column(schema, table, kc), con_node.get("location", -1))
        made = b.constraint(con_node, None)
        if made is None:
            ctx.opaque_part(f"constraint kind {con_node.get('contype')} not understood")
            return
        if made.kind == "check":
            for kc in made.columns:
                ctx.require(ObjRef.column(schema, table, kc), con_node.get("location", -1))
        assert made.name is not None
        ctx.provide(ObjRef("constraint", schema, made.name, table))
        ctx.changes.append(ch.PutConstraint(made, if_not_exists=ctx.ensure_mode))
    elif sub == "AT_DropConstraint":
        ref = ObjRef("constraint", schema, name or "", table)
        if not missing_ok:
            ctx.require(ref)
        ctx.drops.append(ref)
        ctx.changes.append(ch.DropObject(ref))
    elif sub == "AT_ValidateConstraint":
        ref = ObjRef("constraint", schema, name or "", table)
        ctx.require(ref)
        ctx.alters.append(ref)
        ctx.changes.append(ch.ValidateConstraint(schema, table, name or ""))
    elif sub in ("AT_AttachPartition", "AT_DetachPartition", "AT_DetachPartitionFinalize"):
        part: Node = d.get("PartitionCmd", {}).get("name", {})
        ctx.require(ObjRef.relation(*ctx.rangevar(part)), part.get("location", -1))
    elif sub in ("AT_AddInherit", "AT_DropInherit"):
        parent: Node = d.get("RangeVar") or d
        ctx.require(ObjRef.relation(*ctx.rangevar(parent)), parent.get("location", -1))
    elif sub in _NO_MODEL_EFFECT:
        if name and sub in ("AT_SetStatistics", "AT_SetStorage", "AT_SetCompression", "AT_SetOptions"):
            ctx.require(colref)
    else:
        ctx.opaque_part(f"ALTER TABLE {sub.removeprefix('AT_')} is not understood")


def _single(schema: str, table: str) -> Scope:
    s = Scope()
    s.items[table] = (schema, table)
    return s


# --------------------------------------------------------------------------
# Indexes
# --------------------------------------------------------------------------


def _index_elem_names(ctx: Ctx, n: Node, table: QName) -> tuple[list[str], list[str]]:
    """(key texts for the model, name parts for the default index name)."""
    rv = n.get("relation", {})
    params = n.get("indexParams") or ()
    texts: list[str] = []
    span = ctx.src.paren_group(rv.get("location", -1))
    parts = ctx.src.split_top(*span) if span else []
    keys: list[str] = []
    name_parts: list[str] = []
    scope = _single(*table)
    for i, p in enumerate(params):
        ie = p.get("IndexElem", {})
        if ie.get("name"):
            keys.append(ie["name"])
            name_parts.append(ie["name"])
            ctx.require(ObjRef.column(table[0], table[1], ie["name"]), rv.get("location", -1))
            continue
        expr = ie.get("expr")
        walk(ctx, expr, scope)
        raw = parts[i] if i < len(parts) else ""
        keys.append(_strip_elem(raw))
        if expr and "FuncCall" in expr:
            name_parts.append(strings(expr["FuncCall"].get("funcname"))[-1])
        else:
            name_parts.append("expr")
    del texts
    return keys, name_parts


_ELEM_TAIL = re.compile(
    r"\s+(asc|desc|nulls\s+first|nulls\s+last|collate\s+\S+|[a-z_][a-z0-9_]*_ops)\s*$", re.I
)


def _strip_elem(raw: str) -> str:
    """Index element text without its ordering / opclass, and without outer parentheses."""
    s = raw.strip()
    while True:
        m = _ELEM_TAIL.search(s)
        if not m:
            break
        s = s[: m.start()].rstrip()
    if s.startswith("(") and s.endswith(")"):
        inner = s[1:-1]
        depth = 0
        ok = True
        for ch_ in inner:
            depth += ch_ == "("
            depth -= ch_ == ")"
            if depth < 0:
                ok = False
                break
        if ok:
            s = inner.strip()
    return s


def _create_index(ctx: Ctx, n: Node) -> None:
    """CREATE INDEX: takes SHARE on the table (SHARE UPDATE EXCLUSIVE when CONCURRENTLY)."""
    rv = n.get("relation", {})
    table = ctx.rangevar(rv)
    ctx.require(ObjRef.relation(*table), rv.get("location", -1))
    keys, name_parts = _index_elem_names(ctx, n, table)
    include = tuple(ie.get("IndexElem", {}).get("name", "") for ie in n.get("indexIncludingParams") or ())
    for inc in include:
        ctx.require(ObjRef.column(table[0], table[1], inc), rv.get("location", -1))
    unique = bool(n.get("unique"))
    name = n.get("idxname")
    if name is None:
        # CREATE UNIQUE INDEX still gets "_idx"; "_key" is for UNIQUE constraints
        label = "pkey" if n.get("primary") else "idx"
        name = ch.pg_object_name(table[1], _index_addition(name_parts), label)
    predicate = None
    if "whereClause" in n:
        walk(ctx, n["whereClause"], _single(*table))
        predicate = ctx.src.text_after_keyword(n["whereClause"], b"WHERE")
    if n.get("concurrent"):
        ctx.transactional = False
    ine = bool(n.get("if_not_exists"))
    ref = ObjRef("index", table[0], name)
    ctx.provide(ref, ine)
    ctx.changes.append(
        ch.PutIndex(
            Index(
                table[0],
                name,
                table,
                tuple(keys),
                unique,
                predicate,
                include,
                n.get("accessMethod", "btree"),
            ),
            if_not_exists=ine or ctx.ensure_mode,
        )
    )


def _index_addition(parts: list[str]) -> str:
    """PostgreSQL's ChooseIndexNameAddition: names joined by ``_``, capped at NAMEDATALEN."""
    out = ""
    for p in parts:
        if out:
            out += "_"
        out += p
        if len(out.encode()) >= ch.NAMEDATALEN:
            break
    return out


# --------------------------------------------------------------------------
# Other DDL
# --------------------------------------------------------------------------


def _create_schema(ctx: Ctx, n: Node) -> None:
    name = n.get("schemaname") or (n.get("authrole") or {}).get("RoleSpec", {}).get("rolename", "")
    ine = bool(n.get("if_not_exists"))
    ctx.provide(ObjRef("schema", "", name), ine)
    ctx.changes.append(ch.PutSchema(name, ine))
    if n.get("schemaElts"):
        inner = Ctx(ctx.src, (name, *ctx.search_path), ctx.loc_shift, ctx.ensure_mode)
        for elt in n["schemaElts"]:
            _dispatch(inner, elt)
        _merge(ctx, inner)


def _create_seq(ctx: Ctx, n: Node) -> None:
    rv = n.get("sequence", {})
    q = ctx.rangevar(rv)
    ctx.require_schema(q[0], rv.get("location", -1))
    ine = bool(n.get("if_not_exists"))
    owned = _seq_owned_by(ctx, n)
    ctx.provide(ObjRef("sequence", *q), ine)
    ctx.changes.append(ch.PutSequence(Sequence(q[0], q[1], owned), ine or ctx.ensure_mode))


def _seq_owned_by(ctx: Ctx, n: Node) -> tuple[str, str, str] | None:
    for o in n.get("options") or ():
        de = o.get("DefElem", {})
        if de.get("defname") == "owned_by":
            names = strings(de.get("arg", {}).get("List", {}).get("items"))
            if len(names) >= 2 and names[-1] != "none":
                s, t = ctx.qualified(names[:-1])
                ctx.require(ObjRef.column(s, t, names[-1]), de.get("location", -1))
                return (s, t, names[-1])
        elif de.get("defname") == "as":
            ctx.type_of(de.get("arg", {}).get("TypeName", {}))
    return None


def _alter_seq(ctx: Ctx, n: Node) -> None:
    rv = n.get("sequence", {})
    q = ctx.rangevar(rv)
    if not n.get("missing_ok"):
        ctx.require(ObjRef("sequence", *q), rv.get("location", -1))
    ctx.alters.append(ObjRef("sequence", *q))
    owned = _seq_owned_by(ctx, n)
    if owned is not None:
        ctx.changes.append(ch.PutSequence(Sequence(q[0], q[1], owned)))


def _create_enum(ctx: Ctx, n: Node) -> None:
    q = ctx.qualified(strings(n.get("typeName")))
    ctx.require_schema(q[0])
    ctx.provide(ObjRef("type", *q))
    ctx.changes.append(ch.PutEnum(EnumType(q[0], q[1], tuple(strings(n.get("vals"))))))


def _alter_enum(ctx: Ctx, n: Node) -> None:
    """ALTER TYPE ... ADD VALUE: transactional since PostgreSQL 12, but the new value
    cannot be used until the transaction commits."""
    q = ctx.qualified(strings(n.get("typeName")))
    ctx.require(ObjRef("type", *q))
    ctx.alters.append(ObjRef("type", *q))
    if n.get("oldVal"):
        ctx.changes.append(ch.RenameEnumValue(q[0], q[1], n["oldVal"], n.get("newVal", "")))
        return
    neighbor = n.get("newValNeighbor")
    after = bool(n.get("newValIsAfter"))
    ctx.changes.append(
        ch.AddEnumValue(
            q[0],
            q[1],
            n.get("newVal", ""),
            before=neighbor if neighbor and not after else None,
            after=neighbor if neighbor and after else None,
        )
    )


def _composite(ctx: Ctx, n: Node) -> None:
    rv = n.get("typevar", {})
    q = ctx.rangevar(rv)
    ctx.require_schema(q[0], rv.get("location", -1))
    attrs = []
    for c in n.get("coldeflist") or ():
        cd = c.get("ColumnDef", {})
        attrs.append(Column(cd.get("colname", ""), ctx.type_of(cd.get("typeName") or {})))
    ctx.provide(ObjRef("type", *q))
    ctx.changes.append(ch.PutComposite(CompositeType(q[0], q[1], tuple(attrs))))


def _create_domain(ctx: Ctx, n: Node) -> None:
    q = ctx.qualified(strings(n.get("domainname")))
    ctx.type_of(n.get("typeName") or {})
    ctx.provide(ObjRef("type", *q))
    # the model has no domain fact: a composite with no attributes stands for "a type exists"
    ctx.changes.append(ch.PutComposite(CompositeType(q[0], q[1], ())))


def _create_extension(ctx: Ctx, n: Node) -> None:
    name = n.get("extname", "")
    schema = "public"
    version = None
    for o in n.get("options") or ():
        de = o.get("DefElem", {})
        if de.get("defname") == "schema":
            schema = sval(de.get("arg"))
            ctx.require_schema(schema, de.get("location", -1))
        elif de.get("defname") == "new_version":
            version = sval(de.get("arg"))
    ine = bool(n.get("if_not_exists"))
    ctx.provide(ObjRef("extension", "", name), ine)
    ctx.changes.append(ch.PutExtension(Extension(name, schema, version), ine or ctx.ensure_mode))


def _view(ctx: Ctx, n: Node) -> None:
    rv = n.get("view", {})
    q = ctx.rangevar(rv)
    ctx.require_schema(q[0], rv.get("location", -1))
    sel = n.get("query", {}).get("SelectStmt", {})
    read_select(ctx, sel, None)
    cols = tuple(strings(n.get("aliases"))) or _output_names(sel)
    replace = bool(n.get("replace"))
    ctx.provide(ObjRef.relation(*q), replace)
    for c in cols:
        ctx.provide(ObjRef.column(q[0], q[1], c), replace)
    ctx.changes.append(
        ch.PutView(View(q[0], q[1], _stmt_query_text(ctx, n, rv.get("location", -1)), False, cols), replace)
    )


def _function_option(n: Node, name: str) -> Any:
    for o in n.get("options") or ():
        de = o.get("DefElem", {})
        if de.get("defname") == name:
            return de.get("arg")
    return None


def _create_function(ctx: Ctx, n: Node) -> None:
    q = ctx.qualified(strings(n.get("funcname")))
    ctx.require_schema(q[0])
    args = []
    for p in n.get("parameters") or ():
        fp = p.get("FunctionParameter", {})
        if fp.get("mode") in ("FUNC_PARAM_OUT", "FUNC_PARAM_TABLE"):
            ctx.type_of(fp.get("argType") or {})
            continue
        args.append(ctx.type_of(fp.get("argType") or {}))
    returns = ctx.type_of(n["returnType"]) if n.get("returnType") else None
    lang = sval(_function_option(n, "language")) or ("sql" if n.get("sql_body") else None)
    if n.get("sql_body"):
        # a SQL-standard body is checked at creation: what it reads must exist
        # parameters are names inside the body, not columns
        params = frozenset(p.get("FunctionParameter", {}).get("name", "") for p in n.get("parameters") or ())
        saved, ctx.ignore_names = ctx.ignore_names, ctx.ignore_names | params
        walk(ctx, n["sql_body"], Scope())
        ctx.ignore_names = saved
    replace = bool(n.get("replace"))
    kind = "procedure" if n.get("is_procedure") else "function"
    ctx.provide(ObjRef("function", *q), replace)
    ctx.changes.append(
        ch.PutFunction(Function(q[0], q[1], kind, ", ".join(args), returns, lang), replace)  # type: ignore[arg-type]
    )


def _create_trigger(ctx: Ctx, n: Node) -> None:
    rv = n.get("relation", {})
    table = ctx.rangevar(rv)
    ctx.require(ObjRef.relation(*table), rv.get("location", -1))
    fq = ctx.qualified(strings(n.get("funcname")))
    ctx.require(ObjRef("function", *fq))
    timing_bits = n.get("timing", 0)
    timing = "before" if timing_bits & 2 else ("instead of" if timing_bits & 64 else "after")
    ev_bits = n.get("events", 0)
    events = tuple(
        e for bit, e in ((4, "insert"), (16, "update"), (8, "delete"), (32, "truncate")) if ev_bits & bit
    )
    name = n.get("trigname", "")
    replace = bool(n.get("replace"))
    ctx.provide(ObjRef("trigger", table[0], name, table[1]), replace)
    ctx.changes.append(ch.PutTrigger(Trigger(name, table, fq, timing, events), replace))


_OBJ_KIND = {
    "OBJECT_TABLE": "relation",
    "OBJECT_VIEW": "relation",
    "OBJECT_MATVIEW": "relation",
    "OBJECT_FOREIGN_TABLE": "relation",
    "OBJECT_INDEX": "index",
    "OBJECT_SEQUENCE": "sequence",
    "OBJECT_TYPE": "type",
    "OBJECT_DOMAIN": "type",
    "OBJECT_SCHEMA": "schema",
    "OBJECT_EXTENSION": "extension",
    "OBJECT_FUNCTION": "function",
    "OBJECT_PROCEDURE": "function",
    "OBJECT_ROUTINE": "function",
    "OBJECT_AGGREGATE": "function",
    "OBJECT_TRIGGER": "trigger",
    "OBJECT_TABCONSTRAINT": "constraint",
    "OBJECT_COLUMN": "column",
}

# Object kinds the model does not hold; statements about them are understood, with no effect.
_NOT_MODELLED = frozenset(
    {
        "OBJECT_ROLE",
        "OBJECT_POLICY",
        "OBJECT_RULE",
        "OBJECT_PUBLICATION",
        "OBJECT_SUBSCRIPTION",
        "OBJECT_COLLATION",
        "OBJECT_CONVERSION",
        "OBJECT_OPERATOR",
        "OBJECT_OPCLASS",
        "OBJECT_OPFAMILY",
        "OBJECT_EVENT_TRIGGER",
        "OBJECT_STATISTIC_EXT",
        "OBJECT_TSCONFIGURATION",
        "OBJECT_TSDICTIONARY",
        "OBJECT_TABLESPACE",
        "OBJECT_DATABASE",
        "OBJECT_CAST",
        "OBJECT_LANGUAGE",
        "OBJECT_FDW",
        "OBJECT_FOREIGN_SERVER",
        "OBJECT_USER_MAPPING",
        "OBJECT_ACCESS_METHOD",
        "OBJECT_LARGEOBJECT",
        "OBJECT_TRANSFORM",
    }
)


def _object_ref(ctx: Ctx, objtype: str, obj: Any) -> tuple[ObjRef | None, int]:
    """ObjRef for the ``object`` of DROP / COMMENT / GRANT / RENAME, and its location."""
    kind = _OBJ_KIND.get(objtype)
    if kind is None:
        return None, -1
    loc = -1
    if isinstance(obj, dict) and "List" in obj:
        names = strings(obj["List"].get("items"))
    elif isinstance(obj, dict) and "String" in obj:
        names = [sval(obj)]
    elif isinstance(obj, dict) and "TypeName" in obj:
        names = strings(obj["TypeName"].get("names"))
        loc = obj["TypeName"].get("location", -1)
    elif isinstance(obj, dict) and "ObjectWithArgs" in obj:
        names = strings(obj["ObjectWithArgs"].get("objname"))
    elif isinstance(obj, dict) and "RangeVar" in obj:
        q = ctx.rangevar(obj["RangeVar"])
        return ObjRef(kind, q[0], q[1]), obj["RangeVar"].get("location", -1)  # type: ignore[arg-type]
    else:
        return None, -1
    if kind in ("schema", "extension"):
        return ObjRef(kind, "", names[-1] if names else ""), loc  # type: ignore[arg-type]
    if kind in ("column", "constraint", "trigger"):
        if len(names) < 2:
            return None, loc
        s, t = ctx.qualified(names[:-1])
        return ObjRef(kind, s, names[-1], t), loc  # type: ignore[arg-type]
    s, nm = ctx.qualified(names)
    return ObjRef(kind, s, nm), loc  # type: ignore[arg-type]


def _drop(ctx: Ctx, n: Node) -> None:
    objtype = n.get("removeType", "")
    if objtype in _NOT_MODELLED:
        return
    missing_ok = bool(n.get("missing_ok"))
    cascade = n.get("behavior") == "DROP_CASCADE"
    if n.get("concurrent"):
        ctx.transactional = False
    for obj in n.get("objects") or ():
        ref, loc = _object_ref(ctx, objtype, obj)
        if ref is None:
            ctx.opaque_part(f"DROP {objtype.removeprefix('OBJECT_')} is not understood")
            continue
        if not missing_ok:
            ctx.require(ref, loc)
        ctx.drops.append(ref)
        ctx.changes.append(ch.DropObject(ref, cascade))


def _rename(ctx: Ctx, n: Node) -> None:
    rtype = n.get("renameType", "")
    new = n.get("newname", "")
    missing_ok = bool(n.get("missing_ok"))
    if rtype in _NOT_MODELLED:
        return
    rv = n.get("relation")
    if rv is not None:
        q = ctx.rangevar(rv)
        loc = rv.get("location", -1)
        if rtype in ("OBJECT_COLUMN", "OBJECT_TABCONSTRAINT", "OBJECT_TRIGGER", "OBJECT_ATTRIBUTE"):
            kind = {"OBJECT_COLUMN": "column", "OBJECT_TABCONSTRAINT": "constraint"}.get(rtype, "trigger")
            if rtype == "OBJECT_ATTRIBUTE":
                ctx.require(ObjRef("type", *q), loc)
                return
            if not missing_ok:
                ctx.require(ObjRef.relation(*q), loc)
            ref = ObjRef(kind, q[0], n.get("subname", ""), q[1])  # type: ignore[arg-type]
            new_ref = ObjRef(kind, q[0], new, q[1])  # type: ignore[arg-type]
        else:
            kind = _OBJ_KIND.get(rtype, "relation")
            ref = ObjRef(kind, q[0], q[1])  # type: ignore[arg-type]
            new_ref = ObjRef(kind, q[0], new)  # type: ignore[arg-type]
    else:
        ref_, loc = _object_ref(ctx, rtype, n.get("object"))
        if ref_ is None:
            if rtype == "OBJECT_SCHEMA":
                ref_ = ObjRef("schema", "", n.get("subname", ""))
            else:
                ctx.opaque_part(f"RENAME of {rtype.removeprefix('OBJECT_')} is not understood")
                return
        ref = ref_
        new_ref = (
            ObjRef(ref.kind, ref.schema, new, ref.parent)
            if ref.kind != "schema"
            else ObjRef("schema", "", new)
        )
    if not missing_ok:
        ctx.require(ref, loc)
    ctx.drops.append(ref)
    ctx.provide(new_ref)
    ctx.changes.append(ch.RenameObject(ref, new))
    if ref.kind == "relation":
        # the columns move with the table; the planner learns them from replay
        ctx.alters.append(new_ref)


def _set_schema(ctx: Ctx, n: Node) -> None:
    objtype = n.get("objectType", "")
    if objtype in _NOT_MODELLED:
        return
    ns = n.get("newschema", "")
    if n.get("relation") is not None:
        ref, loc = _object_ref(ctx, objtype, {"RangeVar": n["relation"]})
    else:
        ref, loc = _object_ref(ctx, objtype, n.get("object"))
    if ref is None:
        ctx.opaque_part(f"SET SCHEMA of {objtype.removeprefix('OBJECT_')} is not understood")
        return
    ctx.require_schema(ns)
    if not n.get("missing_ok"):
        ctx.require(ref, loc)
    ctx.drops.append(ref)
    ctx.provide(ObjRef(ref.kind, ns, ref.name, ref.parent))
    ctx.changes.append(ch.SetSchema(ref, ns))


def _comment(ctx: Ctx, n: Node) -> None:
    objtype = n.get("objtype", "")
    if objtype in _NOT_MODELLED:
        return
    ref, loc = _object_ref(ctx, objtype, n.get("object"))
    if ref is None:
        ctx.opaque_part(f"COMMENT ON {objtype.removeprefix('OBJECT_')} is not understood")
        return
    ctx.require(ref, loc)


def _grant(ctx: Ctx, n: Node) -> None:
    objtype = n.get("objtype", "")
    if n.get("targtype") == "ACL_TARGET_ALL_IN_SCHEMA":
        for o in n.get("objects") or ():
            ctx.require_schema(sval(o))
        return
    if n.get("targtype") == "ACL_TARGET_DEFAULTS" or objtype in _NOT_MODELLED:
        return
    for o in n.get("objects") or ():
        ref, loc = _object_ref(ctx, objtype, o)
        if ref is None:
            ctx.opaque_part(f"GRANT on {objtype.removeprefix('OBJECT_')} is not understood")
            continue
        if ref.kind == "schema":
            ctx.require_schema(ref.name, loc)
        else:
            ctx.require(ref, loc)
    for p in n.get("privileges") or ():
        ap = p.get("AccessPriv", {})
        for col in strings(ap.get("cols")):
            for o in n.get("objects") or ():
                if "RangeVar" in o:
                    q = ctx.rangevar(o["RangeVar"])
                    ctx.require(ObjRef.column(q[0], q[1], col))


def _truncate(ctx: Ctx, n: Node) -> None:
    for r in n.get("relations") or ():
        rv = r.get("RangeVar", {})
        ctx.require(ObjRef.relation(*ctx.rangevar(rv)), rv.get("location", -1))


def _refresh(ctx: Ctx, n: Node) -> None:
    """REFRESH MATERIALIZED VIEW [CONCURRENTLY]: ACCESS EXCLUSIVE (EXCLUSIVE when concurrent)."""
    rv = n.get("relation", {})
    ctx.require(ObjRef.relation(*ctx.rangevar(rv)), rv.get("location", -1))


def _lock(ctx: Ctx, n: Node) -> None:
    _truncate(ctx, n)


def _copy(ctx: Ctx, n: Node) -> None:
    if "relation" in n:
        rv = n["relation"]
        q = ctx.rangevar(rv)
        ctx.require(ObjRef.relation(*q), rv.get("location", -1))
        for a in n.get("attlist") or ():
            ctx.require(ObjRef.column(q[0], q[1], sval(a)))
    elif "query" in n:
        walk(ctx, n["query"], Scope())


def _call(ctx: Ctx, n: Node) -> None:
    fc = n.get("funccall", {}).get("FuncCall", n.get("funccall", {}))
    q = ctx.qualified(strings(fc.get("funcname")))
    ctx.require(ObjRef("function", *q), fc.get("location", -1))
    walk(ctx, fc.get("args"), Scope())


def _policy(ctx: Ctx, n: Node) -> None:
    rv = n.get("table", {})
    q = ctx.rangevar(rv)
    ctx.require(ObjRef.relation(*q), rv.get("location", -1))
    scope = _single(*q)
    walk(ctx, n.get("qual"), scope)
    walk(ctx, n.get("with_check"), scope)


def _vacuum(ctx: Ctx, n: Node) -> None:
    """VACUUM cannot run inside a transaction block; ANALYZE can."""
    if n.get("is_vacuumcmd"):
        ctx.transactional = False
    for r in n.get("rels") or ():
        vr = r.get("VacuumRelation", {})
        rv = vr.get("relation")
        if rv:
            q = ctx.rangevar(rv)
            ctx.require(ObjRef.relation(*q), rv.get("location", -1))
            for col in strings(vr.get("va_cols")):
                ctx.require(ObjRef.column(q[0], q[1], col))


def _reindex(ctx: Ctx, n: Node) -> None:
    for p in n.get("params") or ():
        if p.get("DefElem", {}).get("defname") == "concurrently":
            ctx.transactional = False
    rv = n.get("relation")
    if rv:
        kind = "index" if n.get("kind") == "REINDEX_OBJECT_INDEX" else "relation"
        ctx.require(ObjRef(kind, *ctx.rangevar(rv)), rv.get("location", -1))  # type: ignore[arg-type]


def _alter_system(ctx: Ctx, n: Node) -> None:
    ctx.transactional = False


def _foreign_table(ctx: Ctx, n: Node) -> None:
    _create_table(ctx, n.get("base", {}), "foreign")


def _alter_domain(ctx: Ctx, n: Node) -> None:
    q = ctx.qualified(strings(n.get("typeName")))
    ctx.require(ObjRef("type", *q))
    ctx.alters.append(ObjRef("type", *q))


def _define(ctx: Ctx, n: Node) -> None:
    """CREATE AGGREGATE / TYPE (base) / OPERATOR / COLLATION / TEXT SEARCH ...: the kinds the model holds."""
    kind = n.get("kind", "")
    q = ctx.qualified(strings(n.get("defnames")))
    replace = bool(n.get("replace"))
    if kind == "OBJECT_AGGREGATE":
        ctx.provide(ObjRef("function", *q), replace)
        ctx.changes.append(ch.PutFunction(Function(q[0], q[1], "aggregate"), replace))
    elif kind == "OBJECT_TYPE":
        ctx.provide(ObjRef("type", *q), bool(n.get("if_not_exists")))
        ctx.changes.append(ch.PutComposite(CompositeType(q[0], q[1], ())))


def _nothing(ctx: Ctx, n: Node) -> None:
    """Understood, and no effect on the schema model (SET, BEGIN, roles, NOTIFY ...)."""


def _explain(ctx: Ctx, n: Node) -> None:
    # EXPLAIN without ANALYZE runs nothing, but it still needs what the query reads
    _dispatch(ctx, n.get("query", {}))


def _select(ctx: Ctx, n: Node) -> None:
    read_select(ctx, n, None)


def _dml(kind: str) -> Callable[[Ctx, Node], None]:
    def handler(ctx: Ctx, n: Node) -> None:
        read_dml(ctx, kind, n)

    return handler


def _alter_function(ctx: Ctx, n: Node) -> None:
    fn = n.get("func", {}).get("ObjectWithArgs", {})
    q = ctx.qualified(strings(fn.get("objname")))
    ctx.require(ObjRef("function", *q))


def _alter_owner(ctx: Ctx, n: Node) -> None:
    objtype = n.get("objectType", "")
    if objtype in _NOT_MODELLED:
        return
    obj = {"RangeVar": n["relation"]} if n.get("relation") else n.get("object")
    ref, loc = _object_ref(ctx, objtype, obj)
    if ref is not None:
        if ref.kind == "schema":
            ctx.require_schema(ref.name, loc)
        else:
            ctx.require(ref, loc)


def _create_stats(ctx: Ctx, n: Node) -> None:
    for r in n.get("relations") or ():
        rv = r.get("RangeVar", {})
        ctx.require(ObjRef.relation(*ctx.rangevar(rv)), rv.get("location", -1))


def _rule(ctx: Ctx, n: Node) -> None:
    rv = n.get("relation", {})
    ctx.require(ObjRef.relation(*ctx.rangevar(rv)), rv.get("location", -1))
    for a in n.get("actions") or ():
        _dispatch(ctx, a)


# --------------------------------------------------------------------------
# DO blocks: PL/pgSQL bodies, analysed statement by statement
# --------------------------------------------------------------------------

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


def _do(ctx: Ctx, n: Node) -> None:
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
    do = _DoBlock(ctx, body, start)
    fn = tree[0].get("PLpgSQL_function", {}) if tree else {}
    do.ignore = frozenset(
        d.get(k, {}).get("refname", "")
        for d in fn.get("datums") or ()
        for k in ("PLpgSQL_var", "PLpgSQL_rec", "PLpgSQL_row")
        if k in d
    )
    do.stmts([fn.get("action", {})], guarded=False)


class _DoBlock:
    def __init__(self, ctx: Ctx, body: str, body_start: int):
        self.ctx = ctx
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
        sub = Ctx(Source(prefix + query), self.ctx.search_path, shift, guarded or self.ctx.ensure_mode)
        sub.ignore_names = self.ignore
        for entry in parsed.get("stmts") or ():
            _dispatch(sub, entry["stmt"])
        if self.conditional:
            sub.requires.clear()
        _merge(self.ctx, sub)

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


def _merge(ctx: Ctx, sub: Ctx) -> None:
    ctx.creates.extend(sub.creates)
    ctx.ensures.extend(sub.ensures)
    ctx.requires.extend(sub.requires)
    ctx.drops.extend(sub.drops)
    ctx.alters.extend(sub.alters)
    ctx.changes.extend(sub.changes)
    for o in sub.opaque:
        ctx.opaque_part(o)
    ctx.transactional = ctx.transactional and sub.transactional


# --------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------

_HANDLERS: dict[str, Callable[[Ctx, Node], None]] = {
    "CreateStmt": _create_table,
    "CreateTableAsStmt": _create_table_as,
    "AlterTableStmt": _alter_table,
    "IndexStmt": _create_index,
    "CreateSchemaStmt": _create_schema,
    "CreateSeqStmt": _create_seq,
    "AlterSeqStmt": _alter_seq,
    "CreateEnumStmt": _create_enum,
    "AlterEnumStmt": _alter_enum,
    "CompositeTypeStmt": _composite,
    "CreateDomainStmt": _create_domain,
    "CreateExtensionStmt": _create_extension,
    "ViewStmt": _view,
    "CreateFunctionStmt": _create_function,
    "CreateTrigStmt": _create_trigger,
    "DropStmt": _drop,
    "RenameStmt": _rename,
    "AlterObjectSchemaStmt": _set_schema,
    "CommentStmt": _comment,
    "GrantStmt": _grant,
    "TruncateStmt": _truncate,
    "RefreshMatViewStmt": _refresh,
    "LockStmt": _lock,
    "CopyStmt": _copy,
    "CallStmt": _call,
    "CreatePolicyStmt": _policy,
    "AlterPolicyStmt": _policy,
    "VacuumStmt": _vacuum,
    "ReindexStmt": _reindex,
    "AlterSystemStmt": _alter_system,
    "ExplainStmt": _explain,
    "SelectStmt": _select,
    "InsertStmt": _dml("InsertStmt"),
    "UpdateStmt": _dml("UpdateStmt"),
    "DeleteStmt": _dml("DeleteStmt"),
    "MergeStmt": _dml("MergeStmt"),
    "CreateForeignTableStmt": _foreign_table,
    "AlterDomainStmt": _alter_domain,
    "DefineStmt": _define,
    "DoStmt": _do,
    "AlterFunctionStmt": _alter_function,
    "AlterOwnerStmt": _alter_owner,
    "CreateStatsStmt": _create_stats,
    "RuleStmt": _rule,
    "AlterExtensionStmt": _nothing,
    "VariableSetStmt": _nothing,
    "VariableShowStmt": _nothing,
    "TransactionStmt": _nothing,
    "CheckPointStmt": _nothing,
    "NotifyStmt": _nothing,
    "ListenStmt": _nothing,
    "UnlistenStmt": _nothing,
    "DiscardStmt": _nothing,
    "CreateRoleStmt": _nothing,
    "AlterRoleStmt": _nothing,
    "AlterRoleSetStmt": _nothing,
    "DropRoleStmt": _nothing,
    "GrantRoleStmt": _nothing,
    "AlterDefaultPrivilegesStmt": _nothing,
    "CreateEventTrigStmt": _nothing,
    "CreatePublicationStmt": _nothing,
    "AlterPublicationStmt": _nothing,
    "CreateCastStmt": _nothing,
    "DeallocateStmt": _nothing,
    "PrepareStmt": _nothing,
    "ExecuteStmt": _nothing,
    "ConstraintsSetStmt": _nothing,
    "AlterDatabaseSetStmt": _nothing,
    "AlterDatabaseStmt": _nothing,
    "SecLabelStmt": _nothing,
    "ClusterStmt": _nothing,
    "DropOwnedStmt": _nothing,
    "ReassignOwnedStmt": _nothing,
}


def _dispatch(ctx: Ctx, node: Node) -> None:
    if not node:
        return
    kind, inner = next(iter(node.items()))
    handler = _HANDLERS.get(kind)
    if handler is None:
        ctx.opaque_part(f"{kind} is not understood")
        return
    handler(ctx, inner)


def _dedupe(items: list[Any]) -> tuple[Any, ...]:
    if len(items) < 2:
        return tuple(items)
    return tuple(dict.fromkeys(items))


def _dedupe_requires(ctx: Ctx) -> tuple[Any, ...]:
    """One requirement per object (its first mention), and none for what the statement provides itself."""
    if not ctx.requires:
        return ()
    # seeded with what the statement provides, so one set look-up answers both questions
    seen = set(ctx.creates)
    seen.update(ctx.ensures)
    provided_relations = {(r.schema, r.name) for r in seen if r.kind == "relation"}
    out = []
    for r in ctx.requires:
        ref = r.ref
        size = len(seen)
        seen.add(ref)
        if len(seen) == size:
            continue
        if ref.kind == "column" and (ref.schema, ref.parent) in provided_relations:
            continue
        out.append(r)
    return tuple(out)


def analyze(stmt: Statement, search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH) -> Effect:
    """The :class:`Effect` of one statement; unqualified names resolve in ``search_path[0]``."""
    ctx = Ctx(_source_of(stmt.source), search_path)
    try:
        _dispatch(ctx, stmt.node)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        # a parse tree shape this analysis did not expect: keep the statement, say so
        ctx.opaque_part(f"{stmt.kind} could not be analysed ({type(exc).__name__}: {exc})")
    return Effect(
        creates=_dedupe(ctx.creates),
        ensures=_dedupe(ctx.ensures),
        requires=_dedupe_requires(ctx),
        drops=_dedupe(ctx.drops),
        alters=_dedupe(ctx.alters),
        changes=tuple(ctx.changes),
        opaque="; ".join(ctx.opaque) if ctx.opaque else None,
        transactional=ctx.transactional,
    )


# --------------------------------------------------------------------------
# search_path tracking
# --------------------------------------------------------------------------


def _parse_path(text: str) -> tuple[str, ...]:
    out = []
    for part in text.split(","):
        p = part.strip()
        if not p:
            continue
        if p.startswith('"') and p.endswith('"'):
            out.append(p[1:-1])
        else:
            out.append(p.lower())
    return tuple(out)


def _search_path_change(node: Node, current: tuple[str, ...]) -> tuple[str, ...] | None:
    """New search path if the statement sets one, else None."""
    vs = node.get("VariableSetStmt")
    if vs is not None and vs.get("name") == "search_path":
        if vs.get("kind") == "VAR_SET_VALUE":
            vals: list[str] = []
            for a in vs.get("args") or ():
                s = const_str(a)
                if s is not None:
                    vals.extend(_parse_path(s))
                else:
                    vals.extend(_parse_path(sval(a)))
            return _effective(vals)
        return DEFAULT_SEARCH_PATH  # RESET / SET ... TO DEFAULT
    sel = node.get("SelectStmt")
    if sel is not None:
        for t in sel.get("targetList") or ():
            fc = (t.get("ResTarget", {}).get("val") or {}).get("FuncCall")
            if fc and strings(fc.get("funcname"))[-1:] == ["set_config"]:
                args = fc.get("args") or []
                if len(args) >= 2 and const_str(args[0]) == "search_path":
                    val = const_str(args[1])
                    if val is not None:
                        return _effective(list(_parse_path(val)))
    return None


def _effective(vals: list[str]) -> tuple[str, ...]:
    # "$user" names a schema per role; it only resolves when such a schema exists, so skip it
    path = tuple(v for v in vals if v not in ("$user", "pg_catalog"))
    return path or DEFAULT_SEARCH_PATH


class _PartsTracker:
    """Columns, constraints and triggers of each relation so far, so a rename can say what it moves.

    A statement alone cannot know what the table it renames holds; the
    statements before it (in file order) do.  Dict updates only, on DDL only:
    far cheaper than a full replay.
    """

    def __init__(self) -> None:
        # relation -> [(kind, name)] for kind in column / constraint / trigger, in creation order
        self.parts: dict[QName, list[tuple[str, str]]] = {}

    def _add(self, table: QName, kind: str, name: str, create: bool = False) -> None:
        have = self.parts.setdefault(table, []) if create else self.parts.get(table)
        if have is not None and (kind, name) not in have:
            have.append((kind, name))

    def _remove(self, table: QName, kind: str, name: str) -> None:
        have = self.parts.get(table)
        if have is not None and (kind, name) in have:
            have.remove((kind, name))

    def follow(self, eff: Effect) -> Effect:
        """Follow ``eff``'s changes; a renamed or moved relation also creates what it holds."""
        extra: list[ObjRef] = []
        for c in eff.changes:
            t = type(c)
            if t is ch.PutTable:
                for col in c.table.columns:
                    self._add(c.table.qname, "column", col.name, create=True)
            elif t is ch.PutView:
                self.parts[c.view.qname] = [("column", n) for n in c.view.columns]
            elif t is ch.PutColumn:
                self._add((c.schema, c.table), "column", c.column.name)
            elif t is ch.PutConstraint and c.constraint.name:
                self._add(c.constraint.table, "constraint", c.constraint.name)
            elif t is ch.PutTrigger:
                self._add(c.trigger.table, "trigger", c.trigger.name)
            elif t is ch.CopyColumns:
                for kind, name in list(self.parts.get(c.source, ())):
                    if kind == "column":
                        self._add((c.schema, c.table), kind, name, create=True)
            elif t is ch.DropObject:
                r = c.ref
                if r.kind == "relation":
                    self.parts.pop((r.schema, r.name), None)
                elif r.parent is not None:
                    self._remove((r.schema, r.parent), r.kind, r.name)
            elif t is ch.RenameObject and c.ref.parent is not None:
                r = c.ref
                have = self.parts.get((r.schema, r.parent))
                if have is not None and (r.kind, r.name) in have:
                    have[have.index((r.kind, r.name))] = (r.kind, c.new_name)
            elif (t is ch.RenameObject or t is ch.SetSchema) and c.ref.kind == "relation":
                old = (c.ref.schema, c.ref.name)
                new = (c.ref.schema, c.new_name) if t is ch.RenameObject else (c.new_schema, c.ref.name)
                moved = self.parts.pop(old, None)
                if moved is not None:
                    self.parts[new] = moved
                    extra.extend(ObjRef(k, new[0], n, new[1]) for k, n in moved)  # type: ignore[arg-type]
        if not extra:
            return eff
        return dataclasses.replace(eff, creates=eff.creates + tuple(extra))


def analyze_all(statements: Iterable[Statement]) -> list[AnalyzedStatement]:
    """Analyse statements in order, following search_path changes (reset at each new file)."""
    out: list[AnalyzedStatement] = []
    path: tuple[str, ...] = DEFAULT_SEARCH_PATH
    current_file: SourceFile | None = None
    # The analysis allocates many small, acyclic objects; with the cyclic collector on,
    # each of its passes rescans every parse tree held by the statements, which halves
    # throughput on large migration sets.  Nothing here makes cycles worth collecting.
    tracker = _PartsTracker()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for st in statements:
            if st.source is not current_file:
                current_file = st.source
                path = DEFAULT_SEARCH_PATH
            new = _search_path_change(st.node, path)
            if new is not None:
                path = new
            eff = analyze(st, path)
            if eff.changes:
                eff = tracker.follow(eff)
            out.append(AnalyzedStatement(st, eff))
    finally:
        if gc_was_enabled:
            gc.enable()
    return out


# keep the system-schema set importable from here for callers that filter requirements
__all__ += ["SYSTEM_SCHEMAS"]
