"""The lock each guarded step takes, read from ``pg_locks`` while the step runs (issue 11).

docs/operations.md states a lock for every step of every guarded operation;
this file is where those claims are verified.  Synchronisation is by events,
never by sleeping: an event trigger on ``ddl_command_end`` makes the statement
under test wait on an advisory lock the test holds, *after* the statement has
taken its locks and before its transaction ends.  While it waits, a second
session reads what the step's backend holds, and a third tries a read and a
write with a short ``lock_timeout``: they succeed at once when nothing the
step holds conflicts, and fail with 55P03 when something does — which is the
claim checked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.operations import Operations

from alembic_guard.ops import GuardContext, make_settings
from alembic_guard.ops.standalone import operations

GATE_KEY = 424242
BASE = """
CREATE TABLE projects (id int PRIMARY KEY, name text);
CREATE TABLE tasks (id int PRIMARY KEY, title text, project_id int, n int);
INSERT INTO projects VALUES (1, 'p');
INSERT INTO tasks VALUES (1, 'a', 1, 1), (2, 'b', NULL, 2);
CREATE INDEX ix_plain ON tasks (title);
CREATE TABLE lock_gate (pattern text NOT NULL);
CREATE FUNCTION lock_gate() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM lock_gate WHERE current_query() ~* pattern) THEN
    PERFORM pg_advisory_lock(424242);
    PERFORM pg_advisory_unlock(424242);
  END IF;
END $$;
CREATE EVENT TRIGGER lock_gate ON ddl_command_end EXECUTE FUNCTION lock_gate();
"""
ACCESS_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE = "AccessExclusiveLock", "ShareUpdateExclusiveLock"
SHARE_ROW_EXCLUSIVE, SHARE, ROW_SHARE = "ShareRowExclusiveLock", "ShareLock", "RowShareLock"
# PostgreSQL's lock modes, weakest first: the strongest a step holds on a table is its claim
MODES = (
    "AccessShareLock",
    ROW_SHARE,
    "RowExclusiveLock",
    SHARE_UPDATE_EXCLUSIVE,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    "ExclusiveLock",
    ACCESS_EXCLUSIVE,
)


@dataclass(frozen=True)
class Claim:
    id: str
    op: Callable[[Operations], Any]
    gate: str  # a regular expression matching the statement of the step under test
    holds: dict[str, str]  # table -> the strongest lock the step holds on it
    reads: bool  # a SELECT on tasks proceeds while the step runs
    writes: bool  # an INSERT into tasks proceeds while the step runs
    concurrent: bool = False
    setup: str = ""
    # "ddl": the event trigger holds the statement at its end; "writer": an open write transaction
    # on tasks holds it (a concurrent build waits for writers, holding its own lock meanwhile)
    gate_kind: str = "ddl"


A = sa.Column
CLAIMS = [
    Claim(
        "add_column",
        lambda op: op.add_column("tasks", A("due", sa.Date)),
        "ADD COLUMN",
        {"tasks": ACCESS_EXCLUSIVE},
        False,
        False,
    ),
    Claim(
        "drop_column",
        lambda op: op.drop_column("tasks", "n"),
        "DROP COLUMN",
        {"tasks": ACCESS_EXCLUSIVE},
        False,
        False,
    ),
    Claim(
        "alter_column/not_null/add_helper",
        lambda op: op.alter_column("tasks", "n", nullable=False),
        "nn_guard.*NOT VALID",
        {"tasks": ACCESS_EXCLUSIVE},
        False,
        False,
    ),
    Claim(
        "alter_column/not_null/validate",
        lambda op: op.alter_column("tasks", "n", nullable=False),
        "VALIDATE CONSTRAINT",
        {"tasks": SHARE_UPDATE_EXCLUSIVE},
        True,
        True,
    ),
    Claim(
        "alter_column/not_null/set",
        lambda op: op.alter_column("tasks", "n", nullable=False),
        "SET NOT NULL",
        {"tasks": ACCESS_EXCLUSIVE},
        False,
        False,
    ),
    Claim(
        "create_table/with_fk",
        lambda op: op.create_table(
            "tags", A("id", sa.Integer, primary_key=True), A("p", sa.Integer, sa.ForeignKey("projects.id"))
        ),
        "CREATE TABLE tags",
        # (the new table itself is invisible to other sessions until commit)
        {"projects": SHARE_ROW_EXCLUSIVE},
        True,
        True,
    ),
    Claim(
        "drop_table",
        lambda op: op.drop_table("tasks"),
        "DROP TABLE",
        {"tasks": ACCESS_EXCLUSIVE},
        False,
        False,
    ),
    Claim(
        "create_index",
        lambda op: op.create_index("ix_n", "tasks", ["n"]),
        "CREATE INDEX",
        {"tasks": SHARE},
        True,
        False,
    ),
    Claim(
        "create_index/concurrently",
        lambda op: op.create_index("ix_n", "tasks", ["n"]),
        "CREATE INDEX CONCURRENTLY",
        {"tasks": SHARE_UPDATE_EXCLUSIVE},
        True,
        True,
        concurrent=True,
        gate_kind="writer",
    ),
    Claim(
        "drop_index",
        lambda op: op.drop_index("ix_plain", table_name="tasks"),
        "DROP INDEX",
        {"tasks": ACCESS_EXCLUSIVE},
        False,
        False,
    ),
    Claim(
        "create_foreign_key/add_not_valid",
        lambda op: op.create_foreign_key("fk_t_p", "tasks", "projects", ["project_id"], ["id"]),
        "FOREIGN KEY.*NOT VALID",
        {"tasks": SHARE_ROW_EXCLUSIVE, "projects": SHARE_ROW_EXCLUSIVE},
        True,
        False,
    ),
    Claim(
        "create_foreign_key/validate",
        lambda op: op.create_foreign_key("fk_t_p", "tasks", "projects", ["project_id"], ["id"]),
        "VALIDATE CONSTRAINT",
        {"tasks": SHARE_UPDATE_EXCLUSIVE, "projects": ROW_SHARE},
        True,
        True,
    ),
    Claim(
        "create_check_constraint/add_not_valid",
        lambda op: op.create_check_constraint("ck_n", "tasks", "n > 0"),
        "CHECK.*NOT VALID",
        {"tasks": ACCESS_EXCLUSIVE},
        False,
        False,
    ),
    Claim(
        "create_check_constraint/validate",
        lambda op: op.create_check_constraint("ck_n", "tasks", "n > 0"),
        "VALIDATE CONSTRAINT",
        {"tasks": SHARE_UPDATE_EXCLUSIVE},
        True,
        True,
    ),
    Claim(
        "create_unique_constraint/index",
        lambda op: op.create_unique_constraint("uq_n", "tasks", ["n"]),
        "CREATE UNIQUE INDEX",
        {"tasks": SHARE},
        True,
        False,
    ),
    Claim(
        "create_unique_constraint/index_concurrently",
        lambda op: op.create_unique_constraint("uq_n", "tasks", ["n"]),
        "CREATE UNIQUE INDEX CONCURRENTLY",
        {"tasks": SHARE_UPDATE_EXCLUSIVE},
        True,
        True,
        concurrent=True,
        gate_kind="writer",
    ),
    Claim(
        "create_unique_constraint/attach",
        lambda op: op.create_unique_constraint("uq_n", "tasks", ["n"]),
        "USING INDEX",
        {"tasks": ACCESS_EXCLUSIVE},
        False,
        False,
        concurrent=True,
    ),
    Claim(
        "drop_constraint/foreign_key",
        lambda op: op.drop_constraint("fk_p", "tasks", type_="foreignkey"),
        "DROP CONSTRAINT",
        {"tasks": ACCESS_EXCLUSIVE, "projects": ACCESS_EXCLUSIVE},
        False,
        False,
        setup="ALTER TABLE tasks ADD CONSTRAINT fk_p FOREIGN KEY (project_id) REFERENCES projects (id)",
    ),
]


@pytest.fixture
def engine(pg_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(pg_url)
    try:
        yield eng
    finally:
        eng.dispose()


def _waiting_pid(observer: sa.Connection, claim: Claim, thread: threading.Thread, failure: list[Any]) -> int:
    """The backend of the step, once it waits at the gate (it then holds the step's locks).

    Polled until the event: the step's statement waiting on a lock.
    """
    sql = (
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ~* %(p)s "
        "AND pid <> pg_backend_pid() AND datname = current_database()"
    )
    while True:
        row = observer.exec_driver_sql(sql, {"p": claim.gate}).first()
        observer.commit()
        if row is not None:
            return int(row[0])
        if not thread.is_alive():
            raise AssertionError(f"the operation ended without reaching the step: {failure}")
        threading.Event().wait(0.005)  # a poll interval, not a bound: the loop waits for the event


def _held(observer: sa.Connection, pid: int) -> dict[str, str]:
    rows = observer.exec_driver_sql(
        "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        f"WHERE l.pid = {pid} AND l.granted AND l.locktype = 'relation' AND c.relkind IN ('r', 'p')"
    ).all()
    observer.commit()
    strongest: dict[str, str] = {}
    for rel, mode in rows:
        if rel == "lock_gate":
            continue
        if rel not in strongest or MODES.index(mode) > MODES.index(strongest[rel]):
            strongest[rel] = mode
    return strongest


def _proceeds(other: sa.Connection, sql: str) -> bool:
    """Does ``sql`` get its lock at once?  (lock_timeout: it fails with 55P03 when it would wait.)"""
    try:
        other.exec_driver_sql("SET lock_timeout = '300ms'")
        other.exec_driver_sql(sql)
        return True
    except sa.exc.OperationalError as exc:
        assert getattr(exc.orig, "pgcode", None) == "55P03", exc
        return False
    finally:
        other.rollback()


@pytest.mark.db
@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
def test_step_holds_the_lock_the_docs_claim(claim: Claim, engine: sa.Engine) -> None:
    with engine.connect() as c:
        c.exec_driver_sql(BASE)
        if claim.setup:
            c.exec_driver_sql(claim.setup)
        if claim.gate_kind == "ddl":
            c.exec_driver_sql("INSERT INTO lock_gate VALUES (%(p)s)", {"p": claim.gate})
        c.commit()
    failure: list[BaseException] = []
    events: list[Any] = []

    def run() -> None:
        try:
            with engine.connect() as conn:
                ctx = GuardContext(make_settings(policy="strict", concurrent_indexes=claim.concurrent))
                with operations(conn, ctx) as op:
                    claim.op(op)
                events.extend(ctx.events)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    with engine.connect() as blocker, engine.connect() as observer, engine.connect() as other:
        if claim.gate_kind == "ddl":
            blocker.exec_driver_sql(f"SELECT pg_advisory_lock({GATE_KEY})")
            blocker.commit()
        else:
            blocker.exec_driver_sql("INSERT INTO tasks (id, title, n) VALUES (200, 'open', 7)")  # left open
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            pid = _waiting_pid(observer, claim, thread, failure)
            held = _held(observer, pid)
            observer.commit()
            reads = _proceeds(other, "SELECT count(*) FROM tasks")
            writes = _proceeds(other, "INSERT INTO tasks (id, title, n) VALUES (100, 'w', 5)")
        finally:
            if claim.gate_kind == "ddl":
                blocker.exec_driver_sql(f"SELECT pg_advisory_unlock({GATE_KEY})")
            blocker.commit()
            thread.join()
    assert not failure, failure
    assert events and events[-1].action == "act", events
    assert {t: held.get(t) for t in claim.holds} == claim.holds, held
    assert (reads, writes) == (claim.reads, claim.writes)
