"""Guarded ``execute``: raw SQL, statement by statement, through the analysis.

Each statement is parsed and analysed (:mod:`alembic_guard.sql`).  A
statement whose effects the model already holds is skipped (``CREATE TABLE x``
when ``x`` exists with a compatible shape, ``CREATE INDEX`` whose index exists
and is valid, ``ADD COLUMN`` of a column that is there); a ``CREATE TABLE`` of
an existing, older table adds the missing columns and constraints through the
guarded operations; the rest runs as written and its changes are applied to
the model.  Statements the analysis does not understand run as written and
are recorded as unguarded.  Non-string arguments (SQLAlchemy constructs) go to
Alembic's own implementation untouched.

On a re-run of the history (the ledger says this revision was applied here
before) a statement is first judged against what the whole history leaves
(:mod:`alembic_guard.decide.history`): when everything it touches is already
so, it is skipped, whatever its own rules below would do.
"""

from __future__ import annotations

import logging
from typing import Any

from alembic.operations import ops as aops

from alembic_guard import ddl
from alembic_guard.decide.columns import needs_rows_check
from alembic_guard.decide.statements import RawStatement, decide_statement
from alembic_guard.decide.tables import CreateTable, decide_create_table
from alembic_guard.model import Column, ObjRef, QName, Table, format_qname
from alembic_guard.ops.base import Guard
from alembic_guard.ops.context import GuardContext
from alembic_guard.ops.indexes import index_table
from alembic_guard.ops.registry import Impl
from alembic_guard.search_path import op_schema, search_path, unqualified_schema

log = logging.getLogger("alembic_guard.ops")


def execute(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """Run ``op.execute(sql)`` statement by statement; locks are those of the statements."""
    sqltext = operation.sqltext
    if not isinstance(sqltext, str):
        g = Guard(operations, ctx, "execute", type(sqltext).__name__)
        g.original(original, operation)
        g.unguarded("an SQLAlchemy construct, not SQL text: not analysed")
        return
    from alembic_guard.sql.effects import analyze_all
    from alembic_guard.sql.parse import parse_text

    statements = parse_text(sqltext, f"<op.execute in revision {ctx.revision}>")
    analyzed = [(a.statement, a.effect) for a in analyze_all(statements, search_path=search_path())]
    offline = bool(operations.migration_context.as_sql)
    if not offline:
        touched: set[QName] = set()
        for _, eff in analyzed:
            for ref in (*eff.provides, *(r.ref for r in eff.requires), *eff.drops, *eff.alters):
                if ref.kind == "relation":
                    touched.add((ref.schema, ref.name))
                elif ref.table is not None:
                    touched.add(ref.table)
        ctx.ensure_loaded(operations.migration_context.connection, touched)  # one batched read
        # again, knowing the tables: SELECT * in a view or CREATE TABLE AS then has its columns
        analyzed = [
            (a.statement, a.effect) for a in analyze_all(statements, ctx.model, search_path=search_path())
        ]
    for st, eff in analyzed:
        g = Guard(operations, ctx, "execute", st.excerpt(60))
        run = aops.ExecuteSQLOp(st.text, execution_options=operation.execution_options)
        if offline:
            g.note("online: skipped when its effects are already in the database")
            g.original(original, run)
            continue
        if ctx.rerun and not eff.changes and eff.opaque is None:
            gone = _dynamic_gone(g, st, eff)
            if gone is not None:
                g.skip(gone)
                continue
        if ctx.rerun and _replayable(st, eff):
            from alembic_guard.decide.history import effect_changes

            _read_objects(g, eff)
            done = ctx.settled(effect_changes(eff), eff.named_by_server)
            if done is not None:
                g.skip(done)
                continue
        if eff.kept_in_place:
            made = [r for r in eff.provides if r.kind == "relation"]
            if st.kind == "CreateTableAsStmt" and made and all(g.model.has(r) for r in made):
                # a re-run: PostgreSQL would fail with 42P07 (and IF NOT EXISTS skip)
                shown = ", ".join(str(r) for r in made)
                g.skip(f"already there: {shown} (its columns come from the query: not compared)")
                continue
            g.original(original, run)
            _apply(ctx, eff)
            _learn_made(ctx, operations.migration_context.connection, st, eff)
            if _cascades(eff):
                ctx.cascaded(operations.migration_context.connection)
            if eff.dynamic or eff.maybe_drops:
                ctx.forget()  # dynamic SQL or a condition: the catalog alone knows what happened
            g.unguarded(eff.opaque or "dynamic SQL may create " + ", ".join(eff.dynamic))
            continue
        put_table = next((c for c in eff.changes if type(c).__name__ == "PutTable"), None)
        if put_table is not None and g.model.table(*put_table.table.qname) is not None:
            _reconcile(g, operations, put_table.table, eff, put_table.if_not_exists)
            continue
        _read_objects(g, eff)
        decision = decide_statement(g.model, raw_statement(st, eff), ctx.later_changes(), ctx.rerun)
        if decision.verdict == "refuse":
            raise g.refuse(decision.reason, hint=decision.hint, details=decision.details)
        if decision.verdict == "skip":
            g.skip(decision.reason, decision.details)
            continue
        if st.kind == "CreatePolicyStmt" and _policy_exists(g, st):
            g.skip("already there: the policy exists (its definition is not compared)")
            continue
        if st.kind == "CreateStatsStmt" and _statistics_exist(g, st):
            g.skip("already there: the statistics object exists (its definition is not compared)")
            continue
        absent = _missing_requirement(ctx, eff)
        gone = ctx.gone_with_history(absent) if absent is not None else None
        if gone is not None:  # re-running the history: what it needs, a later revision dropped
            g.skip(gone)
            continue
        if absent is not None:
            g.missing(
                f"{absent} does not exist (needed by {st.where})",
                hint="run the statement that creates it first (is it in a later revision?)",
            )
            continue
        _drop_invalid_indexes(g, eff)
        g.original(original, run)
        _apply(ctx, eff)
        _learn_made(ctx, operations.migration_context.connection, st, eff)
        if _cascades(eff):
            ctx.cascaded(operations.migration_context.connection)
        if eff.maybe_drops:
            ctx.forget()  # a conditional DROP: the catalog alone knows whether it ran
        g.acted("ran")


def _dynamic_gone(g: Guard, st: Any, eff: Any) -> str | None:
    """On a re-run of the history, why dynamic SQL that only makes relations of known patterns
    (``SELECT make_partitions('events', 4)``: ``relation:public.events_*``) needs no running:
    neither the state the history ends in nor the database has one (the later revisions dropped
    them, with the table they hang on, which running it again would fail to find).  ``None``:
    it runs.  One catalog read per pattern."""
    import sqlalchemy as sa

    from alembic_guard.decide.history import made_by_pattern, relation_patterns

    end = g.ctx.history_end()
    if end is None:
        return None
    # the statement alone may not show it (its function was made by an earlier revision)
    dynamic = eff.dynamic or end.dynamic.get(st.text, ())
    patterns = relation_patterns(dynamic)
    if not patterns or made_by_pattern(end, dynamic):
        return None
    query = (
        "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = CAST(:s AS text) AND c.relname LIKE CAST(:p AS text) LIMIT 1"
    )
    for schema, glob in patterns:
        like = glob.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
        like = like.replace("*", "%").replace("?", "_")
        if g.mc.connection.execute(sa.text(query), {"s": schema, "p": like}).first() is not None:
            return None
    shown = ", ".join(dynamic)
    return f"re-running the history: what it may make ({shown}) is gone, as the later revisions leave it"


def _replayable(st: Any, eff: Any) -> bool:
    """Do the statement's model changes say all it does to the schema (so that a re-run can be
    judged by them)?  Not for dynamic SQL, a conditional drop, or a statement not understood,
    except ``CREATE TABLE ... AS``, whose only unknowns are its column types."""
    if not (eff.changes or eff.creates) or eff.dynamic or eff.maybe_drops:
        return False
    return eff.opaque is None or st.kind == "CreateTableAsStmt"


def _apply(ctx: GuardContext, eff: Any) -> None:
    from alembic_guard.changes import apply

    for change in eff.changes:
        apply(ctx.model, change)


def _learn_made(ctx: GuardContext, connection: Any, st: Any, eff: Any) -> None:
    """Put into the model the relations the statement made that its changes do not describe.

    ``CREATE TABLE ... AS`` has column types only the query knows: the new
    table is read from the catalog (one round trip), so that the next
    statements (a primary key, an index, a view of it) find it.  A temporary
    table lives in the session's own schema, out of the catalog read's
    reach: it is held under the name the statements use, with the columns
    the analysis knows, until it is dropped.
    """
    made = [r for r in eff.provides if r.kind == "relation" and not ctx.model.has(r)]
    if not made:
        return
    ctx.reread(connection, [(r.schema, r.name) for r in made])
    if not _temporary(st):
        return
    for r in made:
        if not ctx.model.has(r):
            columns = tuple(
                Column(c.name, "unknown")
                for c in eff.provides
                if c.kind == "column" and (c.schema, c.parent) == (r.schema, r.name)
            )
            ctx.model.put_table(Table(r.schema, r.name, columns))


def _temporary(st: Any) -> bool:
    """Does the statement create a temporary relation (``CREATE TEMP TABLE [... AS]``)?"""
    node = st.node.get(st.kind, {}) if isinstance(st.node, dict) else {}
    rel = node.get("relation") or (node.get("into") or {}).get("rel") or {}
    return rel.get("relpersistence") == "t"


def _cascades(eff: Any) -> bool:
    """Did the statement drop with CASCADE (objects that depend on the dropped ones went too)?"""
    return any(type(c).__name__ == "DropObject" and c.cascade for c in eff.changes)


def _missing_requirement(ctx: GuardContext, eff: Any) -> Any:
    """The first object the statement needs that the model does not have (an ``ObjRef``), or ``None``.

    Tables and columns are always checked (the touched tables were loaded);
    other kinds only when the model holds the whole schema.
    """
    for req in eff.requires:
        ref = req.ref
        if ref.kind not in ("relation", "column") and not ctx._complete:
            continue
        if not ctx.model.has(ref):
            return ref
    return None


def raw_statement(st: Any, eff: Any) -> RawStatement:
    """The analysed statement as the pure decision reads it."""
    node = st.node.get(st.kind, {}) if isinstance(st.node, dict) else {}
    return RawStatement(
        st.text,
        st.kind,
        tuple(eff.creates) + tuple(r for r in eff.ensures if r not in eff.creates),
        tuple(eff.drops),
        tuple(eff.changes),
        replace=bool(node.get("replace")),
        missing_ok=bool(node.get("missing_ok")),
        ensures=tuple(r for r in eff.ensures if r not in eff.creates),
        named_by_server=tuple(eff.named_by_server),
    )


# objects the table read does not bring: looked up by name when a statement names them
_BY_NAME = {
    "type": (
        "SELECT t.typtype::text, coalesce(array_agg(e.enumlabel::text ORDER BY e.enumsortorder) "
        "FILTER (WHERE e.enumlabel IS NOT NULL), '{}') FROM pg_catalog.pg_type t "
        "JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
        "LEFT JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid "
        "WHERE n.nspname = CAST(:s AS text) AND t.typname = CAST(:n AS text) GROUP BY t.typtype"
    ),
    "function": (
        "SELECT pg_catalog.pg_get_function_identity_arguments(p.oid) FROM pg_catalog.pg_proc p "
        "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = CAST(:s AS text) AND p.proname = CAST(:n AS text) ORDER BY p.oid LIMIT 1"
    ),
    "sequence": (
        "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = CAST(:s AS text) AND c.relname = CAST(:n AS text) AND c.relkind = 'S'"
    ),
    "schema": "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = CAST(:n AS text)",
    "extension": "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = CAST(:n AS text)",
}


def _read_objects(g: Guard, eff: Any) -> None:
    """Put into the model, from the catalog, the non-table objects the statement creates, drops or renames.

    Read-only; one small query per object, only for statements that name
    such objects (types, functions, sequences, indexes of tables not read,
    schemas, extensions).  An index's table is then read as a whole.
    """
    import sqlalchemy as sa

    from alembic_guard.model import CompositeType, EnumType, Extension, Function, Sequence

    conn = g.mc.connection
    types_altered = {r for r in eff.alters if r.kind == "type"}  # ALTER TYPE ... ADD VALUE
    for ref in {*eff.creates, *eff.ensures, *eff.drops, *types_altered}:
        q = (ref.schema, ref.name)
        if ref.kind == "index":
            table = index_table(conn, q)
            if table is None:
                g.model.indexes.pop(q, None)
            else:
                g.ctx.ensure_loaded(conn, [table])
            continue
        query = _BY_NAME.get(ref.kind)
        if query is None:
            continue
        row = conn.execute(sa.text(query), {"s": ref.schema, "n": ref.name}).first()
        if ref.kind == "type":
            g.model.enums.pop(q, None)
            g.model.composites.pop(q, None)
            if row is not None and row[0] == "e":
                g.model.enums[q] = EnumType(q[0], q[1], tuple(row[1]))
            elif row is not None:
                g.model.composites[q] = CompositeType(q[0], q[1])
        elif ref.kind == "function":
            if row is None:
                g.model.functions.pop(q, None)
            elif q not in g.model.functions:
                g.model.functions[q] = Function(q[0], q[1], arguments=str(row[0]))
        elif ref.kind == "sequence":
            if row is None:
                g.model.sequences.pop(q, None)
            elif q not in g.model.sequences:
                g.model.sequences[q] = Sequence(q[0], q[1])
        elif ref.kind == "schema":
            if row is None:
                g.model.schemas.discard(ref.name)
            else:
                g.model.schemas.add(ref.name)
        elif ref.kind == "extension":
            if row is None:
                g.model.extensions.pop(ref.name, None)
            elif ref.name not in g.model.extensions:
                g.model.extensions[ref.name] = Extension(ref.name, version=str(row[0]))


def _policy_exists(g: Guard, st: Any) -> bool:
    """``CREATE POLICY``: is a policy of that name on that table there?  (read-only)"""
    import sqlalchemy as sa

    node = st.node.get("CreatePolicyStmt", {})
    name = node.get("policy_name")
    rel = node.get("table", {})
    if not name or not rel.get("relname"):
        return False
    query = (
        "SELECT 1 FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE p.polname = CAST(:p AS text) AND c.relname = CAST(:t AS text) AND n.nspname = CAST(:s AS text)"
    )
    params = {"p": name, "t": rel["relname"], "s": rel.get("schemaname") or unqualified_schema()}
    return g.mc.connection.execute(sa.text(query), params).first() is not None


def _statistics_exist(g: Guard, st: Any) -> bool:
    """``CREATE STATISTICS``: is an extended statistics object of that name there?  (read-only)"""
    import sqlalchemy as sa

    names = [
        n.get("String", {}).get("sval") for n in st.node.get("CreateStatsStmt", {}).get("defnames") or ()
    ]
    if not names or not names[-1]:
        return False
    schema = names[-2] if len(names) > 1 else unqualified_schema()
    query = (
        "SELECT 1 FROM pg_catalog.pg_statistic_ext s "
        "JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace "
        "WHERE s.stxname = CAST(:s AS text) AND n.nspname = CAST(:n AS text)"
    )
    return g.mc.connection.execute(sa.text(query), {"s": names[-1], "n": schema}).first() is not None


def _drop_invalid_indexes(g: Guard, eff: Any) -> None:
    """An INVALID index of the name would satisfy ``IF NOT EXISTS`` and never be built."""
    for ref in eff.provides:
        ix = g.model.indexes.get((ref.schema, ref.name)) if ref.kind == "index" else None
        if ix is not None and not ix.valid:
            g.run(f"DROP INDEX IF EXISTS {g.table_sql(ix.qname)}")
            del g.model.indexes[ix.qname]


def _reconcile(g: Guard, operations: Any, want: Table, eff: Any, if_not_exists: bool) -> None:
    """``CREATE TABLE`` of a table that exists: add what is missing through the guards.

    Decided as the typed ``create_table`` is (:func:`decide_create_table`): a
    column there with another definition is refused, unless a later revision
    explains it (re-running a history) or the statement says ``IF NOT EXISTS``
    (PostgreSQL then keeps the table as it is: kept, with a warning showing
    both definitions); a column a later revision renamed is not added back.
    """
    cons = tuple(c.constraint for c in eff.changes if type(c).__name__ == "PutConstraint")
    spec = CreateTable(want, cons, if_not_exists=if_not_exists)
    d, rec = decide_create_table(g.model, spec, g.ctx.later_changes(), source="SQL", rerun=g.ctx.rerun)
    if d.verdict == "refuse":
        raise g.refuse(
            d.reason.replace("the table", f"table {format_qname(want.qname)}"), hint=d.hint, details=d.details
        )
    if rec is None:
        if d.details:  # IF NOT EXISTS kept columns of another definition
            log.warning("execute %s: %s\n%s", g.target, d.reason, d.details)
        g.skip(d.reason)
        return
    for col in want.columns:
        if col.name in rec.columns:
            gone = g.ctx.gone_with_history(ObjRef.column(want.schema, want.name, col.name))
            if gone is not None:  # re-running the history: a later revision dropped it
                log.info("execute %s: column %s not added: %s", g.target, col.name, gone)
                continue
            _add_column(g, want.qname, col)
    for con in rec.constraints:
        op = _constraint_op(con, g.model)
        if op is not None:
            operations.invoke(op)
    if d.details:  # IF NOT EXISTS kept columns of another definition
        log.warning("execute %s: %s\n%s", g.target, d.reason, d.details)
    g.acted(d.reason)


def _add_column(g: Guard, q: QName, col: Column) -> None:
    t = g.table_sql(q)
    if needs_rows_check(col) and g.query(f"SELECT EXISTS (SELECT 1 FROM {t})")[0][0]:
        raise g.refuse(
            f"{format_qname(q)} has rows, and NOT NULL column {col.name} has no default",
            hint="add the column as nullable, fill it, then set NOT NULL; or give it a DEFAULT",
        )
    # identity and generated columns as they were declared (the one DDL source)
    g.run(ddl.add_column_sql(q, col))
    g.model.put_column(q[0], q[1], col)


def _constraint_op(con: Any, model: Any) -> Any:
    t = con.table
    schema = op_schema(t[0])
    if con.kind == "foreign_key":
        ref = con.ref_table
        # REFERENCES t without a column list: the referenced table's primary key, as PostgreSQL takes it
        ref_columns = list(con.ref_columns) or next(
            (list(c.columns) for c in model.constraints_of(*ref) if c.kind == "primary_key"), []
        )
        if len(ref_columns) != len(con.columns):
            return None  # no key known to pair with: left to PostgreSQL's own statement, not guessed
        return aops.CreateForeignKeyOp(
            con.name,
            t[1],
            ref[1],
            list(con.columns),
            ref_columns,
            source_schema=schema,
            referent_schema=op_schema(ref[0]),
            ondelete=con.on_delete,
            onupdate=con.on_update,
        )
    if con.kind == "unique":
        return aops.CreateUniqueConstraintOp(con.name, t[1], list(con.columns), schema=schema)
    if con.kind == "check" and con.expression:
        return aops.CreateCheckConstraintOp(con.name, t[1], con.expression, schema=schema)
    return None
