"""Effects of table statements: CREATE TABLE, ALTER TABLE, CREATE INDEX (and CREATE TABLE AS).

Pure.  Part of :mod:`alembic_guard.sql.effects`; see there and ``docs/analysis.md``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

from alembic_guard import changes as ch
from alembic_guard.identity import fold_redundant_keys
from alembic_guard.model import (
    NAMEDATALEN,
    SERIAL_TYPES,
    Column,
    Constraint,
    Index,
    ObjRef,
    QName,
    Sequence,
    Table,
    View,
    choose_name,
)
from alembic_guard.sql.effects_common import Ctx, Node, min_location, strings, sval
from alembic_guard.sql.effects_select import Output, Scope, read_select, walk
from alembic_guard.sql.statement import QueryColumns

TableKind = Literal["table", "partitioned", "foreign", "unlogged"]

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


# the constraints PostgreSQL lets be DEFERRABLE
_DEFERRABLE_KINDS = frozenset({"foreign_key", "unique", "primary_key", "exclude"})


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

    def unique_name(self, name2: str | None, label: str) -> str:
        """The name PostgreSQL chooses for an unnamed constraint: ``table_name2_label``, with
        1, 2, ... after the label when that is taken: within the statement (two keys whose
        names are cut to the same 63 bytes, a second CHECK), or in the schema (a key's index
        name by another table's relation, any constraint's by another table's: :meth:`Known.taken`)."""
        own = {c.name for c in self.constraints if c.name is not None}
        relation = label in ("pkey", "key", "excl")
        taken = self.ctx.known.taken(self.schema, relation, (self.schema, self.table), own)
        name = choose_name(self.table, name2, label, taken)
        self.ctx.named_by_server.append(ObjRef("constraint", self.schema, name, self.table))
        return name

    def drop_redundant_keys(self) -> None:
        """One index per key (:func:`~alembic_guard.identity.fold_redundant_keys`)."""
        self.constraints = fold_redundant_keys(self.constraints, self.explicit)

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
                if ix != name:
                    ctx.drops.append(ObjRef("index", self.schema, ix))  # renamed to the constraint's name
            k = "primary_key" if kind == "CONSTR_PRIMARY" else "unique"
            if name is not None:
                self.explicit.add(name)
            if name is None:
                name = (
                    self.unique_name(None, "pkey")
                    if k == "primary_key"
                    else self.unique_name("_".join(cols), "key")
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
                name = self.unique_name("_".join(cols), "fkey")
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
                name = self.unique_name(used[0] if len(used) == 1 else None, "check")
            walk(ctx, expr, _no_scope())
            return Constraint(name, q, "check", tuple(used), expression=text, validated=validated)
        if kind == "CONSTR_EXCLUSION":
            ex_cols: list[str] = []
            for pair in con.get("exclusions") or ():
                items = pair.get("List", {}).get("items") or pair
                ie = items[0].get("IndexElem", {}) if items else {}
                ex_cols.append(ie.get("name") or "expr")
            if name is None:
                name = self.unique_name("_".join(ex_cols), "excl")
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
            elif kind in ("CONSTR_ATTR_DEFERRABLE", "CONSTR_ATTR_NOT_DEFERRABLE"):
                # a column constraint's DEFERRABLE comes as its own node after the constraint
                if self.constraints and self.constraints[-1].kind in _DEFERRABLE_KINDS:
                    self.constraints[-1] = dataclasses.replace(
                        self.constraints[-1], deferrable=kind == "CONSTR_ATTR_DEFERRABLE"
                    )
            elif kind in ("CONSTR_ATTR_DEFERRED", "CONSTR_ATTR_IMMEDIATE"):
                pass  # INITIALLY ...: not part of the model
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


def create_table(ctx: Ctx, n: Node, kind: TableKind = "table") -> None:
    """CREATE TABLE: a new table; a foreign key takes SHARE ROW EXCLUSIVE on the referenced table."""
    rv = n.get("relation", {})
    if rv.get("relpersistence") == "t":
        _temporary(ctx, lambda: create_table(ctx, {**n, "relation": {**rv, "relpersistence": "p"}}, kind))
        return
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


def _temporary(ctx: Ctx, create: Any) -> None:
    """A temporary table: its name and columns are there for the statements after it (the planner
    orders them), but it lives in the session's own schema, so the schema model never holds it."""
    before = len(ctx.changes)
    create()
    del ctx.changes[before:]
    ctx.opaque = [o for o in ctx.opaque if not o.startswith("CREATE TABLE AS")]


def create_table_as(ctx: Ctx, n: Node) -> None:
    """CREATE TABLE / MATERIALIZED VIEW ... AS: a relation with the query's columns."""
    into = n.get("into", {})
    rv = into.get("rel", {})
    if rv.get("relpersistence") == "t":
        plain = {**n, "into": {**into, "rel": {**rv, "relpersistence": "p"}}}
        _temporary(ctx, lambda: create_table_as(ctx, plain))
        return
    out = read_select(ctx, n.get("query", {}).get("SelectStmt", {}), None, want=True)
    view = None
    if n.get("objtype") == "OBJECT_MATVIEW":
        view = query_text(ctx, n, rv.get("location", -1))
    query_relation(ctx, into, out, bool(n.get("if_not_exists")), view)


def select_into(ctx: Ctx, n: Node) -> None:
    """SELECT ... INTO t: the same as CREATE TABLE t AS SELECT ..."""
    into = n["intoClause"]
    rv = into.get("rel") or {}
    if rv.get("relpersistence") == "t":
        plain = {**n, "intoClause": {**into, "rel": {**rv, "relpersistence": "p"}}}
        _temporary(ctx, lambda: select_into(ctx, plain))
        return
    query_relation(ctx, into, read_select(ctx, n, None, want=True), False, None)


def query_relation(ctx: Ctx, into: Node, out: Output | None, ine: bool, view: str | None) -> None:
    """Provide a table (or, with ``view`` text, a materialized view) whose columns a query gave.

    A table's columns are put in the model when every type is plain to see (columns, casts,
    literals); otherwise the statement stays opaque (its columns are still provided, so later
    statements may use them).  A ``SELECT *`` the analysis cannot expand leaves the relation open.
    """
    rv = into.get("rel", {})
    q = ctx.rangevar(rv)
    ctx.require_schema(q[0], rv.get("location", -1))
    if out is None:
        out = Output(complete=False)
    out = out.final().renamed(strings(into.get("colNames")))
    ctx.provide(ObjRef.relation(*q), ine)
    for c in out.columns:
        ctx.provide(ObjRef.column(q[0], q[1], c), ine)
    ctx.query_columns.append(QueryColumns(q, tuple(out.columns.items()), out.complete))
    if view is not None:
        ctx.changes.append(ch.PutView(View(q[0], q[1], view, True, tuple(out.columns))))
    elif out.complete and all(t is not None for t in out.columns.values()):
        cols = tuple(Column(name, t or "") for name, t in out.columns.items())
        ctx.changes.append(ch.PutTable(Table(q[0], q[1], cols), if_not_exists=ine or ctx.ensure_mode))
    else:
        ctx.opaque_part("CREATE TABLE AS: column types come from the query")


def query_text(ctx: Ctx, n: Node, anchor: int) -> str | None:
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


def alter_table(ctx: Ctx, n: Node) -> None:
    """ALTER TABLE: ACCESS EXCLUSIVE on the table for most subcommands (SHARE UPDATE EXCLUSIVE
    for VALIDATE CONSTRAINT, SET STATISTICS; ADD FOREIGN KEY also takes SHARE ROW EXCLUSIVE on
    the referenced table)."""
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
            walk(ctx, cd["raw_default"], single_scope(schema, table))
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
    elif sub == "AT_AlterConstraint":
        # [NOT] DEFERRABLE / INITIALLY ...: the constraint stays, its timing changes
        ac = d.get("ATAlterConstraint") or d.get("Constraint") or {}
        ref = ObjRef("constraint", schema, ac.get("conname") or name or "", table)
        ctx.require(ref)
        ctx.alters.append(ref)
        # PostgreSQL 18's parser says whether the deferrability changes (it may be ENFORCED only)
        if ac.get("alterDeferrability") or "ATAlterConstraint" not in d:
            ctx.changes.append(
                ch.AlterConstraint(schema, table, ref.name, deferrable=bool(ac.get("deferrable")))
            )
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
        if sub == "AT_ClusterOn" and name:
            ctx.require(ObjRef("index", schema, name))  # CLUSTER ON names an index of the table
        elif name and sub in ("AT_SetStatistics", "AT_SetStorage", "AT_SetCompression", "AT_SetOptions"):
            ctx.require(colref)
    else:
        ctx.opaque_part(f"ALTER TABLE {sub.removeprefix('AT_')} is not understood")


def single_scope(schema: str, table: str) -> Scope:
    s = Scope()
    s.items[table] = ((schema, table), None)
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
    scope = single_scope(*table)
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


def create_index(ctx: Ctx, n: Node) -> None:
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
        taken = ctx.known.taken(table[0], True, table)
        name = choose_name(table[1], _index_addition(name_parts), label, taken)
    predicate = None
    if "whereClause" in n:
        walk(ctx, n["whereClause"], single_scope(*table))
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
        if len(out.encode()) >= NAMEDATALEN:
            break
    return out
