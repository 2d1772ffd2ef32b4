"""Guarded ``create_foreign_key``, ``create_unique_constraint``, ``create_check_constraint``
and ``drop_constraint``.

Data is checked before a constraint is added, and nothing is changed when the
check fails: orphan rows before a foreign key, duplicate groups before a
UNIQUE, violating rows before a CHECK.  Constraints are then added in the
form that holds the strongest lock for the shortest time (``NOT VALID`` +
``VALIDATE``, or a unique index first and ``ADD CONSTRAINT ... USING INDEX``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from alembic.operations import ops as aops
from sqlalchemy.schema import AddConstraint
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnClause

from alembic_guard.errors import GuardRefused
from alembic_guard.model import Constraint, QName, format_qname
from alembic_guard.ops.base import SAMPLE_ROWS, Guard, both, describe_rows, loose_sql, qname_of
from alembic_guard.ops.context import GuardContext
from alembic_guard.ops.registry import Impl

_FIX_ROWS = "fix or delete those rows, then run the migration again"


def describe_constraint(c: Constraint) -> str:
    if c.kind == "foreign_key":
        assert c.ref_table is not None
        return (
            f"FOREIGN KEY ({', '.join(c.columns)}) REFERENCES {format_qname(c.ref_table)} "
            f"({', '.join(c.ref_columns)})"
        )
    if c.kind == "check":
        return f"CHECK ({c.expression})"
    return f"{c.kind.replace('_', ' ').upper()} ({', '.join(c.columns)})"


def same_constraint(have: Constraint, want: Constraint) -> bool:
    if have.kind != want.kind:
        return False
    if want.kind == "check":
        return loose_sql(have.expression) == loose_sql(want.expression)
    if want.kind == "foreign_key":
        return (have.columns, have.ref_table, have.ref_columns) == (
            want.columns,
            want.ref_table,
            want.ref_columns,
        )
    return have.columns == want.columns


def add_constraint(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """Dispatch on the kind of ``AddConstraintOp`` (Alembic routes all of them here)."""
    if isinstance(operation, aops.CreateForeignKeyOp):
        _foreign_key(operations, operation, ctx)
    elif isinstance(operation, aops.CreateUniqueConstraintOp):
        _unique(operations, operation, ctx)
    elif isinstance(operation, aops.CreateCheckConstraintOp):
        _check(operations, operation, ctx)
    else:
        g = Guard(operations, ctx, "add_constraint", str(getattr(operation, "constraint_name", None)))
        g.original(original, operation)
        g.unguarded(f"{type(operation).__name__} is not guarded")


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


def _existing(g: Guard, q: QName, want: Constraint) -> Constraint | None:
    """The constraint of that name, or refuse when it is something else."""
    assert want.name is not None
    have = g.find_constraint(q, want.name)
    if have is not None and not same_constraint(have, want):
        raise g.refuse(
            "a constraint of that name exists with another definition",
            hint="rename one of the two constraints, or drop the existing one in an earlier revision",
            details=both(describe_constraint(have), describe_constraint(want)),
        )
    return have


def _require_columns(g: Guard, q: QName, columns: tuple[str, ...], role: str = "") -> bool:
    table = g.model.table(*q)
    if table is None:
        g.missing(f"{role}table {format_qname(q)} does not exist", hint="create the table first")
        return False
    for c in columns:
        if table.column(c) is None:
            g.missing(
                f"{role}column {format_qname(q)}.{c} does not exist",
                hint="add the column first (is the revision that adds it missing or later?)",
            )
            return False
    return True


def _validate(g: Guard, q: QName, name: str) -> None:
    # SHARE UPDATE EXCLUSIVE: the scan runs while reads and writes go on
    g.run(f"ALTER TABLE {g.table_sql(q)} VALIDATE CONSTRAINT {g.quote(name)}")


def _fk_name(op: Any, src: QName, local: tuple[str, ...]) -> str:
    return str(op.constraint_name or f"{src[1]}_{'_'.join(local)}_fkey"[:63])


def _unique_name(op: Any, q: QName, cols: tuple[str, ...]) -> str:
    return str(op.constraint_name or f"{q[1]}_{'_'.join(cols)}_key"[:63])


def _check_name(op: Any, q: QName) -> str:
    # PostgreSQL would pick a name from the expression's first column; naming it
    # ourselves is what lets a later run find it
    return str(op.constraint_name or f"{q[1]}_check")


def _check_sql(g: Guard, op: Any) -> str:
    if isinstance(op.condition, str):
        return op.condition
    return str(op.condition.compile(dialect=g.dialect, compile_kwargs={"literal_binds": True}))


def data_refusal(operations: Any, operation: Any, ctx: GuardContext) -> tuple[QName, GuardRefused] | None:
    """Would ``operation`` be refused for the data it finds?  (table, refusal) or ``None``; read-only.

    For the run's data pre-flight: the same decision and the same data check
    the guarded operation makes (foreign key, UNIQUE, CHECK, ``SET NOT NULL``),
    run before any revision, against the tables as they are now.  Only checks
    what the operation would check: a missing table or column, or a
    constraint already there and validated, is no data problem (the operation
    itself decides about those).  ``ctx.model`` must hold the tables involved.
    """
    from alembic_guard.ops.columns import nulls_refusal

    model = ctx.model
    if isinstance(operation, aops.CreateForeignKeyOp):
        src = qname_of(operation.source_table, operation.kw.get("source_schema"))
        ref = qname_of(operation.referent_table, operation.kw.get("referent_schema"))
        local, remote = tuple(operation.local_cols), tuple(operation.remote_cols)
        name = _fk_name(operation, src, local)
        if not (_has_columns(model, src, local) and _has_columns(model, ref, remote)):
            return None
        have = model.constraints.get((src[0], src[1], name))
        if have is not None and have.validated:
            return None
        g = Guard(operations, ctx, "create_foreign_key", f"{format_qname(src)}.{name}")
        refusal = orphans_refusal(g, src, ref, local, remote, name)
    elif isinstance(operation, aops.CreateUniqueConstraintOp):
        src = qname_of(operation.table_name, operation.schema)
        cols = tuple(operation.columns)
        name = _unique_name(operation, src, cols)
        if not _has_columns(model, src, cols) or (src[0], src[1], name) in model.constraints:
            return None
        g = Guard(operations, ctx, "create_unique_constraint", f"{format_qname(src)}.{name}")
        refusal = duplicates_refusal(g, src, cols, name)
    elif isinstance(operation, aops.CreateCheckConstraintOp):
        src = qname_of(operation.table_name, operation.schema)
        name = _check_name(operation, src)
        have = model.constraints.get((src[0], src[1], name))
        if not _has_columns(model, src, check_columns(operation.condition)) or (
            have is not None and have.validated
        ):
            return None
        g = Guard(operations, ctx, "create_check_constraint", f"{format_qname(src)}.{name}")
        refusal = check_refusal(g, src, _check_sql(g, operation), name)
    elif isinstance(operation, aops.AlterColumnOp) and operation.modify_nullable is False:
        src = qname_of(operation.table_name, operation.schema)
        column = model.column(src[0], src[1], operation.column_name)
        if column is None or not column.nullable:
            return None
        g = Guard(operations, ctx, "alter_column", f"{format_qname(src)}.{operation.column_name}")
        refusal = nulls_refusal(g, src, operation.column_name)
    else:
        return None
    return None if refusal is None else (src, refusal)


def _has_columns(model: Any, q: QName, columns: tuple[str, ...]) -> bool:
    table = model.table(*q)
    return table is not None and all(table.column(c) is not None for c in columns)


def _foreign_key(operations: Any, op: Any, ctx: GuardContext) -> None:
    """``ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID`` (SHARE ROW EXCLUSIVE on both tables,
    no scan), then ``VALIDATE CONSTRAINT`` (SHARE UPDATE EXCLUSIVE), after counting orphans."""
    src = qname_of(op.source_table, op.kw.get("source_schema"))
    ref = qname_of(op.referent_table, op.kw.get("referent_schema"))
    local, remote = tuple(op.local_cols), tuple(op.remote_cols)
    name = _fk_name(op, src, local)
    want = Constraint(
        name,
        src,
        "foreign_key",
        local,
        ref,
        remote,
        on_delete=op.kw.get("ondelete"),
        on_update=op.kw.get("onupdate"),
    )
    g = Guard(operations, ctx, "create_foreign_key", f"{format_qname(src)}.{name}")
    constraint = op.to_constraint(g.mc)
    constraint.name = name
    add_sql = str(AddConstraint(constraint).compile(dialect=g.dialect)).strip() + " NOT VALID"
    if g.offline:
        g.note(
            f"online: skipped when {name} exists; orphan rows of {format_qname(src)} are counted first "
            "and the operation is refused if there are any"
        )
        g.run(add_sql)
        _validate(g, src, name)
        return
    g.load(src, ref)
    if not (_require_columns(g, src, local) and _require_columns(g, ref, remote, "referenced ")):
        return
    have = _existing(g, src, want)
    if have is not None and have.validated:
        g.skip(f"already there ({describe_constraint(have)})")
        return
    refusal = orphans_refusal(g, src, ref, local, remote, name)
    if refusal is not None:
        raise refusal
    if have is None:
        g.run(add_sql)
    _validate(g, src, name)
    g.model.put_constraint(dataclasses.replace(want, validated=True))
    g.acted(
        "validated the NOT VALID constraint that was there" if have is not None else "added and validated"
    )


def orphans_refusal(
    g: Guard, src: QName, ref: QName, local: tuple[str, ...], remote: tuple[str, ...], name: str
) -> GuardRefused | None:
    """Count rows of ``src`` whose key has no row in ``ref``: the refusal, or ``None`` (read-only).

    The one data check of a foreign key, shared by the guarded operation and the
    run's data pre-flight (:mod:`alembic_guard.runtime.data_preflight`).
    """
    joined = " AND ".join(f"p.{g.quote(r)} = c.{g.quote(lc)}" for lc, r in zip(local, remote, strict=True))
    not_null = " AND ".join(f"c.{g.quote(lc)} IS NOT NULL" for lc in local)
    n, keys = g.sample_keys(
        src, f"{not_null} AND NOT EXISTS (SELECT 1 FROM {g.table_sql(ref)} AS p WHERE {joined})"
    )
    if not n:
        return None
    return g.refuse(
        f"{n} row(s) refer to rows of {format_qname(ref)} that do not exist; foreign key {name} would fail",
        hint=f"{_FIX_ROWS} (or set their {', '.join(local)} to NULL)",
        details="  orphans: " + describe_rows(n, keys, src),
    )


def _unique(operations: Any, op: Any, ctx: GuardContext) -> None:
    """A unique index first (CONCURRENTLY where configured), then ``ADD CONSTRAINT ... UNIQUE
    USING INDEX`` (ACCESS EXCLUSIVE, but only for a catalog change), after counting duplicates."""
    q = qname_of(op.table_name, op.schema)
    cols = tuple(op.columns)
    name = _unique_name(op, q, cols)
    want = Constraint(name, q, "unique", cols)
    g = Guard(operations, ctx, "create_unique_constraint", f"{format_qname(q)}.{name}")
    t, qn = g.table_sql(q), g.quote(name)
    concurrent = ctx.settings.concurrent_indexes
    index_sql = (
        f"CREATE UNIQUE INDEX {'CONCURRENTLY ' if concurrent else ''}{qn} ON {t} ({g.columns_sql(cols)})"
    )
    attach_sql = f"ALTER TABLE {t} ADD CONSTRAINT {qn} UNIQUE USING INDEX {qn}"
    if g.offline:
        g.note(
            f"online: skipped when {name} exists; duplicate ({', '.join(cols)}) groups are counted "
            "first and the operation is refused if there are any"
        )
        _unique_index(g, index_sql, concurrent, drop=None)
        g.run(attach_sql)
        return
    g.load(q)
    if not _require_columns(g, q, cols):
        return
    have = _existing(g, q, want)
    if have is not None:
        g.skip(f"already there ({describe_constraint(have)})")
        return
    refusal = duplicates_refusal(g, q, cols, name)
    if refusal is not None:
        raise refusal
    ix = g.model.indexes.get((q[0], name))
    reuse = ix is not None and ix.valid and ix.unique and ix.table == q and ix.columns == cols
    if not reuse:
        # an index of that name left by an earlier, interrupted run
        drop = f"DROP INDEX {'CONCURRENTLY ' if concurrent else ''}IF EXISTS {g.table_sql((q[0], name))}"
        _unique_index(g, index_sql, concurrent, drop=drop if ix is not None else None)
    g.run(attach_sql)
    g.model.put_constraint(want)
    g.acted("added through a unique index" + (" built concurrently" if concurrent and not reuse else ""))


def duplicates_refusal(
    g: Guard, q: QName, cols: tuple[str, ...], name: str, *, what: str = "unique constraint"
) -> GuardRefused | None:
    """Count value groups of ``cols`` occurring more than once: the refusal, or ``None`` (read-only).

    The one data check of a UNIQUE constraint (operation and run pre-flight
    alike; guard-repair's primary keys and unique indexes too: ``what`` names
    the object that would fail).
    """
    t, key = g.table_sql(q), g.columns_sql(cols)
    # NULLs never collide under UNIQUE, so they are left out of the groups
    dup = (
        f"FROM {t} WHERE {' AND '.join(f'{g.quote(c)} IS NOT NULL' for c in cols)} "
        f"GROUP BY {key} HAVING count(*) > 1"
    )
    groups = g.query(f"SELECT {key}, count(*) {dup} ORDER BY {key} LIMIT {SAMPLE_ROWS}")
    if not groups:
        return None
    total = g.query(f"SELECT count(*) FROM (SELECT 1 {dup}) d")[0][0]
    shown = "; ".join(
        "(" + ", ".join(f"{c}={v!r}" for c, v in zip(cols, r[:-1], strict=True)) + f") × {r[-1]}"
        for r in groups
    )
    return g.refuse(
        f"{total} value group(s) of ({', '.join(cols)}) occur more than once in {format_qname(q)}; "
        f"{what} {name} would fail",
        hint=f"remove or change the duplicate rows ({_FIX_ROWS})",
        details=f"  duplicates: {shown}" + (" ..." if total > SAMPLE_ROWS else ""),
    )


def _unique_index(g: Guard, index_sql: str, concurrent: bool, drop: str | None) -> None:
    if concurrent:
        with g.autocommit():
            if drop:
                g.run(drop, lock=False)
            g.run(index_sql, lock=False)
    else:
        if drop:
            g.run(drop)
        g.run(index_sql)


def _check(operations: Any, op: Any, ctx: GuardContext) -> None:
    """``ADD CONSTRAINT ... CHECK ... NOT VALID`` (ACCESS EXCLUSIVE, no scan), then
    ``VALIDATE CONSTRAINT`` (SHARE UPDATE EXCLUSIVE), after counting violating rows."""
    q = qname_of(op.table_name, op.schema)
    name = _check_name(op, q)
    g = Guard(operations, ctx, "create_check_constraint", f"{format_qname(q)}.{name}")
    cond = _check_sql(g, op)
    want = Constraint(name, q, "check", expression=cond)
    t = g.table_sql(q)
    add_sql = f"ALTER TABLE {t} ADD CONSTRAINT {g.quote(name)} CHECK ({cond}) NOT VALID"
    if g.offline:
        g.note(
            f"online: skipped when {name} exists; rows failing the CHECK are counted first "
            "and the operation is refused if there are any"
        )
        g.run(add_sql)
        _validate(g, q, name)
        return
    g.load(q)
    if not _require_columns(g, q, check_columns(op.condition)):
        return
    have = _existing(g, q, want)
    if have is not None and have.validated:
        g.skip(f"already there ({describe_constraint(have)})")
        return
    refusal = check_refusal(g, q, cond, name)
    if refusal is not None:
        raise refusal
    if have is None:
        g.run(add_sql)
    _validate(g, q, name)
    g.model.put_constraint(want)
    g.acted(
        "validated the NOT VALID constraint that was there" if have is not None else "added and validated"
    )


def check_refusal(g: Guard, q: QName, cond: str, name: str) -> GuardRefused | None:
    """Count rows failing ``cond``: the refusal, or ``None`` (read-only; operation and pre-flight)."""
    # a CHECK passes when its expression is NULL, hence NOT (...) rather than IS NOT TRUE
    n, keys = g.sample_keys(q, f"NOT ({cond})")
    if not n:
        return None
    return g.refuse(
        f"{n} row(s) fail CHECK ({cond}); check constraint {name} would fail",
        hint=_FIX_ROWS,
        details="  violating: " + describe_rows(n, keys, q),
    )


def drop_constraint(operations: Any, operation: Any, ctx: GuardContext, original: Impl) -> None:
    """``ALTER TABLE ... DROP CONSTRAINT``: ACCESS EXCLUSIVE, briefly; no rows change."""
    q = qname_of(operation.table_name, operation.schema)
    name = operation.constraint_name
    g = Guard(operations, ctx, "drop_constraint", f"{format_qname(q)}.{name}")
    if g.offline:
        g.note(f"online: skipped when {name} is already gone")
        g.original(original, operation)
        return
    g.load(q)
    have = g.find_constraint(q, name)
    if have is None:
        g.skip("already gone")
        return
    g.original(original, operation)
    del g.model.constraints[(q[0], q[1], name)]
    if have.kind in ("unique", "primary_key"):
        g.model.indexes.pop((q[0], name), None)  # its index goes with it
    g.acted("dropped")
