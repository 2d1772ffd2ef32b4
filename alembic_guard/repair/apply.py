"""Applying a repair plan: under the migration lock, step by step, recorded in the ledger.

The edge of :mod:`alembic_guard.repair`.  The whole run holds the same
session-level advisory lock as ``alembic upgrade`` (so a deployment and a
repair never interleave) and writes one ledger record, direction
``repair``, with one step entry per repair done.

Indexes and constraints go through the guarded operations
(:mod:`alembic_guard.ops`), so the data checks are the guards' own: orphans
before a foreign key, duplicates before a UNIQUE, NULLs before SET NOT NULL,
rows failing a CHECK; the guards also rebuild an INVALID index
``CONCURRENTLY``.  Every other step runs its planned SQL: in one transaction
with ``lock_timeout`` set, or, for ``CONCURRENTLY`` and enum values, on an
autocommit connection.  A refused or failed step changes nothing and the
run goes on with the next one; the caller reports what is left.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alembic_guard.errors import GuardError, GuardRefused
from alembic_guard.model import Constraint, QName, SchemaModel, format_qname
from alembic_guard.ops.base import driver_sql
from alembic_guard.ops.context import GuardContext
from alembic_guard.redact import error_line
from alembic_guard.repair.plan import RepairPlan, RepairStep
from alembic_guard.runtime.config import make_settings
from alembic_guard.runtime.ledger import repair_step
from alembic_guard.runtime.runner.results import sqlstate_of
from alembic_guard.search_path import op_schema

log = logging.getLogger("alembic_guard.repair")

__all__ = ["ApplyResult", "apply_plan"]


@dataclass
class ApplyResult:
    done: list[RepairStep] = field(default_factory=list)
    failed: list[tuple[RepairStep, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def apply_plan(
    url: str,
    plan: RepairPlan,
    live: SchemaModel,
    *,
    lock_wait_s: float = 60.0,
    lock_timeout: str | None = "5s",
    version_table: str = "alembic_version",
    version_table_schema: str | None = None,
) -> ApplyResult:
    """Run every step of ``plan`` on the database at ``url``; return what was done and what failed.

    Takes the migration advisory lock (on its own autocommit connection) for
    the whole run; writes ``alembic_guard_log`` on another.  ``live`` is the
    snapshot the plan was made from: the guards decide from a copy of it.
    """
    from alembic_guard.dburl import create_engine
    from alembic_guard.runtime.ledger import Ledger
    from alembic_guard.runtime.lock import lock_key
    from alembic_guard.runtime.pooler import migration_lock

    engine = create_engine(url)
    result = ApplyResult()
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
            lock = migration_lock(
                admin,
                engine,
                lock_key(version_table, version_table_schema),
                wait_s=lock_wait_s,
                lease_s=max(30.0, lock_wait_s / 10),
                schema=version_table_schema,
                version_table=version_table,
            )
            lock.acquire()
            try:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lconn:
                    ledger = Ledger(lconn, schema=version_table_schema)
                    ledger.ensure()
                    with engine.connect() as conn:
                        backend = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
                        conn.commit()
                        record = ledger.start(
                            run_id=uuid.uuid4().hex,
                            revision="repair",
                            direction="repair",
                            attempt=1,
                            checksum=None,
                            backend_pid=backend,
                            profile=None,
                            policy="strict",
                        )
                        _run(conn, plan, live, result, ledger, record, lock_timeout)
                    ledger.finish(
                        record,
                        status="succeeded" if result.ok else "failed",
                        ops_done=len(result.done),
                        ops_total=len(plan.steps),
                        error="; ".join(msg.splitlines()[0] for _, msg in result.failed)[:2000] or None,
                    )
            finally:
                lock.release()
    finally:
        engine.dispose()
    return result


def _run(
    conn: Connection,
    plan: RepairPlan,
    live: SchemaModel,
    result: ApplyResult,
    ledger: Any,
    record: int,
    lock_timeout: str | None,
) -> None:
    settings = make_settings(
        policy="strict", lock_timeout=lock_timeout or "off", concurrent_indexes=True, allow_destructive=False
    )
    ctx = GuardContext(settings, model=live.copy())
    for i, step in enumerate(plan.steps, 1):
        what = step.drift.render() if step.drift is not None else step.action
        try:
            _step(conn, ctx, step, lock_timeout)
        except GuardError as exc:
            _reset(conn)
            result.failed.append((step, exc.render()))
            log.warning("repair step %d refused: %s", i, exc.message)
            continue
        except sa.exc.DBAPIError as exc:
            _reset(conn)
            first = error_line(exc)
            sqlstate = sqlstate_of(exc)  # psycopg2's pgcode or psycopg 3's sqlstate
            result.failed.append((step, f"{what}: {first}" + (f" (SQLSTATE {sqlstate})" if sqlstate else "")))
            log.warning("repair step %d failed: %s", i, first)
            continue
        finally:
            if step.table is not None:
                _refresh(conn, ctx, step.table)
        result.done.append(step)
        ledger.add_step(record, repair_step(i, step.action, what, list(step.sql)))


def _reset(conn: Connection) -> None:
    if conn.in_transaction():
        conn.rollback()


def _refresh(conn: Connection, ctx: GuardContext, table: QName) -> None:
    """Re-read the step's table so the next guard decides from what is there now (read-only)."""
    from alembic_guard.live.snapshot import refresh

    _reset(conn)
    refresh(ctx.model, conn, [table])
    _reset(conn)


def _step(conn: Connection, ctx: GuardContext, step: RepairStep, lock_timeout: str | None) -> None:
    a = step.action
    if a in ("create_index", "rebuild_index") and step.fact is not None:
        if step.destructive:  # another definition under that name: drop it first
            _autocommit(conn, [step.sql[0]], lock_timeout)
            ctx.model.indexes.pop((step.fact.schema, step.fact.name), None)
        _guarded_index(conn, ctx, step)
    elif (a == "add_constraint" and step.fact is not None and step.fact.kind != "primary_key") or (
        a == "validate_constraint" and step.fact is not None and step.fact.kind in ("foreign_key", "check")
    ):
        _guarded_constraint(conn, ctx, step.fact)
    elif a == "add_constraint" and step.fact is not None and step.fact.kind == "primary_key":
        _refuse_bad_rows(conn, ctx, step.fact, nulls=True)
        _autocommit(conn, step.sql, lock_timeout)
    elif a == "set_not_null":
        assert step.table is not None
        table, column = step.table, step.fact.name
        _guarded(
            conn, ctx, lambda ops: ops.alter_column(table[1], column, nullable=False, schema=_schema(table))
        )
    elif step.transactional:
        with conn.begin():
            if lock_timeout:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{lock_timeout}'")
            for sql in step.sql:
                conn.exec_driver_sql(driver_sql(conn.dialect, sql))
    else:
        _autocommit(conn, step.sql, lock_timeout)


def _schema(table: QName | None) -> str | None:
    return None if table is None else op_schema(table[0])


def _autocommit(conn: Connection, statements: tuple[str, ...] | list[str], lock_timeout: str | None) -> None:
    """Statements that must run outside a transaction (CONCURRENTLY, ADD VALUE), each under ``lock_timeout``.

    Set for the session (there is no transaction for ``SET LOCAL``) and reset
    after, so a step queued behind a long transaction gives up instead of
    blocking every session that queues behind it.
    """
    _reset(conn)
    ac = conn.execution_options(isolation_level="AUTOCOMMIT")
    try:
        if lock_timeout:
            ac.execute(sa.text("SELECT set_config('lock_timeout', :v, false)"), {"v": lock_timeout})
        for sql in statements:
            ac.exec_driver_sql(driver_sql(conn.dialect, sql))
    finally:
        if lock_timeout:
            _reset(conn)
            ac.exec_driver_sql("RESET lock_timeout")
        # SQLAlchemy autobegins even in AUTOCOMMIT; end that (a no-op on the server) to switch back
        _reset(conn)
        conn.execution_options(isolation_level=conn.default_isolation_level)


def _guarded(conn: Connection, ctx: GuardContext, call: Any) -> None:
    from alembic_guard.ops.standalone import operations

    _reset(conn)
    with operations(conn, ctx, revision="repair", touched=[]) as ops:
        call(ops)
    _reset(conn)
    for event in ctx.take_events():
        if event.action == "refuse":  # pragma: no cover - refusals raise
            raise GuardRefused(event.reason, hint="see the message above")


def _refuse_bad_rows(conn: Connection, ctx: GuardContext, con: Constraint, *, nulls: bool) -> None:
    """The guards' own checks for a key built outside them (read-only): duplicate groups, and NULLs
    when ``nulls``.  A failed unique ``CONCURRENTLY`` build would leave one more INVALID index behind."""
    from alembic_guard.ops.base import Guard
    from alembic_guard.ops.columns import nulls_refusal
    from alembic_guard.ops.constraints import duplicates_refusal
    from alembic_guard.ops.standalone import operations

    _reset(conn)
    refusal = None
    with operations(conn, ctx, revision="repair", touched=[]) as ops:
        what = "primary key" if con.kind == "primary_key" else "unique index"
        g = Guard(ops, ctx, f"add {what}", f"{format_qname(con.table)}.{con.name}")
        for column in con.columns if nulls else ():
            refusal = refusal or nulls_refusal(g, con.table, column)
        refusal = refusal or duplicates_refusal(g, con.table, con.columns, con.name or "", what=what)
    _reset(conn)
    ctx.take_events()  # the refusal is raised; a recorded event would be reported twice
    if refusal is not None:
        raise refusal


def _guarded_index(conn: Connection, ctx: GuardContext, step: RepairStep) -> None:
    ix = step.fact
    table = ctx.model.tables.get(ix.table)
    names = {c.name for c in table.columns} if table is not None else set()
    if ix.unique and all(k in names for k in ix.columns):
        _refuse_bad_rows(conn, ctx, Constraint(ix.name, ix.table, "unique", ix.columns), nulls=False)
    # a key naming a column of the table is a column (quoted by SQLAlchemy); anything else is
    # pg_get_indexdef's text of an expression, which needs its parentheses
    columns = [k if k in names else sa.text(f"({k})") for k in ix.columns]
    kw: dict[str, Any] = {}
    if ix.predicate:
        kw["postgresql_where"] = sa.text(ix.predicate)
    if ix.method != "btree":
        kw["postgresql_using"] = ix.method
    if ix.include:
        kw["postgresql_include"] = list(ix.include)
    _guarded(
        conn,
        ctx,
        lambda ops: ops.create_index(
            ix.name, ix.table[1], columns, unique=ix.unique, schema=_schema(ix.table), **kw
        ),
    )


def _guarded_constraint(conn: Connection, ctx: GuardContext, con: Any) -> None:
    schema = _schema(con.table)
    if con.kind == "foreign_key":
        _guarded(
            conn,
            ctx,
            lambda ops: ops.create_foreign_key(
                con.name,
                con.table[1],
                con.ref_table[1],
                list(con.columns),
                list(con.ref_columns),
                source_schema=schema,
                referent_schema=_schema(con.ref_table),
                ondelete=con.on_delete,
                onupdate=con.on_update,
            ),
        )
    elif con.kind == "unique":
        _guarded(
            conn,
            ctx,
            lambda ops: ops.create_unique_constraint(
                con.name, con.table[1], list(con.columns), schema=schema
            ),
        )
    elif con.kind == "check":
        # the guard compares the text it is given with the NOT VALID constraint's own
        have = ctx.model.constraints.get((con.table[0], con.table[1], con.name))
        expr = have.expression if have is not None and have.expression else con.expression
        _guarded(
            conn, ctx, lambda ops: ops.create_check_constraint(con.name, con.table[1], expr, schema=schema)
        )
    else:  # pragma: no cover - the planner sends nothing else here
        raise GuardRefused(f"cannot add a {con.kind} constraint through a guard", hint="add it in a revision")
