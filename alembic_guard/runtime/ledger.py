"""The ledger: table ``alembic_guard_log`` beside ``alembic_version``, one row per revision attempt.

It is written on the lock's autocommit connection, never on the migration
connection, so a revision that fails and rolls back still leaves its
``failed`` record, and a process killed mid-revision leaves a ``running``
record the next run marks ``abandoned``.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

import alembic_guard
from alembic_guard.quoting import quote_ident
from alembic_guard.redact import scrub

LEDGER_TABLE = "alembic_guard_log"

STATUSES = ("running", "succeeded", "failed", "rolled_back", "abandoned")


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """One attempt at one revision, as stored."""

    id: int
    run_id: str
    revision: str
    direction: str
    status: str
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    ops_done: int
    ops_skipped: int
    ops_total: int | None
    sqlstate: str | None
    error: str | None
    statement: str | None
    statement_index: int | None
    checksum: str | None
    host: str
    pid: int
    backend_pid: int | None
    tool_version: str
    profile: str | None
    policy: str | None
    debts: list[Any]
    events: dict[str, Any]
    steps: list[Any]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


_COLUMNS = (
    "id, run_id, revision, direction, status, attempt, started_at, finished_at, duration_ms, ops_done, "
    "ops_skipped, ops_total, sqlstate, error, statement, statement_index, checksum, host, pid, backend_pid, "
    "tool_version, profile, policy, debts, events, steps"
)


class Ledger:
    """Reads and writes ``alembic_guard_log`` on an AUTOCOMMIT connection (each write commits at once)."""

    def __init__(self, conn: Connection, schema: str | None = None, table: str = LEDGER_TABLE) -> None:
        self.conn = conn
        self.schema = schema
        self.table = table
        self.qualified = (f"{quote_ident(schema)}." if schema else "") + quote_ident(table)
        # built once: a run sends these for every revision, and text() parses its SQL for binds
        self._insert_sql = f"""
                INSERT INTO {self.qualified}
                    (run_id, revision, direction, status, attempt, checksum, host, pid, backend_pid,
                     tool_version, profile, policy)
                VALUES (:run_id, :revision, :direction, 'running', :attempt, :checksum, :host, :pid,
                        :backend_pid, :version, :profile, :policy)
                RETURNING id
                """
        self._finish_text = f"""
            UPDATE {self.qualified}
               SET status = :f_status, finished_at = clock_timestamp(),
                   duration_ms = (extract(epoch FROM clock_timestamp() - started_at) * 1000)::integer,
                   ops_done = :f_ops_done, ops_skipped = :f_ops_skipped, ops_total = :f_ops_total,
                   sqlstate = :f_sqlstate, error = :f_error, statement = :f_statement,
                   statement_index = :f_statement_index,
                   debts = CAST(:f_debts AS jsonb), events = CAST(:f_events AS jsonb)
             WHERE id = :f_id
            """
        self._start = text(self._insert_sql)
        self._start_after_finish = text(f"WITH finished AS ({self._finish_text}) {self._insert_sql}")
        self._finish = text(self._finish_text)
        self._add_step = text(
            f"UPDATE {self.qualified} SET steps = steps || CAST(:s AS jsonb) WHERE id = :id"
        )
        self._add_event = text(
            f"UPDATE {self.qualified} SET events = events || jsonb_build_object(:k, CAST(:v AS jsonb)) "
            "WHERE id = :id"
        )
        self._host = socket.gethostname()

    def ensure(self) -> None:
        """``CREATE TABLE IF NOT EXISTS``; call it under the migration lock (two creators would race)."""
        self.conn.execute(
            text(
                f"""
                CREATE TABLE IF NOT EXISTS {self.qualified} (
                    id bigserial PRIMARY KEY,
                    run_id text NOT NULL,
                    revision text NOT NULL,
                    direction text NOT NULL,
                    status text NOT NULL,
                    attempt integer NOT NULL DEFAULT 1,
                    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                    finished_at timestamptz,
                    duration_ms integer,
                    ops_done integer NOT NULL DEFAULT 0,
                    ops_skipped integer NOT NULL DEFAULT 0,
                    ops_total integer,
                    sqlstate text,
                    error text,
                    statement text,
                    statement_index integer,
                    checksum text,
                    host text NOT NULL,
                    pid integer NOT NULL,
                    backend_pid integer,
                    tool_version text NOT NULL,
                    profile text,
                    policy text,
                    debts jsonb NOT NULL DEFAULT '[]',
                    events jsonb NOT NULL DEFAULT '{{}}',
                    steps jsonb NOT NULL DEFAULT '[]'
                )
                """
            )
        )

    def exists(self) -> bool:
        return bool(
            self.conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": self.qualified}).scalar()
        )

    def start(
        self,
        *,
        run_id: str,
        revision: str,
        direction: str,
        attempt: int,
        checksum: str | None,
        backend_pid: int | None,
        profile: str | None,
        policy: str | None,
        finish_previous: dict[str, Any] | None = None,
    ) -> int:
        """Insert a ``running`` record; return its id.

        ``finish_previous`` (the keywords of :meth:`finish`, with ``record_id``)
        closes the previous record in the same round trip.
        """
        statement, fin_params = self._start, dict[str, Any]()
        if finish_previous is not None:
            fin_params = self._finish_params(**finish_previous)
            statement = self._start_after_finish
        row = self.conn.execute(
            statement,
            {
                "run_id": run_id,
                "revision": revision,
                "direction": direction,
                "attempt": attempt,
                "checksum": checksum,
                "host": self._host,
                "pid": os.getpid(),
                "backend_pid": backend_pid,
                "version": alembic_guard.__version__,
                "profile": profile,
                "policy": policy,
                **fin_params,
            },
        ).scalar_one()
        return int(row)

    def add_step(self, record_id: int, step: dict[str, Any]) -> None:
        """Append one completed non-transactional step (it is durable whatever happens next)."""
        self.conn.execute(self._add_step, {"s": json.dumps([step]), "id": record_id})

    def add_event(self, record_id: int, key: str, value: Any) -> None:
        """Set ``events[key]`` of a record (e.g. ``rollback``: the rollback verification's report)."""
        self.conn.execute(self._add_event, {"k": key, "v": json.dumps(value), "id": record_id})

    def finish(self, record_id: int, **kw: Any) -> None:
        """Close a record: status, timings, counts, error details (see :meth:`_finish_params`)."""
        self.conn.execute(self._finish, self._finish_params(record_id, **kw))

    def _finish_params(
        self,
        record_id: int,
        *,
        status: str,
        ops_done: int = 0,
        ops_skipped: int = 0,
        ops_total: int | None = None,
        sqlstate: str | None = None,
        error: str | None = None,
        statement: str | None = None,
        statement_index: int | None = None,
        debts: list[Any] | None = None,
        events: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        assert status in STATUSES, status
        return {
            "f_id": record_id,
            "f_status": status,
            "f_ops_done": ops_done,
            "f_ops_skipped": ops_skipped,
            "f_ops_total": ops_total,
            "f_sqlstate": sqlstate,
            "f_error": scrub(error) if error else error,  # the one choke point of stored messages
            "f_statement": statement,
            "f_statement_index": statement_index,
            "f_debts": json.dumps(debts or []),
            "f_events": json.dumps(events or {}),
        }

    def reap_abandoned(self) -> list[LedgerRecord]:
        """Mark ``running`` records of dead runs ``abandoned``; end their leftover backends.

        Call it only while holding the migration lock: every other run that
        could write a ``running`` record would need the lock, so any such record
        belongs to a run whose lock connection is gone.  Its migration
        connection may still live on the server (a backend busy in
        ``pg_sleep`` or DDL notices its client's death only when it next
        talks to it) and hold table locks; it is terminated — matched by pid
        *and* by the run's own ``application_name``, so a reused pid is safe.
        """
        rows = self.records(status="running")
        for rec in rows:
            if rec.backend_pid is not None:
                self.conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE pid = :pid AND application_name = :app"
                    ),
                    {"pid": rec.backend_pid, "app": application_name(rec.run_id, "migrate")},
                )
            self.conn.execute(
                text(
                    f"""
                    UPDATE {self.qualified}
                       SET status = 'abandoned', finished_at = clock_timestamp(),
                           error = coalesce(error, 'the migrating process died during this revision')
                     WHERE id = :id AND status = 'running'
                    """
                ),
                {"id": rec.id},
            )
        return rows

    def records(self, *, status: str | None = None, revision: str | None = None) -> list[LedgerRecord]:
        """Records in insertion order, optionally filtered.  Read-only."""
        where, params = [], {}
        if status:
            where.append("status = :status")
            params["status"] = status
        if revision:
            where.append("revision = :revision")
            params["revision"] = revision
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        result = self.conn.execute(
            text(f"SELECT {_COLUMNS} FROM {self.qualified}{clause} ORDER BY id"), params
        )
        return [LedgerRecord(*row) for row in result]

    def completed_steps(self) -> dict[tuple[str, str | None], set[tuple[str, int]]]:
        """Non-transactional steps that unfinished attempts completed, by (revision, file checksum).

        Only attempts since the revision last succeeded count: their steps
        committed even though the revision did not.  One query for the whole run.
        """
        rows = self.conn.execute(
            text(
                f"""
                SELECT l.revision, l.checksum, l.steps FROM {self.qualified} l
                 WHERE l.steps <> '[]'::jsonb AND l.status <> 'succeeded'
                   AND NOT EXISTS (SELECT 1 FROM {self.qualified} s
                                    WHERE s.revision = l.revision AND s.status = 'succeeded' AND s.id > l.id)
                 ORDER BY l.id
                """
            )
        )
        done: dict[tuple[str, str | None], set[tuple[str, int]]] = {}
        for revision, checksum, steps in rows:
            bucket = done.setdefault((revision, checksum), set())
            for step in steps:
                bucket.add((str(step["sql_sha"]), int(step["occurrence"])))
        return done


def application_name(run_id: str, role: str) -> str:
    """The ``application_name`` of our connections: recognizable in ``pg_stat_activity``."""
    return f"alembic_guard:{run_id}:{role}"
