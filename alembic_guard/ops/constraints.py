"""Guarded ``create_foreign_key``, ``create_unique_constraint``, ``create_check_constraint``
and ``drop_constraint``: Alembic's operation objects turned into specs, decided by
:mod:`alembic_guard.decide.constraints`, executed here.

A foreign key or CHECK is added ``NOT VALID`` in the revision's transaction and
validated in a transaction of its own after that commits; a UNIQUE constraint is
a unique index first (CONCURRENTLY where configured), then ``ADD CONSTRAINT ...
USING INDEX``.  Data is checked first, and nothing changes when the check fails.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from alembic.operations import ops as aops
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnClause

from alembic_guard.decide.constraints import (
    AddConstraint,
    DropConstraint,
    constraint_op_name,
    decide_add_constraint,
    decide_drop_constraint,
    duplicates_check,
    orphans_check,
)
from alembic_guard.decide.types import Decision
from alembic_guard.errors import GuardRefused
from alembic_guard.model import Constraint, QName, SchemaModel, format_qname
from alembic_guard.ops.base import Guard, qname_of
from alembic_guard.ops.context import GuardContext
from alembic_guard.ops.registry import Impl

_BIND_ESCAPE = "\\:"


def add_constraint(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """Dispatch on the kind of ``AddConstraintOp`` (Alembic routes all of them here)."""
    spec = constraint_spec(operation, operations.migration_context.dialect, ctx.settings.concurrent_indexes)
    if spec is None:
        g = Guard(operations, ctx, "add_constraint", str(getattr(operation, "constraint_name", None)))
        g.original(original, operation)
        g.unguarded(f"{type(operation).__name__} is not guarded")
        return
    want = spec.constraint
    op = constraint_op_name(want)
    g = Guard(operations, ctx, op, f"{format_qname(want.table)}.{want.name or '(unnamed)'}")
    if g.offline:
        g.note(
            f"online: skipped when {g.target} exists; the rows that would fail it are counted "
            "first and the operation is refused if there are any"
        )
        model = _offline_model(spec)
        g.run_steps(decide_add_constraint(model, spec).steps)
        return
    tables = [want.table] + ([want.ref_table] if want.ref_table is not None else [])
    g.load(*tables)
    d = decide_add_constraint(g.model, spec, ctx.later_changes(), ctx.rerun)
    g.target = d.target
    g.carry_out(d, operation=operation)


def _offline_model(spec: AddConstraint) -> SchemaModel:
    """Offline there is no catalog: the tables and columns the operation names, nothing else."""
    from alembic_guard.model import Column, Table

    model = SchemaModel()
    c = spec.constraint
    cols = {*c.columns, *spec.reads}
    model.put_table(Table(c.table[0], c.table[1], tuple(Column(n, "unknown") for n in sorted(cols))))
    if c.ref_table is not None and c.ref_table != c.table:
        refs = tuple(Column(n, "unknown") for n in c.ref_columns)
        model.put_table(Table(c.ref_table[0], c.ref_table[1], refs))
    return model


def check_sql(condition: Any, dialect: Any) -> str:
    """A CHECK condition as SQL.

    A string is read as Alembic reads it (through ``sa.text``: ``\\:`` is ``:``);
    guard-import escapes colons that way.
    """
    if isinstance(condition, str):
        return condition.replace(_BIND_ESCAPE, ":")
    return str(condition.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _name(name: Any) -> str | None:
    """A constraint name as given (``None`` and SQLAlchemy's "no name" marker: unnamed)."""
    return name if isinstance(name, str) and name else None


def constraint_spec(operation: Any, dialect: Any, concurrent_indexes: bool = False) -> AddConstraint | None:
    """The spec of a foreign key / UNIQUE / PRIMARY KEY / CHECK operation; ``None`` for other kinds
    (an exclusion constraint: Alembic's own rendering runs it, unguarded)."""
    if isinstance(operation, aops.CreateForeignKeyOp):
        src = qname_of(operation.source_table, operation.kw.get("source_schema"))
        ref = qname_of(operation.referent_table, operation.kw.get("referent_schema"))
        con = Constraint(
            _name(operation.constraint_name),
            src,
            "foreign_key",
            tuple(operation.local_cols),
            ref,
            tuple(operation.remote_cols),
            on_delete=operation.kw.get("ondelete"),
            on_update=operation.kw.get("onupdate"),
            deferrable=bool(operation.kw.get("deferrable")),
        )
        return AddConstraint(con)
    if isinstance(operation, aops.CreateUniqueConstraintOp):
        q = qname_of(operation.table_name, operation.schema)
        con = Constraint(_name(operation.constraint_name), q, "unique", tuple(operation.columns))
        return AddConstraint(con, concurrent_index=concurrent_indexes)
    if isinstance(operation, aops.CreatePrimaryKeyOp):
        q = qname_of(operation.table_name, operation.schema)
        con = Constraint(_name(operation.constraint_name), q, "primary_key", tuple(operation.columns))
        return AddConstraint(con, concurrent_index=concurrent_indexes)
    if isinstance(operation, aops.CreateCheckConstraintOp):
        q = qname_of(operation.table_name, operation.schema)
        cond = check_sql(operation.condition, dialect)
        con = Constraint(_name(operation.constraint_name), q, "check", expression=cond)
        return AddConstraint(con, reads=check_columns(operation.condition))
    return None


def check_columns(condition: Any) -> tuple[str, ...]:
    """The column names a CHECK condition reads (SQL text is parsed with PostgreSQL's grammar)."""
    if not isinstance(condition, str):
        found = [c.name for c in visitors.iterate(condition) if isinstance(c, ColumnClause)]
        return tuple(dict.fromkeys(str(n) for n in found))
    # imported here: loading pglast costs start-up time a run whose revisions add no CHECK never needs
    from pglast.parser import ParseError, parse_sql_json

    try:
        tree = json.loads(parse_sql_json(f"SELECT ({condition})"))
    except ParseError:
        return ()  # PostgreSQL will say what is wrong with it
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("ColumnRef")
            if ref is not None:
                fields = [f["String"]["sval"] for f in ref.get("fields", []) if "String" in f]
                if fields:
                    names.append(fields[-1])
                return
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(tree)
    return tuple(dict.fromkeys(names))


def drop_constraint(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """``ALTER TABLE ... DROP CONSTRAINT``: ACCESS EXCLUSIVE, briefly; no rows change."""
    q = qname_of(operation.table_name, operation.schema)
    spec = DropConstraint(q, operation.constraint_name)
    g = Guard(operations, ctx, "drop_constraint", f"{format_qname(q)}.{spec.name}")
    if g.offline:
        g.note(f"online: skipped when {spec.name} is already gone")
        g.original(original, operation)
        return
    g.load(q)
    g.carry_out(
        decide_drop_constraint(g.model, spec),
        lambda step: original(operations, operation),
        operation=operation,
    )


def data_decision(
    operation: Any, model: SchemaModel, dialect: Any, later: Sequence[Any] = (), rerun: bool = False
) -> Decision | None:
    """The decision of a constraint operation (or ``alter_column(nullable=False)``) for the run's data
    pre-flight: the data checks it would make, against the tables as they are now; ``None``
    when the operation has none.  ``later`` / ``rerun`` as the guards take them (what a later
    revision explains or drops is not checked).  Pure apart from compiling SQLAlchemy expressions."""
    from alembic_guard.decide.columns import decide_alter_column
    from alembic_guard.ops.columns import alter_column_spec

    if isinstance(operation, aops.AlterColumnOp):
        if operation.modify_nullable is not False:
            return None
        d = decide_alter_column(model, alter_column_spec(operation, dialect), later)
    elif isinstance(operation, aops.CreateIndexOp):
        from alembic_guard.ops.indexes import index_spec

        if operation.index_name is None or not operation.unique:
            return None
        from alembic_guard.decide.indexes import decide_create_index

        d = decide_create_index(model, index_spec(operation, dialect, False), later, rerun)
    else:
        spec = constraint_spec(operation, dialect)
        if spec is None:
            return None
        d = decide_add_constraint(model, spec, later, rerun)
    return d if d.runs and d.checks else None


def orphans_refusal(
    g: Guard, src: QName, ref: QName, local: tuple[str, ...], remote: tuple[str, ...], name: str
) -> GuardRefused | None:
    """Count rows of ``src`` whose key has no row in ``ref``: the refusal, or ``None`` (read-only)."""
    return g.check_data(orphans_check(src, ref, local, remote, f"foreign key {name}"))


def duplicates_refusal(
    g: Guard, q: QName, cols: tuple[str, ...], name: str, *, what: str = "unique constraint"
) -> GuardRefused | None:
    """Count value groups of ``cols`` occurring more than once: the refusal, or ``None`` (read-only).

    guard-repair's primary keys and unique indexes use it too (``what`` names the object).
    """
    return g.check_data(duplicates_check(q, cols, f"{what} {name}"))
