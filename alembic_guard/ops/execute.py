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
"""

from __future__ import annotations

from typing import Any

from alembic.operations import ops as aops

from alembic_guard import ddl
from alembic_guard.decide.columns import needs_rows_check
from alembic_guard.identity import both, describe_column
from alembic_guard.identity import compatible_column as compatible
from alembic_guard.model import Column, QName, Table, format_qname
from alembic_guard.ops.base import Guard
from alembic_guard.ops.context import GuardContext
from alembic_guard.ops.registry import Impl

# changes that only add: a statement made of these alone can be skipped when all is there
_ADDING = frozenset(
    {
        "PutSchema",
        "PutTable",
        "PutColumn",
        "PutIndex",
        "PutConstraint",
        "PutSequence",
        "PutEnum",
        "PutExtension",
        "PutComposite",
    }
)
# statements that replace what is there: always run, they are idempotent on their own
_REPLACING = frozenset({"ViewStmt", "CreateFunctionStmt", "CreateTrigStmt", "RuleStmt"})


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
    analyzed = [(a.statement, a.effect) for a in analyze_all(statements)]
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
        analyzed = [(a.statement, a.effect) for a in analyze_all(statements, ctx.model)]
    for st, eff in analyzed:
        g = Guard(operations, ctx, "execute", st.excerpt(60))
        run = aops.ExecuteSQLOp(st.text, execution_options=operation.execution_options)
        if offline:
            g.note("online: skipped when its effects are already in the database")
            g.original(original, run)
            continue
        if eff.opaque:
            g.original(original, run)
            _apply(ctx, eff)
            if eff.dynamic or eff.maybe_drops:
                ctx.forget()  # dynamic SQL or a condition: the catalog alone knows what happened
            g.unguarded(eff.opaque)
            continue
        put_table = next((c for c in eff.changes if type(c).__name__ == "PutTable"), None)
        if put_table is not None and g.model.table(*put_table.table.qname) is not None:
            _reconcile(g, operations, put_table.table, eff)
            continue
        reason = _already_there(g, st, eff)
        if reason:
            g.skip(reason)
            continue
        absent = _missing_requirement(ctx, eff)
        if absent is not None:
            g.missing(
                f"{absent} does not exist (needed by {st.where})",
                hint="run the statement that creates it first (is it in a later revision?)",
            )
            continue
        _drop_invalid_indexes(g, eff)
        g.original(original, run)
        _apply(ctx, eff)
        if eff.maybe_drops:
            ctx.forget()  # a conditional DROP: the catalog alone knows whether it ran
        g.acted("ran")


def _apply(ctx: GuardContext, eff: Any) -> None:
    from alembic_guard.changes import apply

    for change in eff.changes:
        apply(ctx.model, change)


def _missing_requirement(ctx: GuardContext, eff: Any) -> str | None:
    """The first object the statement needs that the model does not have, or ``None``.

    Tables and columns are always checked (the touched tables were loaded);
    other kinds only when the model holds the whole schema.
    """
    for req in eff.requires:
        ref = req.ref
        if ref.kind not in ("relation", "column") and not ctx._complete:
            continue
        if not ctx.model.has(ref):
            return str(ref)
    return None


def _already_there(g: Guard, st: Any, eff: Any) -> str | None:
    """Why the statement need not run, or ``None`` when it must."""
    if not eff.provides or eff.drops or (st.kind in _REPLACING and st.node[st.kind].get("replace")):
        return None
    if any(type(c).__name__ not in _ADDING for c in eff.changes):
        return None
    for ref in eff.provides:
        if not g.model.has(ref):
            return None
        if ref.kind == "index" and not g.model.indexes[(ref.schema, ref.name)].valid:
            return None
    for c in eff.changes:
        if type(c).__name__ == "PutColumn":
            have = g.model.column(c.schema, c.table, c.column.name)
            if have is not None and not compatible(have, c.column):
                raise g.refuse(
                    f"column {format_qname((c.schema, c.table))}.{have.name} exists with another definition",
                    hint="change the SQL to match the database, or alter the column in its own statement",
                    details=both(describe_column(have), describe_column(c.column), "SQL"),
                )
    return (
        "already there: "
        + ", ".join(str(r) for r in eff.provides[:4])
        + (" ..." if len(eff.provides) > 4 else "")
    )


def _drop_invalid_indexes(g: Guard, eff: Any) -> None:
    """An INVALID index of the name would satisfy ``IF NOT EXISTS`` and never be built."""
    for ref in eff.provides:
        ix = g.model.indexes.get((ref.schema, ref.name)) if ref.kind == "index" else None
        if ix is not None and not ix.valid:
            g.run(f"DROP INDEX IF EXISTS {g.table_sql(ix.qname)}")
            del g.model.indexes[ix.qname]


def _reconcile(g: Guard, operations: Any, want: Table, eff: Any) -> None:
    """``CREATE TABLE`` of a table that exists: add what is missing through the guards."""
    have = g.model.table(*want.qname)
    assert have is not None
    clashes = [
        (h, w) for w in want.columns if (h := have.column(w.name)) is not None and not compatible(h, w)
    ]
    if clashes:
        raise g.refuse(
            f"table {format_qname(want.qname)} exists, and some of its columns have another definition",
            hint="change the SQL to match the database, or alter those columns in a statement of their own",
            details="\n".join(
                f"  {h.name}: in the database {describe_column(h)}; in the SQL {describe_column(w)}"
                for h, w in clashes
            ),
        )
    added = [c for c in want.columns if have.column(c.name) is None]
    for col in added:
        _add_column(g, want.qname, col)
    new_cons = []
    for change in eff.changes:
        if type(change).__name__ != "PutConstraint":
            continue
        con = change.constraint
        if con.kind == "primary_key" or (con.name and g.find_constraint(want.qname, con.name)):
            continue
        op = _constraint_op(con)
        if op is not None:
            operations.invoke(op)
            new_cons.append(con.name or con.kind)
    if not added and not new_cons:
        g.skip(f"already there: table {format_qname(want.qname)} with a compatible shape")
    else:
        g.acted(
            f"table {format_qname(want.qname)} existed: added "
            + ", ".join([f"column {c.name}" for c in added] + [f"constraint {n}" for n in new_cons])
        )


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


def _constraint_op(con: Any) -> Any:
    t = con.table
    schema = None if t[0] == "public" else t[0]
    if con.kind == "foreign_key":
        ref = con.ref_table
        return aops.CreateForeignKeyOp(
            con.name,
            t[1],
            ref[1],
            list(con.columns),
            list(con.ref_columns),
            source_schema=schema,
            referent_schema=None if ref[0] == "public" else ref[0],
            ondelete=con.on_delete,
            onupdate=con.on_update,
        )
    if con.kind == "unique":
        return aops.CreateUniqueConstraintOp(con.name, t[1], list(con.columns), schema=schema)
    if con.kind == "check" and con.expression:
        return aops.CreateCheckConstraintOp(con.name, t[1], con.expression, schema=schema)
    return None
