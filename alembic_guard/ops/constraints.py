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
from pglast.parser import ParseError, parse_sql_json
from sqlalchemy.schema import AddConstraint
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnClause

from alembic_guard.model import Constraint, QName, format_qname
from alembic_guard.ops.base import Guard, both, describe_rows, loose_sql, qname_of
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


def _foreign_key(operations: Any, op: Any, ctx: GuardContext) -> None:
    """``ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID`` (SHARE ROW EXCLUSIVE on both tables,
    no scan), then ``VALIDATE CONSTRAINT`` (SHARE UPDATE EXCLUSIVE), after counting orphans."""
    src = qname_of(op.source_table, op.kw.get("source_schema"))
    ref = qname_of(op.referent_table, op.kw.get("referent_schema"))
    local, remote = tuple(op.local_cols), tuple(op.remote_cols)
    name = op.constraint_name or f"{src[1]}_{'_'.join(local)}_fkey"[:63]
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
    joined = " AND ".join(f"p.{g.quote(r)} = c.{g.quote(lc)}" for lc, r in zip(local, remote, strict=True))
    not_null = " AND ".join(f"c.{g.quote(lc)} IS NOT NULL" for lc in local)
    n, keys = g.sample_keys(
        src, f"{not_null} AND NOT EXISTS (SELECT 1 FROM {g.table_sql(ref)} AS p WHERE {joined})"
    )
    if n:
        raise g.refuse(
            f"{n} row(s) refer to rows of {format_qname(ref)} that do not exist; "
            f"foreign key {name} would fail",
            hint=f"{_FIX_ROWS} (or set their {', '.join(local)} to NULL)",
            details="  orphans: " + describe_rows(n, keys, src),
        )
    if have is None:
        g.run(add_sql)
    _validate(g, src, name)
    g.model.put_constraint(dataclasses.replace(want, validated=True))
    g.acted(
        "validated the NOT VALID constraint that was there" if have is not None else "added and validated"
    )


def _unique(operations: Any, op: Any, ctx: GuardContext) -> None:
    """A unique index first (CONCURRENTLY where configured), then ``ADD CONSTRAINT ... UNIQUE
    USING INDEX`` (ACCESS EXCLUSIVE, but only for a catalog change), after counting duplicates."""
    q = qname_of(op.table_name, op.schema)
    cols = tuple(op.columns)
    name = op.constraint_name or f"{q[1]}_{'_'.join(cols)}_key"[:63]
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
    key = g.columns_sql(cols)
    # NULLs never collide under UNIQUE, so they are left out of the groups
    dup = (
        f"FROM {t} WHERE {' AND '.join(f'{g.quote(c)} IS NOT NULL' for c in cols)} "
        f"GROUP BY {key} HAVING count(*) > 1"
    )
    groups = g.query(f"SELECT {key}, count(*) {dup} ORDER BY {key} LIMIT 5")
    if groups:
        total = g.query(f"SELECT count(*) FROM (SELECT 1 {dup}) d")[0][0]
        shown = "; ".join(
            "(" + ", ".join(f"{c}={v!r}" for c, v in zip(cols, r[:-1], strict=True)) + f") × {r[-1]}"
            for r in groups[:5]
        )
        raise g.refuse(
            f"{total} value group(s) of ({', '.join(cols)}) occur more than once in {format_qname(q)}; "
            f"unique constraint {name} would fail",
            hint=f"remove or change the duplicate rows ({_FIX_ROWS})",
            details=f"  duplicates: {shown}" + (" ..." if total > 5 else ""),
        )
    ix = g.model.indexes.get((q[0], name))
    reuse = ix is not None and ix.valid and ix.unique and ix.table == q and ix.columns == cols
    if not reuse:
        # an index of that name left by an earlier, interrupted run
        drop = f"DROP INDEX {'CONCURRENTLY ' if concurrent else ''}IF EXISTS {g.table_sql((q[0], name))}"
        _unique_index(g, index_sql, concurrent, drop=drop if ix is not None else None)
    g.run(attach_sql)
    g.model.put_constraint(want)
    g.acted("added through a unique index" + (" built concurrently" if concurrent and not reuse else ""))


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
    # PostgreSQL would pick a name from the expression's first column; naming it
    # ourselves is what lets a later run find it
    name = op.constraint_name or f"{q[1]}_check"
    g = Guard(operations, ctx, "create_check_constraint", f"{format_qname(q)}.{name}")
    cond = (
        op.condition
        if isinstance(op.condition, str)
        else str(op.condition.compile(dialect=g.dialect, compile_kwargs={"literal_binds": True}))
    )
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
    # a CHECK passes when its expression is NULL, hence NOT (...) rather than IS NOT TRUE
    n, keys = g.sample_keys(q, f"NOT ({cond})")
    if n:
        raise g.refuse(
            f"{n} row(s) fail CHECK ({cond}); check constraint {name} would fail",
            hint=_FIX_ROWS,
            details="  violating: " + describe_rows(n, keys, q),
        )
    if have is None:
        g.run(add_sql)
    _validate(g, q, name)
    g.model.put_constraint(want)
    g.acted(
        "validated the NOT VALID constraint that was there" if have is not None else "added and validated"
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
