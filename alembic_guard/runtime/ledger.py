"""The ledger: table ``alembic_guard_log`` beside ``alembic_version``, one row per revision attempt.

It is written on the lock's autocommit connection, never on the migration
connection, so a revision that fails and rolls back still leaves its
``failed`` record, and a process killed mid-revision leaves a ``running``
record the next run marks ``abandoned`` — or ``succeeded``, when
``alembic_version`` shows the revision committed before the process died.

The table's shape carries a version (its comment, :data:`SCHEMA_VERSION`):
``CREATE TABLE IF NOT EXISTS`` can never add a column to a table an older
release created, so :meth:`Ledger.ensure` upgrades it step by step
(:data:`_UPGRADES`).  Its schema is fixed when the ledger is opened (that of
an existing ledger, else of the version table, else the current schema), so
a migration that puts a new schema first on ``search_path`` cannot split it.

Steps (``steps``, a JSON list) are typed: each has a ``kind`` and a version
``v`` (:func:`committed_step`, :func:`data_step`, :func:`repair_step`); readers
take only the kinds they know.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

import alembic_guard
from alembic_guard.model import LEDGER_TABLE
from alembic_guard.quoting import quote_ident
from alembic_guard.redact import scrub

STATUSES = ("running", "succeeded", "failed", "rolled_back", "abandoned")

SCHEMA_VERSION = 2
"""The ledger table's shape; stored as its comment ``alembic_guard ledger v<N>``."""
_COMMENT_PREFIX = "alembic_guard ledger v"

STEP_VERSION = 1
STEP_KINDS = ("committed", "data", "repair")
"""``committed``: a revision's write made durable before the revision committed (an
``autocommit_block()``); ``data``: a data statement (INSERT / UPDATE / DELETE / MERGE)
committed with its revision, applied once per database; ``repair``: a step of
``guard-repair --apply``."""


_DATA_KEYWORDS = frozenset({"insert", "update", "delete", "merge"})
# procedural code: a DO block or a procedure may write rows, run dynamic SQL or act on a
# condition; what it did is not all in the catalog (a re-run of a DO block that swaps a
# primary key would drop the key it made), so, like a data statement, it runs once per database
_PROCEDURAL_KEYWORDS = frozenset({"do", "call"})


def is_data_statement(statement: str) -> bool:
    """Does the statement change rows rather than the schema (INSERT / UPDATE / DELETE / MERGE)?

    Also a ``WITH`` query whose body is one of those, and procedural code (a
    ``DO`` block, a ``CALL``).  Such a statement is applied once per database:
    the catalog cannot tell whether (or what) it ran.
    """
    words = statement.lstrip(" \t\n(").split(None, 1)
    if not words:
        return False
    first = words[0].lower()
    if first in _DATA_KEYWORDS or first.split("$", 1)[0] in _PROCEDURAL_KEYWORDS:  # DO$$ ... $$
        return True
    if first == "with":
        return any(w in _DATA_KEYWORDS for w in statement.lower().replace("(", " ").split())
    return False


def committed_step(index: int, sql_sha: str, occurrence: int, sql: str, *, data: bool) -> dict[str, Any]:
    """A write that committed before its revision did (inside, or committed by, an autocommit block)."""
    return {
        "kind": "committed",
        "v": STEP_VERSION,
        "index": index,
        "sql_sha": sql_sha,
        "occurrence": occurrence,
        "data": data,
        "sql": sql[:500],
    }


def data_step(index: int, sql_sha: str, occurrence: int, sql: str) -> dict[str, Any]:
    """A data statement that committed with its revision: a later run of the revision skips it."""
    return {
        "kind": "data",
        "v": STEP_VERSION,
        "index": index,
        "sql_sha": sql_sha,
        "occurrence": occurrence,
        "sql": sql[:500],
    }


def repair_step(index: int, action: str, drift: str, sql: list[str]) -> dict[str, Any]:
    """One repair done by ``guard-repair --apply``."""
    return {"kind": "repair", "v": STEP_VERSION, "index": index, "action": action, "drift": drift, "sql": sql}


def step_kind(step: Any) -> str | None:
    """The kind of a stored step, also for the untyped steps of ledger v1; ``None``: not one we know."""
    if not isinstance(step, dict):
        return None
    kind = step.get("kind")
    if kind is None:  # ledger v1: a revision's committed write, or a repair step
        if "sql_sha" in step and "occurrence" in step:
            return "committed"
        if "action" in step:
            return "repair"
        return None
    return kind if kind in STEP_KINDS and int(step.get("v", 0)) <= STEP_VERSION else None


@dataclass(frozen=True, slots=True)
class ResumeState:
    """What earlier runs of this database left done, for the revisions about to run.

    ``committed``: per (revision, file checksum), the writes unfinished attempts
    made durable, as (statement sha, occurrence) with whether each was a data
    statement; ``data``: per revision, the data statements applied since it was
    last reverted.
    """

    committed: dict[tuple[str, str | None], dict[tuple[str, int], bool]]
    data: dict[str, frozenset[tuple[str, int]]]
    # the revisions whose upgrade succeeded on this database and was not reverted since
    applied: frozenset[str] = frozenset()

    def done_data(self, revision: str) -> frozenset[tuple[str, int]]:
        return self.data.get(revision, frozenset())


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

    def __init__(
        self,
        conn: Connection,
        schema: str | None = None,
        table: str = LEDGER_TABLE,
        *,
        version_table: str = "alembic_version",
    ) -> None:
        self.conn = conn
        self.table = table
        if schema is None:
            schema = self._home_schema(version_table)
        self.schema = schema
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
                   duration_ms = coalesce(
                       CAST(:f_duration_ms AS integer),
                       (extract(epoch FROM clock_timestamp() - started_at) * 1000)::integer),
                   ops_done = :f_ops_done, ops_skipped = :f_ops_skipped, ops_total = :f_ops_total,
                   sqlstate = :f_sqlstate, error = :f_error, statement = :f_statement,
                   statement_index = :f_statement_index,
                   debts = CAST(:f_debts AS jsonb), events = CAST(:f_events AS jsonb),
                   steps = steps || CAST(:f_steps AS jsonb)
             WHERE id = :f_id
            """
        self._start = text(self._insert_sql)
        self._start_after_finish = text(f"WITH finished AS ({self._finish_text}) {self._insert_sql}")
        self._finish = text(self._finish_text)
        self._add_step = text(
            f"UPDATE {self.qualified} SET steps = steps || CAST(:s AS jsonb) WHERE id = :id"
        )
        self._add_event = text(
            # CAST(:k AS text): psycopg 3 binds on the server, where an untyped $1 cannot be resolved
            f"UPDATE {self.qualified} "
            "SET events = events || jsonb_build_object(CAST(:k AS text), CAST(:v AS jsonb)) WHERE id = :id"
        )
        self._host = socket.gethostname()

    def _home_schema(self, version_table: str) -> str:
        """Where the ledger lives: beside an existing ledger, else the version table, else the current schema.

        Read once, so every statement of this ledger names one table, whatever
        a migration does to ``search_path`` in between.  Read-only.
        """
        row = self.conn.execute(
            text(
                "SELECT coalesce("
                "(SELECT c.relnamespace::regnamespace::text FROM pg_class c WHERE c.oid = to_regclass(:l)), "
                "(SELECT c.relnamespace::regnamespace::text FROM pg_class c WHERE c.oid = to_regclass(:v)), "
                "current_schema(), 'public')"
            ),
            {"l": quote_ident(self.table), "v": quote_ident(version_table)},
        ).scalar_one()
        name = str(row)
        # regnamespace::text quotes names that need it
        return name[1:-1].replace('""', '"') if name.startswith('"') else name

    def version(self) -> int | None:
        """The ledger table's shape version (1: created before versions were kept); ``None``: no table."""
        row = self.conn.execute(
            text("SELECT to_regclass(:n) IS NOT NULL, obj_description(to_regclass(:n), 'pg_class')"),
            {"n": self.qualified},
        ).one()
        if not row[0]:
            return None
        comment = str(row[1] or "")
        if comment.startswith(_COMMENT_PREFIX) and comment[len(_COMMENT_PREFIX) :].isdigit():
            return int(comment[len(_COMMENT_PREFIX) :])
        return 1

    def ensure(self) -> None:
        """Create the table, or bring an older one to :data:`SCHEMA_VERSION`; under the migration lock.

        Two creators would race, and an upgrade changes the table, so call it
        only while holding the lock.  A table of a newer release is left as it is.
        """
        have = self.version()
        if have is None:
            self._create()
            have = SCHEMA_VERSION
        elif have < SCHEMA_VERSION:
            for version, statements in _UPGRADES:
                if have < version:
                    for sql in statements:
                        self.conn.execute(text(sql.format(table=self.qualified)))
                    have = version
        else:
            return
        self.conn.execute(text(f"COMMENT ON TABLE {self.qualified} IS '{_COMMENT_PREFIX}{have}'"))

    def _create(self) -> None:
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
        steps: list[dict[str, Any]] | None = None,
        duration_ms: int | None = None,
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
            "f_steps": json.dumps(steps or []),
            "f_duration_ms": duration_ms,
        }

    def reap_abandoned(self, applied: Callable[[LedgerRecord], bool] | None = None) -> list[LedgerRecord]:
        """Close the ``running`` records of dead runs; end their leftover backends.  Returns them, as closed.

        Call it only while holding the migration lock: every other run that
        could write a ``running`` record would need the lock, so any such record
        belongs to a run whose lock connection is gone.  Its migration
        connection may still live on the server (a backend busy in
        ``pg_sleep`` or DDL notices its client's death only when it next
        talks to it) and hold table locks; it is terminated — matched by pid
        *and* by the run's own ``application_name``, so a reused pid is safe.

        ``applied(record)`` (asked once the backends are gone, so an uncommitted
        revision cannot commit after it answers) says whether the version table
        shows the record's change done: the process died after its commit and
        before its ledger update.  Such a record becomes ``succeeded`` (with
        ``events.reconciled``); the others ``abandoned``.
        """
        rows = self.records(status="running")
        for rec in rows:
            if rec.backend_pid is not None:
                # pg_terminate_backend(pid, timeout) waits for it to exit (PostgreSQL 14+)
                version = self.conn.dialect.server_version_info or (0,)
                terminate = (
                    "pg_terminate_backend(pid, 5000)" if version >= (14,) else "pg_terminate_backend(pid)"
                )
                self.conn.execute(
                    text(
                        f"SELECT {terminate} FROM pg_stat_activity "
                        "WHERE pid = :pid AND application_name = :app"
                    ),
                    {"pid": rec.backend_pid, "app": application_name(rec.run_id, "migrate")},
                )
        closed = []
        for rec in rows:
            if applied is not None and applied(rec):
                note = "the process died after this revision committed; alembic_version shows it done"
                self.conn.execute(
                    text(
                        f"""
                        UPDATE {self.qualified}
                           SET status = 'succeeded', finished_at = clock_timestamp(),
                               events = events || jsonb_build_object('reconciled', CAST(:note AS text))
                         WHERE id = :id AND status = 'running'
                        """
                    ),
                    {"id": rec.id, "note": note},
                )
                closed.append(replace(rec, status="succeeded", events={**rec.events, "reconciled": note}))
                continue
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
            closed.append(replace(rec, status="abandoned"))
        return closed

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

    def resume_state(self) -> ResumeState:
        """What earlier runs left done (see :class:`ResumeState`); one query for the whole run.  Read-only.

        Committed writes count from upgrade attempts since the revision last
        succeeded (they committed though the revision did not); data statements
        from the upgrades that succeeded since the revision was last reverted;
        the revisions applied (an upgrade succeeded since the last downgrade).
        Repair records, downgrades' own steps and kinds this release does not
        know are never taken for a revision's steps.
        """
        rows = self.conn.execute(
            text(
                f"""
                SELECT revision, checksum, status, direction, steps FROM {self.qualified}
                 WHERE (direction = 'upgrade' AND (steps <> '[]'::jsonb OR status = 'succeeded'))
                    OR (direction = 'downgrade' AND status = 'succeeded')
                 ORDER BY id
                """
            )
        )
        committed: dict[tuple[str, str | None], dict[tuple[str, int], bool]] = {}
        data: dict[str, set[tuple[str, int]]] = {}
        applied: set[str] = set()
        for revision, checksum, status, direction, steps in rows:
            if direction == "downgrade":
                data.pop(revision, None)
                if status == "succeeded":
                    applied.discard(revision)
                continue
            if status == "succeeded":
                applied.add(revision)
                for key in [k for k in committed if k[0] == revision]:
                    del committed[key]
            for step in steps:
                kind = step_kind(step)
                if kind == "committed" and status != "succeeded":
                    bucket = committed.setdefault((revision, checksum), {})
                    done = (str(step["sql_sha"]), int(step["occurrence"]))
                    data_flag = step.get("data")
                    bucket[done] = (
                        bool(data_flag) if data_flag is not None else is_data_statement(str(step["sql"]))
                    )
                elif kind == "data" and status == "succeeded":
                    data.setdefault(revision, set()).add((str(step["sql_sha"]), int(step["occurrence"])))
        return ResumeState(
            committed, {rev: frozenset(done) for rev, done in data.items()}, frozenset(applied)
        )


_UPGRADES: tuple[tuple[int, tuple[str, ...]], ...] = (
    # v2: steps are typed. A v1 step with a statement checksum was a revision's committed
    # write; one with an action, a repair step (read as such by step_kind() as well).
    (
        2,
        (
            """
            UPDATE {table} SET steps = (
                SELECT coalesce(jsonb_agg(CASE
                         WHEN e.s ? 'kind' THEN e.s
                         WHEN e.s ? 'sql_sha' THEN e.s || jsonb_build_object('kind', 'committed', 'v', 1)
                         WHEN e.s ? 'action' THEN e.s || jsonb_build_object('kind', 'repair', 'v', 1)
                         ELSE e.s END ORDER BY e.ord), '[]'::jsonb)
                  FROM jsonb_array_elements(steps) WITH ORDINALITY AS e(s, ord))
             WHERE steps <> '[]'::jsonb
            """,
        ),
    ),
)
"""Per version: the statements that bring a table of the version before to it (``{table}``: its name)."""


def application_name(run_id: str, role: str) -> str:
    """The ``application_name`` of our connections: recognizable in ``pg_stat_activity``."""
    return f"alembic_guard:{run_id}:{role}"
