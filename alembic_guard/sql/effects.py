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

This module dispatches on the statement kind and handles the DDL that fits
in a few lines; tables and indexes are in :mod:`.effects_tables`, queries and
data statements in :mod:`.effects_select`, DO blocks in :mod:`.effects_plpgsql`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from alembic_guard import changes as ch
from alembic_guard.model import (
    Column,
    CompositeType,
    Constraint,
    EnumType,
    Extension,
    Function,
    Index,
    ObjRef,
    QName,
    SchemaModel,
    Sequence,
    Trigger,
    View,
)
from alembic_guard.search_path import split_search_path
from alembic_guard.sql.effects_common import (
    SYSTEM_SCHEMAS,
    Ctx,
    Node,
    Source,
    const_str,
    strings,
    sval,
)
from alembic_guard.sql.effects_known import Known
from alembic_guard.sql.effects_plpgsql import analyze_do, call_patterns, function_body
from alembic_guard.sql.effects_select import Output, Scope, read_dml, read_select, walk
from alembic_guard.sql.effects_tables import (
    alter_table,
    create_index,
    create_table,
    create_table_as,
    query_text,
    select_into,
    single_scope,
)
from alembic_guard.sql.parse import gc_paused
from alembic_guard.sql.statement import (
    AnalyzedStatement,
    Effect,
    QueryColumns,
    SourceFile,
    Statement,
    bounded,
)

__all__ = ["analyze", "analyze_all"]

DEFAULT_SEARCH_PATH: tuple[str, ...] = ("public",)

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
# Other DDL
# --------------------------------------------------------------------------


def _create_schema(ctx: Ctx, n: Node) -> None:
    name = n.get("schemaname") or (n.get("authrole") or {}).get("RoleSpec", {}).get("rolename", "")
    ine = bool(n.get("if_not_exists"))
    ctx.provide(ObjRef("schema", "", name), ine)
    ctx.changes.append(ch.PutSchema(name, ine))
    if n.get("schemaElts"):
        inner = Ctx(ctx.src, (name, *ctx.search_path), ctx.loc_shift, ctx.ensure_mode, ctx.known)
        for elt in n["schemaElts"]:
            _dispatch(inner, elt)
        ctx.merge(inner)


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
    # the planner learns the type exists; the model holds no domain fact (nor does the live snapshot)
    ctx.provide(ObjRef("type", *q))


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
    out = read_select(ctx, sel, None, want=True) or Output(complete=False)
    out = out.final().renamed(strings(n.get("aliases")))
    cols = tuple(out.columns)
    replace = bool(n.get("replace"))
    ctx.provide(ObjRef.relation(*q), replace)
    for c in cols:
        ctx.provide(ObjRef.column(q[0], q[1], c), replace)
    ctx.query_columns.append(QueryColumns(q, tuple(out.columns.items()), out.complete))
    ctx.changes.append(
        ch.PutView(View(q[0], q[1], query_text(ctx, n, rv.get("location", -1)), False, cols), replace)
    )


def _function_option(n: Node, name: str) -> Any:
    for o in n.get("options") or ():
        de = o.get("DefElem", {})
        if de.get("defname") == name:
            return de.get("arg")
    return None


_ARG_MODES = {"FUNC_PARAM_INOUT": "INOUT ", "FUNC_PARAM_VARIADIC": "VARIADIC ", "FUNC_PARAM_OUT": "OUT "}


def _create_function(ctx: Ctx, n: Node) -> None:
    """CREATE FUNCTION / PROCEDURE; arguments and result spelled as pg_get_function_identity_arguments()
    and pg_get_function_result() print them, so replay and the live snapshot agree."""
    q = ctx.qualified(strings(n.get("funcname")))
    ctx.require_schema(q[0])
    procedure = bool(n.get("is_procedure"))
    args: list[str] = []
    outs: list[str] = []
    table_cols: list[str] = []
    for p in n.get("parameters") or ():
        fp = p.get("FunctionParameter", {})
        mode = fp.get("mode", "FUNC_PARAM_DEFAULT")
        typ = ctx.type_of(fp.get("argType") or {})
        named = f"{fp['name']} {typ}" if fp.get("name") else typ
        if mode == "FUNC_PARAM_TABLE":
            table_cols.append(named)
            continue
        if mode in ("FUNC_PARAM_OUT", "FUNC_PARAM_INOUT"):
            outs.append(typ)
        # a procedure's OUT arguments are part of its identity, so PostgreSQL labels every mode there
        args.append(_ARG_MODES.get(mode, "IN " if procedure else "") + named)
    returns: str | None = None
    if procedure:
        returns = None
    elif table_cols:
        returns = f"TABLE({', '.join(table_cols)})"
    elif n.get("returnType"):
        returns = ctx.type_of(n["returnType"])
        if returns.startswith("setof "):
            returns = "SETOF " + returns[6:]
    elif outs:
        returns = outs[0] if len(outs) == 1 else "record"
    lang = sval(_function_option(n, "language")).lower() or ("sql" if n.get("sql_body") else None)
    if n.get("sql_body"):
        # a SQL-standard body is checked at creation: what it reads must exist
        # parameters are names inside the body, not columns
        params = frozenset(p.get("FunctionParameter", {}).get("name", "") for p in n.get("parameters") or ())
        saved, ctx.ignore_names = ctx.ignore_names, ctx.ignore_names | params
        walk(ctx, n["sql_body"], Scope())
        ctx.ignore_names = saved
    else:
        function_body(ctx, n, lang, _dispatch)
    replace = bool(n.get("replace"))
    kind = "procedure" if procedure else "function"
    ctx.provide(ObjRef("function", *q), replace)
    ctx.changes.append(
        ch.PutFunction(Function(q[0], q[1], kind, ", ".join(args), returns, lang), replace)  # type: ignore[arg-type]
    )


def _create_trigger(ctx: Ctx, n: Node) -> None:
    """CREATE TRIGGER: SHARE ROW EXCLUSIVE on the table."""
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
    """DROP: ACCESS EXCLUSIVE on what is dropped (SHARE UPDATE EXCLUSIVE for DROP INDEX CONCURRENTLY)."""
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
    """RENAME: ACCESS EXCLUSIVE on the relation (SHARE UPDATE EXCLUSIVE for an index)."""
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
    """TRUNCATE (and LOCK TABLE): ACCESS EXCLUSIVE on each table named."""
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
    scope = single_scope(*q)
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
    create_table(ctx, n.get("base", {}), "foreign")


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
        args = []
        first = (n.get("args") or [{}])[0]
        for p in first.get("List", {}).get("items") or ():
            args.append(ctx.type_of(p.get("FunctionParameter", {}).get("argType") or {}))
        options = {
            d.get("DefElem", {}).get("defname"): d.get("DefElem", {}).get("arg")
            for d in n.get("definition") or ()
        }
        stype = options.get("stype") or {}
        # the result is the state type unless a final function turns it into something else
        returns = (
            ctx.type_of(stype["TypeName"]) if "TypeName" in stype and "finalfunc" not in options else None
        )
        ctx.provide(ObjRef("function", *q), replace)
        ctx.changes.append(
            ch.PutFunction(Function(q[0], q[1], "aggregate", ", ".join(args), returns, "internal"), replace)
        )
    elif kind == "OBJECT_TYPE":
        # a base type: known to the planner, not a fact of the model
        ctx.provide(ObjRef("type", *q), bool(n.get("if_not_exists")))


def _create_range(ctx: Ctx, n: Node) -> None:
    q = ctx.qualified(strings(n.get("typeName")))
    ctx.require_schema(q[0])
    # the planner learns the type exists; the model holds no range fact (nor does the live snapshot)
    ctx.provide(ObjRef("type", *q))


def _outside_transaction(ctx: Ctx, n: Node) -> None:
    """CREATE / DROP DATABASE, CREATE TABLESPACE ...: no model effect, cannot run in a transaction block."""
    ctx.transactional = False


def _nothing(ctx: Ctx, n: Node) -> None:
    """Understood, and no effect on the schema model (SET, BEGIN, roles, NOTIFY ...)."""


def _explain(ctx: Ctx, n: Node) -> None:
    # EXPLAIN without ANALYZE runs nothing, but it still needs what the query reads
    _dispatch(ctx, n.get("query", {}))


def _select(ctx: Ctx, n: Node) -> None:
    if "intoClause" in n:
        select_into(ctx, n)
    else:
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
    """CREATE STATISTICS: the table, and the columns its elements name or their expressions read."""
    tables = []
    for r in n.get("relations") or ():
        rv = r.get("RangeVar", {})
        q = ctx.rangevar(rv)
        tables.append(q)
        ctx.require(ObjRef.relation(*q), rv.get("location", -1))
    if len(tables) != 1:
        return  # PostgreSQL takes one table; a join is not read here
    q = tables[0]
    for e in n.get("exprs") or ():
        elem = e.get("StatsElem", {})
        if elem.get("name"):
            ctx.require(
                ObjRef.column(q[0], q[1], elem["name"]), n["relations"][0]["RangeVar"].get("location", -1)
            )
        elif elem.get("expr") is not None:
            walk(ctx, elem["expr"], single_scope(*q))


def _cluster(ctx: Ctx, n: Node) -> None:
    """CLUSTER t [USING ix]: ACCESS EXCLUSIVE on the table; the index must exist (a bare CLUSTER
    re-clusters every table already marked, and needs nothing)."""
    rv = n.get("relation")
    if rv:
        q = ctx.rangevar(rv)
        ctx.require(ObjRef.relation(*q), rv.get("location", -1))
        if n.get("indexname"):
            ctx.require(ObjRef("index", q[0], n["indexname"]), rv.get("location", -1))


def _rule(ctx: Ctx, n: Node) -> None:
    rv = n.get("relation", {})
    ctx.require(ObjRef.relation(*ctx.rangevar(rv)), rv.get("location", -1))
    for a in n.get("actions") or ():
        _dispatch(ctx, a)


def _do(ctx: Ctx, n: Node) -> None:
    analyze_do(ctx, n, _dispatch)


# --------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------

_HANDLERS: dict[str, Callable[[Ctx, Node], None]] = {
    "CreateStmt": create_table,
    "CreateTableAsStmt": create_table_as,
    "AlterTableStmt": alter_table,
    "IndexStmt": create_index,
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
    "ClusterStmt": _cluster,
    "DropOwnedStmt": _nothing,
    "ReassignOwnedStmt": _nothing,
    "CreateRangeStmt": _create_range,
    "CreatedbStmt": _outside_transaction,
    "DropdbStmt": _outside_transaction,
    "CreateTableSpaceStmt": _outside_transaction,
    "DropTableSpaceStmt": _outside_transaction,
    # objects the model does not hold: understood, no effect
    "CreateFdwStmt": _nothing,
    "AlterFdwStmt": _nothing,
    "CreateForeignServerStmt": _nothing,
    "AlterForeignServerStmt": _nothing,
    "CreateUserMappingStmt": _nothing,
    "AlterUserMappingStmt": _nothing,
    "DropUserMappingStmt": _nothing,
    "CreateAmStmt": _nothing,
    "CreatePLangStmt": _nothing,
    "CreateConversionStmt": _nothing,
    "CreateOpClassStmt": _nothing,
    "CreateOpFamilyStmt": _nothing,
    "AlterOpFamilyStmt": _nothing,
    "CreateTransformStmt": _nothing,
    "CreateSubscriptionStmt": _nothing,
    "AlterSubscriptionStmt": _nothing,
    "DropSubscriptionStmt": _nothing,
    "AlterTSConfigurationStmt": _nothing,
    "AlterTSDictionaryStmt": _nothing,
    "AlterCollationStmt": _nothing,
    "AlterEventTrigStmt": _nothing,
    "AlterStatsStmt": _nothing,
    "AlterOperatorStmt": _nothing,
    "AlterTypeStmt": _nothing,
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
    """One requirement per object (its first mention), and none for what the statement provides itself.

    Keys are plain field tuples, not the ``ObjRef`` values: equal exactly when
    the references are, and hashed in C rather than by the dataclass's Python
    ``__hash__`` (this runs for every reference of every statement).
    """
    requires = ctx.requires
    if not requires:
        return ()
    provided = ctx.creates + ctx.ensures
    if not provided and len(requires) == 1:
        return (requires[0],)
    # seeded with what the statement provides, so one set look-up answers both questions
    seen = {(r.kind, r.schema, r.name, r.parent) for r in provided}
    provided_relations = {(r.schema, r.name) for r in provided if r.kind == "relation"}
    out = []
    for q in requires:
        ref = q.ref
        kind, schema, parent = ref.kind, ref.schema, ref.parent
        key = (kind, schema, ref.name, parent)
        if key in seen:
            continue
        seen.add(key)
        if kind == "column" and (schema, parent) in provided_relations:
            continue
        out.append(q)
    return tuple(out)


def _dedupe_uses(ctx: Ctx, requires: tuple[Any, ...]) -> tuple[Any, ...]:
    """One run-time requirement per object, none for what the statement requires or provides."""
    if not ctx.uses:
        return ()
    seen = {(q.ref.kind, q.ref.schema, q.ref.name, q.ref.parent) for q in requires}
    seen.update((r.kind, r.schema, r.name, r.parent) for r in (*ctx.creates, *ctx.ensures))
    out = []
    for q in ctx.uses:
        r = q.ref
        key = (r.kind, r.schema, r.name, r.parent)
        if key not in seen:
            seen.add(key)
            out.append(q)
    return tuple(out)


def analyze(
    stmt: Statement,
    search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH,
    known: Known | None = None,
    *,
    check_bodies: bool = True,
) -> Effect:
    """The :class:`Effect` of one statement; unqualified names resolve in ``search_path[0]``.

    ``known`` is what the statements before it left (see :class:`Known`): with it, ``SELECT *``
    and views of views have columns, and a table name used as a type is its row type.
    ``check_bodies`` False: ``SET check_function_bodies = off`` is in effect, so what a
    ``LANGUAGE sql`` body reads is needed when the function runs, not when it is created.
    """
    ctx = Ctx(_source_of(stmt.source), search_path, known=known)
    ctx.check_bodies = check_bodies
    try:
        _dispatch(ctx, stmt.node)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        # a parse tree shape this analysis did not expect: keep the statement, say so
        ctx.opaque_part(f"{stmt.kind} could not be analysed ({type(exc).__name__}: {exc})")
    requires = _dedupe_requires(ctx)
    return Effect(
        creates=_dedupe(ctx.creates),
        ensures=_dedupe(ctx.ensures),
        requires=requires,
        drops=_dedupe(ctx.drops),
        alters=_dedupe(ctx.alters),
        changes=tuple(ctx.changes),
        opaque="; ".join(ctx.opaque) if ctx.opaque else None,
        transactional=ctx.transactional,
        query_columns=tuple(ctx.query_columns),
        uses=_dedupe_uses(ctx, requires),
        maybe_drops=_dedupe(ctx.maybe_drops),
        dynamic=tuple(ctx.dynamic),
        named_by_server=_dedupe(ctx.named_by_server),
    )


# --------------------------------------------------------------------------
# search_path tracking
# --------------------------------------------------------------------------


def _search_path_change(node: Node, session: tuple[str, ...]) -> tuple[str, ...] | None:
    """New search path if the statement sets one, else None; ``RESET`` goes back to ``session``'s."""
    vs = node.get("VariableSetStmt")
    if vs is not None and vs.get("name") == "search_path":
        if vs.get("kind") == "VAR_SET_VALUE":
            vals: list[str] = []
            for a in vs.get("args") or ():
                s = const_str(a)
                if s is not None:
                    vals.extend(split_search_path(s))
                else:
                    vals.extend(split_search_path(sval(a)))
            return _effective(vals)
        return session  # RESET / SET ... TO DEFAULT: the role's or database's setting
    sel = node.get("SelectStmt")
    if sel is not None:
        for t in sel.get("targetList") or ():
            fc = (t.get("ResTarget", {}).get("val") or {}).get("FuncCall")
            if fc and strings(fc.get("funcname"))[-1:] == ["set_config"]:
                args = fc.get("args") or []
                if len(args) >= 2 and const_str(args[0]) == "search_path":
                    val = const_str(args[1])
                    if val is not None:
                        return _effective(list(split_search_path(val)))
    return None


_OFF = frozenset({"off", "false", "0", "no", "f", "n"})


def _check_bodies_change(node: Node) -> bool | None:
    """New value of ``check_function_bodies`` if the statement sets it (``SET`` or pg_dump's
    ``SELECT pg_catalog.set_config('check_function_bodies', 'false', false)``), else None."""
    vs = node.get("VariableSetStmt")
    if vs is not None and vs.get("name") == "check_function_bodies":
        if vs.get("kind") != "VAR_SET_VALUE":
            return True  # RESET / SET ... TO DEFAULT
        args = vs.get("args") or []
        val = (const_str(args[0]) or sval(args[0])) if args else None
        if val is None and args:
            c = args[0].get("A_Const", {})
            val = "true" if c.get("boolval", {}).get("boolval") else str(c.get("ival", {}).get("ival", "off"))
        return (val or "").lower() not in _OFF
    sel = node.get("SelectStmt")
    if sel is not None:
        for t in sel.get("targetList") or ():
            fc = (t.get("ResTarget", {}).get("val") or {}).get("FuncCall")
            if fc and strings(fc.get("funcname"))[-1:] == ["set_config"]:
                args = fc.get("args") or []
                if len(args) >= 2 and const_str(args[0]) == "check_function_bodies":
                    return (const_str(args[1]) or "").lower() not in _OFF
    return None


def _effective(vals: list[str]) -> tuple[str, ...]:
    # "$user" names a schema per role; it only resolves when such a schema exists, so skip it
    path = tuple(v for v in vals if v not in ("$user", "pg_catalog"))
    return path or DEFAULT_SEARCH_PATH


_KEY_KINDS = frozenset({"primary_key", "unique", "exclude"})


class _PartsTracker:
    """What each relation holds so far, so a statement can say what it makes implicitly.

    A statement alone cannot know what the table it renames holds, which
    columns ``PARTITION OF`` / ``INHERITS`` / ``LIKE`` copy, which partitions
    a partitioned index is built on, or that an index is the one behind a
    primary key; the statements before it (in file order) do.  Dict updates
    only, on DDL only: far cheaper than a full replay.  The names are
    PostgreSQL's (:func:`changes.clone_index_name`, ``clone_constraint_name``).
    """

    def __init__(self) -> None:
        # relation -> [(kind, name)] for kind in column / constraint / trigger, in creation order
        self.parts: dict[QName, list[tuple[str, str]]] = {}
        self.keys: dict[QName, list[Constraint]] = {}  # index-backed constraints of each table
        self.indexes: dict[QName, list[Index]] = {}  # plain indexes of each (partitioned) table
        self.partitions: dict[QName, list[QName]] = {}
        self.backed: dict[QName, QName] = {}  # (schema, index name) → table of the constraint it backs
        self.owned: dict[QName, list[tuple[str, QName]]] = {}  # table → (column, sequence it owns)
        self.checks: dict[QName, list[Constraint]] = {}  # CHECK / FOREIGN KEY constraints of each table
        self.triggers_of: dict[QName, list[ObjRef]] = {}  # function → the triggers that call it
        self.view_reads: dict[QName, frozenset[QName]] = {}  # view → the relations its query reads

    def _cascade(self, c: ch.DropObject) -> list[ObjRef]:
        """What ``DROP ... CASCADE`` takes besides the object: the triggers calling a dropped
        function, the views (and views of views) reading a dropped relation."""
        r = c.ref
        if r.kind == "function":
            return self.triggers_of.pop((r.schema, r.name), []) if c.cascade else []
        if r.kind != "relation":
            return []
        gone = (r.schema, r.name)
        self.view_reads.pop(gone, None)
        if not c.cascade:
            return []
        out: list[ObjRef] = []
        todo = [gone]
        while todo:
            q = todo.pop()
            for view, reads in list(self.view_reads.items()):
                if q in reads:
                    del self.view_reads[view]
                    self.parts.pop(view, None)
                    out.append(ObjRef.relation(*view))
                    todo.append(view)
        return out

    def _column_dropped(self, table: QName, column: str) -> list[ObjRef]:
        """What ``DROP COLUMN`` takes with the column: PostgreSQL drops every index and table
        constraint involving it (and a key constraint's index with the constraint)."""
        out: list[ObjRef] = []
        kept_ix = []
        for ix in self.indexes.get(table, []):
            if column in ix.columns:
                out.append(ObjRef("index", ix.schema, ix.name))
            else:
                kept_ix.append(ix)
        if table in self.indexes:
            self.indexes[table] = kept_ix
        for registry in (self.keys, self.checks):
            kept = []
            for con in registry.get(table, []):
                if column in con.columns and con.name is not None:
                    out.append(ObjRef("constraint", table[0], con.name, table[1]))
                    self._remove(table, "constraint", con.name)
                    if self.backed.pop((table[0], con.name), None) is not None:
                        out.append(ObjRef("index", table[0], con.name))
                else:
                    kept.append(con)
            if table in registry:
                registry[table] = kept
        return out

    def _dropped_with(self, q: QName) -> list[ObjRef]:
        """What DROP TABLE takes with the table: its owned sequences, its indexes and key indexes."""
        self.checks.pop(q, None)
        out = [ObjRef("sequence", *sq) for _col, sq in self.owned.pop(q, [])]
        out.extend(ObjRef("index", ix.schema, ix.name) for ix in self.indexes.pop(q, []))
        for con in self.keys.pop(q, []):
            if con.name is not None and self.backed.pop((q[0], con.name), None) is not None:
                out.append(ObjRef("index", q[0], con.name))
        return out

    def _forget_index(self, schema: str, name: str, renamed: str | None = None) -> None:
        """A plain index dropped (or renamed): DROP COLUMN must not claim it under its old name."""
        for lst in self.indexes.values():
            for i, ix in enumerate(lst):
                if ix.schema == schema and ix.name == name:
                    if renamed is None:
                        del lst[i]
                    else:
                        lst[i] = dataclasses.replace(ix, name=renamed)
                    return

    def _add(self, table: QName, kind: str, name: str, create: bool = False) -> None:
        have = self.parts.setdefault(table, []) if create else self.parts.get(table)
        if have is not None and (kind, name) not in have:
            have.append((kind, name))

    def _remove(self, table: QName, kind: str, name: str) -> None:
        have = self.parts.get(table)
        if have is not None and (kind, name) in have:
            have.remove((kind, name))

    def _key(self, con: Constraint, made: list[ObjRef]) -> None:
        """An index-backed constraint: its index exists too, and so do its clones on partitions."""
        if con.name is None:
            return
        s = con.table[0]
        self.keys.setdefault(con.table, []).append(con)
        self.backed[(s, con.name)] = con.table
        made.append(ObjRef("index", s, con.name))
        for child in self.partitions.get(con.table, ()):
            name = ch.clone_constraint_name(con, child)
            if name is not None:
                self._add(child, "constraint", name)
                made.append(ObjRef("constraint", child[0], name, child[1]))
                self._key(dataclasses.replace(con, name=name, table=child), made)

    def _index(self, ix: Index, made: list[ObjRef]) -> None:
        """A plain index; on a partitioned table PostgreSQL builds one on every partition."""
        self.indexes.setdefault(ix.table, []).append(ix)
        for child in self.partitions.get(ix.table, ()):
            name = ch.clone_index_name(ix, child)
            made.append(ObjRef("index", child[0], name))
            self._index(dataclasses.replace(ix, schema=child[0], name=name, table=child), made)

    def _copy(self, c: ch.CopyColumns, made: list[ObjRef]) -> None:
        new = (c.schema, c.table)
        for kind, name in list(self.parts.get(c.source, ())):
            if kind == "column":
                self._add(new, kind, name, create=True)
                made.append(ObjRef.column(c.schema, c.table, name))
        if c.mode != "partition":
            return
        self.partitions.setdefault(c.source, []).append(new)
        for con in list(self.keys.get(c.source, ())):
            cname = ch.clone_constraint_name(con, new)
            if cname is not None:
                self._add(new, "constraint", cname, create=True)
                made.append(ObjRef("constraint", c.schema, cname, c.table))
                self._key(dataclasses.replace(con, name=cname, table=new), made)
        for ix in list(self.indexes.get(c.source, ())):
            iname = ch.clone_index_name(ix, new)
            made.append(ObjRef("index", c.schema, iname))
            self._index(dataclasses.replace(ix, schema=c.schema, name=iname, table=new), made)

    def follow(self, eff: Effect) -> Effect:
        """Follow ``eff``'s changes; add what they make (or remove) implicitly to its effect."""
        extra: list[ObjRef] = []
        gone: list[ObjRef] = []
        for c in eff.changes:
            t = type(c)
            if t is ch.PutTable:
                for col in c.table.columns:
                    self._add(c.table.qname, "column", col.name, create=True)
            elif t is ch.PutView:
                self.parts[c.view.qname] = [("column", n) for n in c.view.columns]
                self.view_reads[c.view.qname] = frozenset(
                    (q.ref.schema, q.ref.name) for q in eff.requires if q.ref.kind == "relation"
                )
            elif t is ch.PutColumn:
                self._add((c.schema, c.table), "column", c.column.name)
            elif t is ch.PutConstraint and c.constraint.name:
                self._add(c.constraint.table, "constraint", c.constraint.name)
                if c.constraint.kind in _KEY_KINDS:
                    self._key(c.constraint, extra)
                else:
                    self.checks.setdefault(c.constraint.table, []).append(c.constraint)
            elif t is ch.PutIndex:
                self._index(c.index, extra)
            elif t is ch.PutTrigger:
                self._add(c.trigger.table, "trigger", c.trigger.name)
                if c.trigger.function is not None:
                    tr = ObjRef("trigger", c.trigger.table[0], c.trigger.name, c.trigger.table[1])
                    calls = self.triggers_of.setdefault(c.trigger.function, [])
                    if tr not in calls:
                        calls.append(tr)
            elif t is ch.CopyColumns:
                self._copy(c, extra)
            elif t is ch.PutSequence and c.sequence.owned_by is not None:
                s, tb, col = c.sequence.owned_by
                self.owned.setdefault((s, tb), []).append((col, c.sequence.qname))
            elif t is ch.DropObject:
                r = c.ref
                gone.extend(self._cascade(c))
                if r.kind == "trigger" or r.kind == "relation":
                    # a trigger dropped (alone or with its table) is not taken again by a cascade
                    for calls in self.triggers_of.values():
                        calls[:] = [
                            x
                            for x in calls
                            if not (
                                x == r
                                or (r.kind == "relation" and (x.schema, x.parent) == (r.schema, r.name))
                            )
                        ]
                if r.kind == "relation":
                    q = (r.schema, r.name)
                    self.parts.pop(q, None)
                    gone.extend(self._dropped_with(q))
                elif r.kind == "index":
                    self._forget_index(r.schema, r.name)
                elif r.kind == "column" and r.parent is not None:
                    # a serial / identity column's sequence goes with it
                    owned = self.owned.get((r.schema, r.parent), [])
                    gone.extend(ObjRef("sequence", *sq) for col, sq in owned if col == r.name)
                    owned[:] = [(col, sq) for col, sq in owned if col != r.name]
                    self._remove((r.schema, r.parent), r.kind, r.name)
                    gone.extend(self._column_dropped((r.schema, r.parent), r.name))
                elif r.parent is not None:
                    self._remove((r.schema, r.parent), r.kind, r.name)
                    if r.kind == "constraint":
                        for registry in (self.keys, self.checks):
                            cons = registry.get((r.schema, r.parent))
                            if cons:
                                cons[:] = [x for x in cons if x.name != r.name]
                    if r.kind == "constraint" and self.backed.pop((r.schema, r.name), None) is not None:
                        gone.append(ObjRef("index", r.schema, r.name))  # its index goes with it
            elif t is ch.RenameObject and c.ref.parent is not None:
                r = c.ref
                have = self.parts.get((r.schema, r.parent))
                if have is not None and (r.kind, r.name) in have:
                    have[have.index((r.kind, r.name))] = (r.kind, c.new_name)
                if r.kind == "constraint" and (r.schema, r.name) in self.backed:
                    # renaming the constraint renames its index
                    self.backed[(r.schema, c.new_name)] = self.backed.pop((r.schema, r.name))
                    gone.append(ObjRef("index", r.schema, r.name))
                    extra.append(ObjRef("index", r.schema, c.new_name))
            elif t is ch.RenameObject and c.ref.kind == "index" and (c.ref.schema, c.ref.name) in self.backed:
                # ALTER INDEX t_pkey RENAME TO ...: the constraint it backs is renamed with it
                r = c.ref
                table = self.backed.pop((r.schema, r.name))
                self.backed[(r.schema, c.new_name)] = table
                self._remove(table, "constraint", r.name)
                self._add(table, "constraint", c.new_name)
                gone.append(ObjRef("constraint", r.schema, r.name, table[1]))
                extra.append(ObjRef("constraint", r.schema, c.new_name, table[1]))
            elif t is ch.RenameObject and c.ref.kind == "index":
                self._forget_index(c.ref.schema, c.ref.name, c.new_name)
            elif (t is ch.RenameObject or t is ch.SetSchema) and c.ref.kind == "relation":
                old = (c.ref.schema, c.ref.name)
                new = (c.ref.schema, c.new_name) if t is ch.RenameObject else (c.new_schema, c.ref.name)
                for d in (self.keys, self.indexes, self.partitions, self.owned, self.checks):
                    if old in d:
                        d[new] = d.pop(old)  # type: ignore[assignment]
                for ix, table in list(self.backed.items()):
                    if table == old:
                        self.backed[ix] = new
                moved = self.parts.pop(old, None)
                if moved is not None:
                    self.parts[new] = moved
                    extra.extend(ObjRef(k, new[0], n, new[1]) for k, n in moved)  # type: ignore[arg-type]
        if not extra and not gone:
            return eff
        # what a CREATE ... IF NOT EXISTS makes implicitly, it only ensures
        ensured = bool(eff.ensures) and not eff.creates
        already = set(eff.creates) | set(eff.ensures)
        extra = [r for r in dict.fromkeys(extra) if r not in already]
        return dataclasses.replace(
            eff,
            creates=eff.creates if ensured else eff.creates + tuple(extra),
            ensures=eff.ensures + tuple(extra) if ensured else eff.ensures,
            drops=eff.drops + tuple(r for r in dict.fromkeys(gone) if r not in eff.drops),
        )


def analyze_all(
    statements: Iterable[Statement],
    start: SchemaModel | None = None,
    *,
    search_path: Iterable[str] = DEFAULT_SEARCH_PATH,
) -> list[AnalyzedStatement]:
    """Analyse statements in order, following search_path changes (reset at each new file).

    Each statement is analysed knowing what the ones before it left (and ``start``, the
    database they run on, when known): see :class:`Known`.  ``search_path``: the one each
    file starts with, as the session running it has it (a role's or database's
    ``SET search_path``; see :mod:`alembic_guard.search_path`).
    """
    out: list[AnalyzedStatement] = []
    known = Known.from_model(start)
    session: tuple[str, ...] = tuple(search_path) or DEFAULT_SEARCH_PATH
    path = session
    current_file: SourceFile | None = None
    # The analysis allocates many small, acyclic objects; with the cyclic collector on,
    # each of its passes rescans every parse tree held by the statements, which halves
    # throughput on large migration sets.  Nothing here makes cycles worth collecting.
    tracker = _PartsTracker()
    calls = _DynamicCalls()
    check_bodies = True
    with gc_paused():
        for st in statements:
            if st.source is not current_file:
                current_file = st.source
                path = session
                check_bodies = True
            new = _search_path_change(st.node, session)
            if new is not None:
                path = new
            checks = _check_bodies_change(st.node)
            if checks is not None:
                check_bodies = checks
            eff = analyze(st, path, known, check_bodies=check_bodies)
            if eff.changes:
                eff = tracker.follow(eff)
            eff = calls.follow(st, eff, path, known)
            if eff.changes or eff.creates or eff.ensures:
                known.follow(eff)
            out.append(AnalyzedStatement(st, eff))
    return out


# ``DROP FUNCTION f(int)``, ``ALTER FUNCTION``, ``COMMENT ON FUNCTION``, ``GRANT ... ON FUNCTION``:
# the name is followed by its argument types, not called
_NAMED_NOT_CALLED = re.compile(
    r"\b(?:function|procedure|routine)\s+(?:if\s+exists\s+)?(?:(?:\"[^\"]*\"|[\w$]+)\s*\.\s*)?$", re.I
)


def _func_calls(node: Any, name: str) -> Iterator[Node]:
    """The ``FuncCall`` nodes calling ``name`` (any schema) in a parse tree."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            fc = n.get("FuncCall")
            if isinstance(fc, dict) and [sval(x) for x in fc.get("funcname") or ()][-1:] == [name]:
                yield fc
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)


class _DynamicCalls:
    """Functions whose body creates objects (statically or through dynamic SQL), and their calls.

    Creating such a function creates nothing; a statement that calls it (``SELECT
    make_partitions()``, ``CALL``, ``PERFORM`` in a DO block) may create what its body does.
    Calls are found by name in the statement's text, and only once such a function exists:
    most sets have none, and then this costs one dictionary check per statement.
    """

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[str, ...]] = {}  # function name → patterns
        self.defs: dict[str, Node] = {}  # function name → its CREATE FUNCTION (inner dict)
        self._pattern: re.Pattern[str] | None = None

    def _bound(self, st: Statement, name: str, path: tuple[str, ...], known: Known) -> list[str] | None:
        """The patterns of the calls of ``name`` in ``st``'s tree, each read with its constant
        arguments bound (None: no call there with a constant argument, or a body not read)."""
        fn = self.defs.get(name)
        if fn is None:
            return None
        out: list[str] = []
        found = False
        for call in _func_calls(st.node, name):
            ctx = Ctx(Source(""), path, None, False, known)
            got = call_patterns(ctx, fn, list(call.get("args") or ()), _dispatch)
            if got is None:
                return None
            found = True
            out.extend(p for p in got if p not in out)
        return out if found else None

    def follow(self, st: Statement, eff: Effect, path: tuple[str, ...], known: Known) -> Effect:
        if st.kind == "CreateFunctionStmt":
            if eff.dynamic:
                name = next((r.name for r in eff.provides if r.kind == "function"), None)
                if name is not None:
                    self.bodies[name] = eff.dynamic
                    self.defs[name] = st.node["CreateFunctionStmt"]
                    self._pattern = re.compile(
                        r"\b("
                        + "|".join(map(re.escape, sorted(self.bodies, key=len, reverse=True)))
                        + r")\s*\(",
                        re.I,
                    )
                return dataclasses.replace(eff, dynamic=())
            return eff
        if self._pattern is None:
            return eff
        found = {
            m.group(1).lower()
            for m in self._pattern.finditer(st.text)
            if not _NAMED_NOT_CALLED.search(st.text, max(0, m.start() - 200), m.start())
        }
        called = [f for f in sorted(found) if f in self.bodies]
        if not called:
            return eff
        patterns = list(eff.dynamic)
        for f in called:
            bound = self._bound(st, f, path, known)
            patterns.extend(p for p in (bound if bound is not None else self.bodies[f]) if p not in patterns)
        if all(bounded(p) for p in patterns):
            # every name it may create is known but for its run-time part: understood (and kept
            # in place, see Effect.kept_in_place)
            return dataclasses.replace(eff, dynamic=tuple(patterns))
        why = "calls " + ", ".join(f"{f}()" for f in called) + ", whose body creates objects"
        return dataclasses.replace(
            eff, dynamic=tuple(patterns), opaque=f"{eff.opaque}; {why}" if eff.opaque else why
        )


# keep the system-schema set importable from here for callers that filter requirements
__all__ += ["SYSTEM_SCHEMAS"]
