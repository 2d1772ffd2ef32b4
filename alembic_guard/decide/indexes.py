"""Decisions of ``create_index`` and ``drop_index``.

Pure: no connection, no filesystem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alembic_guard import ddl
from alembic_guard.changes import Change, DropObject, PutIndex
from alembic_guard.decide.constraints import duplicates_check
from alembic_guard.decide.later import dropped_later
from alembic_guard.decide.statements import explained_by_later
from alembic_guard.decide.types import DataCheck, Decision, Step, Tx, kept, missing, refuse, skip
from alembic_guard.identity import both, describe_index, same_index
from alembic_guard.model import Index, ObjRef, QName, SchemaModel, format_qname


@dataclass(frozen=True, slots=True)
class CreateIndex:
    index: Index
    plain_columns: tuple[str, ...]  # the keys that are columns (they must exist)
    concurrent: bool = False
    if_not_exists: bool = False  # CREATE INDEX IF NOT EXISTS: another index of that name is kept


@dataclass(frozen=True, slots=True)
class DropIndex:
    index: QName
    table: QName | None  # None: the operation did not name the table
    model_complete: bool = False  # the model holds the whole schema (a missing index is gone)


def build_lock(q: QName, concurrent: bool) -> str:
    if concurrent:
        return f"SHARE UPDATE EXCLUSIVE on {format_qname(q)} (reads and writes go on)"
    return f"SHARE on {format_qname(q)} (reads go on, writes wait for the build)"


def decide_create_index(
    model: SchemaModel, spec: CreateIndex, later: Sequence[Change] = (), rerun: bool = False
) -> Decision:
    """``rerun``: the ledger says this revision was applied to this database before."""
    want = spec.index
    q = want.table
    op, target = "create_index", format_qname(want.qname)
    table = model.table(*q)
    # a materialized view can be indexed like a table
    matview = model.views.get(q) if table is None else None
    if table is None and (matview is None or not matview.materialized):
        return missing(
            op,
            target,
            f"table {format_qname(q)} does not exist",
            "create the table first, or run with policy=lenient to skip and record a debt",
            ObjRef.relation(*q),
        )
    columns = table.column_names() if table is not None else matview.columns if matview else ()
    for n in spec.plain_columns:
        if n not in columns:
            return missing(
                op,
                target,
                f"column {format_qname(q)}.{n} does not exist",
                "add the column first (is the revision that adds it missing or later?)",
                ObjRef.column(q[0], q[1], n),
            )
    have = model.indexes.get(want.qname)
    if have is not None and have.valid:
        if same_index(have, want):
            return skip(op, target, f"already there ({describe_index(have)})")
        if explained_by_later(model, (PutIndex(want),), ObjRef("index", *want.qname), later):
            return skip(
                op, target, f"already there ({describe_index(have)}; redefined since by a later revision)"
            )
        if spec.if_not_exists:
            return kept(op, target, "an index of that name", both(describe_index(have), describe_index(want)))
        return refuse(
            op,
            target,
            "an index of that name exists with another definition",
            "rename one of the two indexes, or drop the existing one in an earlier revision",
            both(describe_index(have), describe_index(want)),
        )
    if have is None and rerun and dropped_later(ObjRef("index", *want.qname), later):
        return skip(op, target, "not made again: a later revision drops it (re-running the history)")
    tx: Tx = "autocommit" if spec.concurrent else "revision"
    lock = build_lock(q, spec.concurrent)
    steps: list[Step] = []
    if have is not None:
        # IF NOT EXISTS would take the INVALID leftover of a failed build for the index
        steps.append(Step(ddl.drop_index_sql(want.qname, concurrently=spec.concurrent), tx, lock))
    sql = ddl.create_index_sql(want, concurrently=spec.concurrent, columns=tuple(columns))
    steps.append(Step(sql, tx, lock, alembic=True))
    checks: tuple[DataCheck, ...] = ()
    if want.unique and spec.plain_columns == want.columns:
        # the same data pre-flight as a unique constraint (a build over duplicates fails after the scan)
        checks = (duplicates_check(q, want.columns, f"unique index {want.name}", want.predicate),)
    reason = ("dropped the INVALID index a failed build left, then " if have is not None else "") + (
        "built concurrently" if spec.concurrent else "built"
    )
    return Decision(op, target, "run", reason, checks=checks, steps=tuple(steps), changes=(PutIndex(want),))


def decide_drop_index(model: SchemaModel, spec: DropIndex) -> Decision:
    target = format_qname(spec.index)
    have = model.indexes.get(spec.index)
    known = spec.model_complete or spec.table is not None
    if known and have is None:
        return skip("drop_index", target, "already gone")
    table = have.table if have is not None else spec.table
    lock = (
        f"ACCESS EXCLUSIVE on {format_qname(table)}, briefly"
        if table
        else "ACCESS EXCLUSIVE on its table, briefly"
    )
    step = Step(ddl.drop_index_sql(spec.index, if_exists=False), "revision", lock, alembic=True)
    return Decision(
        "drop_index",
        target,
        "run",
        "dropped",
        steps=(step,),
        changes=(DropObject(ObjRef("index", *spec.index)),),
    )
