"""The guarded run: lock → ledger → per revision (pre-flight → ops → commit) → release.

``run_migrations(context)`` is the one call a guarded ``env.py`` makes.  In
offline (``--sql``) mode it renders SQL as Alembic would.  Online it:

1. opens an AUTOCOMMIT "admin" connection and takes the advisory lock on it
   (polling, see :mod:`.lock`), then ensures the ledger and marks records of
   dead runs ``abandoned``;
2. opens the migration connection (``lock_timeout`` / ``statement_timeout``
   set for the session) and lets Alembic run with
   ``transaction_per_migration=True``; the current revision is read *after*
   the lock is granted, so a replica that waited finds the work done;
3. wraps every revision step: a ``running`` ledger record, pre-flight, the
   revision's ``upgrade()``, then ``succeeded`` once Alembic has committed it
   — or ``failed`` with SQLSTATE, message, statement and its position;
4. re-runs a revision that failed on ``lock_not_available`` (55P03) with
   backoff, at most ``retries`` times, and once, at once, a revision whose
   carried model PostgreSQL contradicted (:data:`CATALOG_CONFLICTS`).

The tables the pending revisions touch are read once, before the first
(``_preload``), and carried from revision to revision while only guarded
operations change them; after SQL the guards could not follow they are read
again (``GuardContext.forget``).

Statements run inside ``autocommit_block()`` commit on their own; each one is
recorded in the ledger as it completes, and a later attempt of the same
revision file skips those already done.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

from alembic_guard.errors import GuardError, UsageError
from alembic_guard.quoting import quote_ident
from alembic_guard.runtime.config import RuntimeSettings, load_settings
from alembic_guard.runtime.ledger import Ledger, application_name
from alembic_guard.runtime.lock import AdvisoryLock, lock_key

log = logging.getLogger("alembic_guard")

SETTINGS_ATTR = "alembic_guard.settings"
RESULT_ATTR = "alembic_guard.result"
URL_ATTR = "alembic_guard.url"
LOCK_NOT_AVAILABLE = "55P03"
MAX_RETRY_DELAY_S = 30.0

# SQLSTATEs by which PostgreSQL says the catalog is not what the model carried: duplicate
# table / column / object / schema, undefined table / column / object / schema
CATALOG_CONFLICTS = frozenset({"42P07", "42701", "42710", "42P06", "42P01", "42703", "42704", "3F000"})

_READ_ONLY_KEYWORDS = frozenset({"select", "with", "show", "values", "explain", "set", "reset", "table"})


class MigrationFailed(GuardError):
    """A revision failed; it was rolled back (its non-transactional steps excepted)."""

    exit_code = 1

    def __init__(
        self, message: str, *, sqlstate: str | None, hint: str | None = None, details: str | None = None
    ):
        self.sqlstate = sqlstate
        super().__init__(message, hint=hint, details=details)


@dataclass(frozen=True, slots=True)
class RevisionOutcome:
    """What happened to one revision in this run."""

    revision: str
    direction: str
    status: str
    duration_s: float
    attempts: int
    ops_done: int
    ops_skipped: int
    debts: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one guarded run (returned by ``upgrade_on_startup``)."""

    revisions: tuple[RevisionOutcome, ...]
    heads_before: tuple[str, ...]
    heads_after: tuple[str, ...]
    duration_s: float
    lock_wait_s: float
    retries: int
    abandoned: tuple[str, ...]
    profile: str
    policy: str

    @property
    def applied(self) -> tuple[str, ...]:
        return tuple(r.revision for r in self.revisions if r.status == "succeeded")

    @property
    def debts(self) -> tuple[dict[str, Any], ...]:
        return tuple(d for r in self.revisions for d in r.debts)


def sqlstate_of(exc: BaseException | None) -> str | None:
    """The SQLSTATE of a driver error anywhere in ``exc``'s chain (psycopg2 or psycopg 3)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        orig = getattr(exc, "orig", None)
        for candidate in (exc, orig):
            code = getattr(candidate, "pgcode", None) or getattr(candidate, "sqlstate", None)
            if isinstance(code, str) and code:
                return code
        exc = exc.__cause__ or exc.__context__
    return None


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    msg = str(orig if orig is not None else exc).strip()
    return msg.splitlines()[0] if msg else type(exc).__name__


def file_checksum(path: str | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None


def _is_write(statement: str) -> bool:
    words = statement.lstrip(" \t\n(").split(None, 1)
    return bool(words) and words[0].lower() not in _READ_ONLY_KEYWORDS


def _sha(statement: str) -> str:
    return hashlib.sha256(" ".join(statement.split()).encode("utf-8")).hexdigest()[:16]


class _StatementTracker:
    """Watches the migration connection while one revision runs (SQLAlchemy cursor events).

    Counts statements and remembers the one in flight (for the failure
    record).  Writes that become durable before the revision commits are
    recorded in the ledger as steps: each write run inside
    ``autocommit_block()`` as it completes, and the transactional writes
    before such a block when the block commits them.  A step an earlier,
    unfinished attempt of the same file already completed is replaced by
    ``SELECT 1``, so a retry does not repeat it.
    """

    def __init__(self, runner: _Runner, migration_context: Any, record_id: int, done: set[tuple[str, int]]):
        self.runner = runner
        self.mc = migration_context
        self.record_id = record_id
        self.done = done
        self.index = 0
        self.writes = 0
        self.skipped_steps = 0
        self.unfollowed = 0  # writes sent outside the guarded operations
        self.current: tuple[int, str] | None = None
        self._occurrences: dict[str, int] = {}
        self._pending_step: dict[str, Any] | None = None
        self._pending_autocommit = False
        self._uncommitted: list[dict[str, Any]] = []

    def _autocommit(self) -> bool:
        return getattr(self.mc, "_transaction", None) is None

    def before(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> Any:
        self.index += 1
        self.current = (self.index, statement)
        self._pending_step = None
        autocommit = self._autocommit()
        if autocommit and self._uncommitted:
            # autocommit_block() has just committed the revision's transaction so far.
            for step in self._uncommitted:
                self.runner.ledger_add_step(self.record_id, step)
            self._uncommitted = []
        if not _is_write(statement):
            return statement, parameters
        self.writes += 1
        guards = self.runner.guard_ctx
        if guards is None or not guards.active_ops:
            self.unfollowed += 1
        sha = _sha(statement)
        occ = self._occurrences.get(sha, 0) + 1
        self._occurrences[sha] = occ
        if (sha, occ) in self.done:
            self.skipped_steps += 1
            log.info(
                "step %d already done by an earlier attempt, skipped: %s",
                self.index,
                " ".join(statement.split())[:120],
            )
            empty = type(parameters)() if isinstance(parameters, (dict, tuple, list)) else parameters
            return f"SELECT 1 /* alembic_guard: step {self.index} done earlier */", empty
        self._pending_step = {
            "index": self.index,
            "sql_sha": sha,
            "occurrence": occ,
            "sql": " ".join(statement.split())[:500],
        }
        self._pending_autocommit = autocommit
        return statement, parameters

    def after(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        self.current = None
        step, self._pending_step = self._pending_step, None
        if step is None:
            return
        if self._pending_autocommit:
            # Committed already: record it now, so a crash right after still knows.
            self.runner.ledger_add_step(self.record_id, step)
        else:
            self._uncommitted.append(step)

    def __enter__(self) -> _StatementTracker:
        self.runner.tracker = self
        return self

    def __exit__(self, *exc: Any) -> None:
        self.runner.tracker = None


def _track_statements(runner: _Runner, conn: Connection) -> None:
    """Route the migration connection's cursor events to the revision's tracker, when one is active.

    Listened once per connection: adding and removing SQLAlchemy listeners
    for every revision cost more than the tracking itself (≈ 0.15 ms).
    """

    def before(c: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> Any:
        tracker = runner.tracker
        if tracker is None:
            return statement, parameters
        return tracker.before(c, cursor, statement, parameters, context, executemany)

    def after(c: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        tracker = runner.tracker
        if tracker is not None:
            tracker.after(c, cursor, statement, parameters, context, executemany)

    event.listen(conn, "before_cursor_execute", before, retval=True)
    event.listen(conn, "after_cursor_execute", after)


@dataclass
class _Pending:
    record_id: int
    revision: str
    direction: str
    started: float
    ops_done: int
    ops_skipped: int
    ops_total: int | None
    debts: list[dict[str, Any]]
    events: dict[str, Any]


@dataclass
class _Runner:
    context: Any  # alembic.runtime.environment.EnvironmentContext
    engine: Engine
    settings: RuntimeSettings
    target_metadata: Any
    configure_kw: dict[str, Any]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    ledger: Ledger | None = None
    outcomes: list[RevisionOutcome] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    pending: _Pending | None = None
    retries: int = 0
    guard_ctx: Any = None
    _ledger_ready: bool = False
    _failure: tuple[str, str | None, int | None, str | None] | None = None
    _backend_pid: int | None = None
    _steps_done: dict[tuple[str, str | None], set[tuple[str, int]]] | None = None
    # record id -> the non-transactional steps this run recorded for it (for rollback verification)
    _steps_of: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    # the revision that just failed: (record id, revision, model before it, the tables it touches)
    _failed: tuple[int, str, Any, frozenset[Any]] | None = None
    _checksums: dict[str | None, str | None] = field(default_factory=dict)
    # the revision that just failed had tables carried from an earlier read (not read before it)
    _failed_carried: bool = False
    # revisions already retried once after a catalog conflict on a carried model
    _conflict_retried: set[str] = field(default_factory=set)
    # the revision being applied watches the migration connection through this (see _track_statements)
    tracker: _StatementTracker | None = None

    # -- connections -------------------------------------------------------------------------

    def _connect(self, role: str, *, autocommit: bool = False) -> Connection:
        """A new connection named ``alembic_guard:<run>:<role>`` in ``pg_stat_activity``."""
        conn = self.engine.connect()
        if autocommit:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(
            text("SELECT set_config('application_name', :n, false)"),
            {"n": application_name(self.run_id, role)},
        )
        if not autocommit:
            conn.commit()
        return conn

    def _configure_session(self, conn: Connection) -> None:
        """Session-level timeouts: they hold inside transactions and autocommit blocks alike."""
        s = self.settings
        conn.execute(text("SELECT set_config('lock_timeout', :v, false)"), {"v": s.lock_timeout or "0"})
        conn.execute(
            text("SELECT set_config('statement_timeout', :v, false)"), {"v": s.statement_timeout or "0"}
        )
        # PostgreSQL ≥ 14: a backend busy in a long statement notices its client died.
        conn.execute(
            text(
                "SELECT set_config('client_connection_check_interval', '1000', false) "
                "WHERE current_setting('server_version_num')::int >= 140000"
            )
        )
        self._backend_pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        conn.commit()

    def ledger_add_step(self, record_id: int, step: dict[str, Any]) -> None:
        assert self.ledger is not None
        self.ledger.add_step(record_id, step)
        self._steps_of.setdefault(record_id, []).append(step)

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> RunResult:
        """The whole guarded run.

        Holds the advisory lock on its own AUTOCOMMIT connection from the first
        change to the last; the ledger is written on that connection too.
        Each revision takes whatever locks its statements take, bounded by
        ``lock_timeout``.
        """
        t0 = time.monotonic()
        version_table = self.configure_kw.get("version_table", "alembic_version")
        schema = self.configure_kw.get("version_table_schema")
        original_fn = self.context.context_opts.get("fn")
        self._prepare()
        target = self._upgrade_target()
        admin = self._connect("lock", autocommit=True)
        abandoned: list[str] = []
        try:
            lock = AdvisoryLock(admin, lock_key(version_table, schema), wait_s=self.settings.lock_wait_s)
            at_target: Callable[[], bool] | None = None
            if target is not None:
                # A replica whose database is already at the target has nothing to do: it
                # needs no lock, and a waiter stops waiting the moment the holder gets there
                # (instead of taking the lock in turn, one replica after another).
                # Asked at every poll by every waiting replica: once the version table
                # exists, one query per poll instead of two.
                version_table_seen = False

                def at_target() -> bool:
                    nonlocal version_table_seen
                    heads = _current_heads(admin, version_table, schema, known_to_exist=version_table_seen)
                    version_table_seen = heads is not None
                    return heads == target

                if at_target():
                    heads = tuple(sorted(target))
                    log.info("database already at %s: nothing to do", ",".join(heads))
                    return self._result(t0, heads, heads, lock, abandoned)
            waited = lock.acquire(give_up_if=at_target)
            if not lock.held:
                heads = tuple(sorted(target or ()))
                log.info(
                    "another run brought the database to %s after %.1fs: nothing to do",
                    ",".join(heads),
                    waited,
                )
                return self._result(t0, heads, heads, lock, abandoned)
            if waited > 0.5:
                log.info("migration lock granted after %.1fs", waited)
            try:
                self.ledger = Ledger(admin, schema=schema)
                if self.ledger.exists():
                    for rec in self.ledger.reap_abandoned():
                        log.warning(
                            "revision %s: an earlier run (host %s, pid %s, started %s) died while "
                            "applying it; marked abandoned",
                            rec.revision,
                            rec.host,
                            rec.pid,
                            rec.started_at,
                        )
                        abandoned.append(rec.revision)
                heads_before, heads_after = self._run_attempts(original_fn)
            finally:
                lock.release()
        finally:
            admin.close()
        return self._result(t0, heads_before, heads_after, lock, abandoned)

    def _result(
        self,
        t0: float,
        before: tuple[str, ...],
        after: tuple[str, ...],
        lock: AdvisoryLock,
        abandoned: list[str],
    ) -> RunResult:
        return RunResult(
            revisions=tuple(self.outcomes),
            heads_before=before,
            heads_after=after,
            duration_s=time.monotonic() - t0,
            lock_wait_s=lock.waited_s,
            retries=self.retries,
            abandoned=tuple(abandoned),
            profile=self.settings.profile,
            policy=self.settings.policy,
        )

    def _upgrade_target(self) -> frozenset[str] | None:
        """The heads ``alembic upgrade <rev>`` ends at, when that is certain; else ``None``.

        Only for the upgrade command to ``head``, ``heads`` or a plain revision id
        of a single-head history; relative, branch and ``--sql`` targets get ``None``.
        """
        fn = self.context.context_opts.get("fn")
        if getattr(fn, "__qualname__", "") != "upgrade.<locals>.upgrade":
            return None
        dest = self.context.context_opts.get("destination_rev")
        script = getattr(self.context, "script", None)
        if script is None or not isinstance(dest, str):
            return None
        heads = tuple(script.get_heads())
        if dest == "heads" or (dest == "head" and len(heads) == 1):
            return frozenset(heads)
        if len(heads) == 1 and dest.isalnum():
            try:
                rev = script.get_revision(dest)
            except Exception:
                return None
            if rev is not None and rev.revision == heads[0]:
                return frozenset(heads)
        return None

    def _prepare(self) -> None:
        """Read every revision file before queueing for the lock.

        Needed anyway to know the target heads, and done outside the lock so a
        replica that does take it in turn holds it for as short a time as
        possible.  Heavier imports (analyzer, guarded operations) wait until the
        lock is held: a replica that finds the work done never pays for them,
        and on a small machine its CPU is better left to the one migrating.
        """
        script = getattr(self.context, "script", None)
        if script is not None:
            script.revision_map.heads  # noqa: B018 - loads and parses every revision file

    def _new_guard_context(self) -> Any:
        try:
            from alembic_guard.ops.context import GuardContext, GuardSettings
        except ImportError:  # the guarded operations are not installed in this build
            return None
        s = self.settings
        gs = GuardSettings(
            policy=s.policy,
            lock_timeout=s.lock_timeout,
            statement_timeout=s.statement_timeout,
            concurrent_indexes=s.concurrent_indexes,
            allow_destructive=s.allow_destructive,
        )
        ctx = GuardContext(settings=gs)
        # _configure_session gave the migration connection these very timeouts
        ctx.session_timeouts = True
        # under the migration lock, tables only guarded operations changed need no
        # second read; _wrap_step calls forget() after anything else
        ctx.carry_current = True
        return ctx

    def _run_attempts(self, original_fn: Callable[..., Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Let Alembic run the command on a fresh migration connection; again after a lock timeout.

        Each attempt re-reads the current heads, so it resumes after the
        revisions the previous attempts committed.  Returns (heads before, after).
        """
        heads_before: tuple[str, ...] | None = None
        attempt = 0
        while True:
            attempt += 1
            self._failure = None
            self._failed_carried = False
            conn = self._connect("migrate")
            try:
                self._configure_session(conn)
                _track_statements(self, conn)
                self._steps_done = None  # re-read: the failed attempt may have completed steps
                self.guard_ctx = self._new_guard_context()
                extra: dict[str, Any] = {}
                if self.guard_ctx is not None:
                    from alembic_guard.ops.context import GUARD_OPTION

                    extra[GUARD_OPTION] = self.guard_ctx
                self.context.configure(
                    connection=conn,
                    target_metadata=self.target_metadata,
                    transaction_per_migration=True,
                    fn=self._wrap_fn(original_fn),
                    **extra,
                    **self.configure_kw,
                )
                mc = self.context.get_context()
                if heads_before is None:
                    heads_before = tuple(mc.get_current_heads())
                try:
                    self.context.run_migrations()
                    self._finalize_pending()
                    return heads_before, tuple(mc.get_current_heads())
                except Exception as exc:
                    self._verify_rollback(conn)
                    if self.pending is not None and self.ledger is not None:
                        # Failed after upgrade() returned (version row update or commit).
                        p, self.pending = self.pending, None
                        self.ledger.finish(
                            p.record_id,
                            status="failed",
                            sqlstate=sqlstate_of(exc),
                            error=_first_line(exc)[:2000],
                        )
                    code = sqlstate_of(exc)
                    failed = self._failure[0] if self._failure else None
                    if (
                        code in CATALOG_CONFLICTS
                        and self._failed_carried
                        and failed is not None
                        and failed not in self._conflict_retried
                    ):
                        # The model of a table read earlier in the run was carried into this
                        # revision, and PostgreSQL says it no longer matches: something outside
                        # this run changed the catalog.  The rollback left nothing; the next
                        # attempt starts from a fresh read, so the guards decide on what is there.
                        self._conflict_retried.add(failed)
                        self.retries += 1
                        log.warning(
                            "revision %s: SQLSTATE %s on a table carried from an earlier read in this run: "
                            "the schema may have changed outside it; reading the catalog again and retrying "
                            "the revision once",
                            failed,
                            code,
                        )
                        continue
                    if code == LOCK_NOT_AVAILABLE and attempt <= self.settings.retries:
                        self.retries += 1
                        backoff = min(MAX_RETRY_DELAY_S, self.settings.retry_backoff_s * 2 ** (attempt - 1))
                        delay = backoff * random.uniform(0.5, 1.0)
                        log.warning(
                            "lock_timeout (%s) reached: a table the revision alters is locked by another "
                            "session; retry %d of %d in %.1fs",
                            self.settings.lock_timeout,
                            attempt,
                            self.settings.retries,
                            delay,
                        )
                        time.sleep(delay)
                        continue
                    raise self._explain(exc) from exc
            finally:
                conn.close()

    def _verify_rollback(self, conn: Connection) -> None:
        """After a failed revision's rollback: is the schema of what it touched as it was before?

        Reads the catalog for those tables (one round trip, no transaction left
        open) and compares with the model as refreshed before the revision ran
        (:func:`alembic_guard.rollback.verify_after_failure`).  Logs the report
        and keeps it in the failed record's ``events.rollback``.
        """
        failed, self._failed = self._failed, None
        if failed is None or self.ledger is None:
            return
        record_id, revision, before_model, touched = failed
        steps = self._steps_of.pop(record_id, [])
        from alembic_guard.rollback import scope, verify_after_failure

        try:
            if conn.in_transaction():
                conn.rollback()
            report = verify_after_failure(
                conn, scope(before_model, touched), revision=revision, completed_steps=steps, tables=touched
            )
            if conn.in_transaction():
                conn.rollback()
            self.ledger.add_event(record_id, "rollback", report.as_json())
        except Exception as exc:  # e.g. the connection died with the revision: the failure is what counts
            log.warning("revision %s: rollback not verified (%s)", revision, _first_line(exc))
            return
        if report.clean:
            log.info("%s", report.render())
        else:
            log.warning("%s", report.render())

    def _explain(self, exc: Exception) -> Exception:
        if isinstance(exc, GuardError) or self._failure is None:
            return exc
        rev, path, index, statement = self._failure
        code = sqlstate_of(exc)
        where = f"revision {rev} ({os.path.basename(path) if path else '?'})"
        at = f" at statement {index}" if index else ""
        hint = "the revision was rolled back and alembic_version is unchanged; fix it and run again"
        if code == LOCK_NOT_AVAILABLE:
            hint = (
                "another session holds a lock on a table this revision alters; find it in pg_locks / "
                "pg_stat_activity, or raise retries / lock_timeout"
            )
        hint += " (alembic guard-status shows the ledger)"
        return MigrationFailed(
            f"{where} failed{at}: {'SQLSTATE ' + code + ': ' if code else ''}{_first_line(exc)}",
            sqlstate=code,
            hint=hint,
            details=f"  statement: {' '.join(statement.split())[:1000]}" if statement else None,
        )

    # -- per revision --------------------------------------------------------------------------

    def _wrap_fn(self, original_fn: Callable[..., Any]) -> Callable[..., Any]:
        from alembic.runtime.migration import RevisionStep

        def fn(heads: Any, migration_context: Any) -> list[Any]:
            steps = list(original_fn(heads, migration_context))
            upgrades = [s for s in steps if isinstance(s, RevisionStep) and s.is_upgrade]
            if upgrades and self.settings.preflight and self.guard_ctx is not None:
                self._preload(upgrades, migration_context)
                self._data_preflight(upgrades, migration_context)
            for step in steps:
                if isinstance(step, RevisionStep):
                    step.migration_fn = self._wrap_step(step, migration_context)
            return steps

        return fn

    def _preload(self, steps: list[Any], migration_context: Any) -> None:
        """Read every table the pending revisions touch, in one catalog query, before the first runs.

        Renders and analyzes each pending revision (cached: the per-revision
        pre-flight reuses it).  The guard context then carries each table from
        revision to revision while only guarded operations change it, instead
        of reading it again before each revision (see ``_wrap_step``).
        """
        from alembic_guard.runtime.preflight import analyze_revision

        tables: set[Any] = set()
        for step in steps:
            path = getattr(step.revision, "path", None)
            found = analyze_revision(
                str(step.revision.revision), path, step.migration_fn, self._checksum(path)
            )
            if found is not None:
                tables.update(found[1])
        if tables:
            self.guard_ctx.ensure_loaded(migration_context.connection, tables)

    def _data_preflight(self, steps: list[Any], migration_context: Any) -> None:
        """Refuse the whole run, before its first revision, when the data breaks a pending constraint.

        Runs the guarded operations' data checks (read-only) on the migration
        connection; see :mod:`.data_preflight`.  A refusal is recorded in the
        ledger against the revision that holds the first failing constraint.
        """
        from alembic_guard.runtime.data_preflight import PendingRevision, find_refusals, refusal_error

        pending = [
            PendingRevision(
                str(step.revision.revision),
                getattr(step.revision, "path", None),
                self._checksum(getattr(step.revision, "path", None)),
                step.migration_fn,
            )
            for step in steps
        ]
        refusals = find_refusals(pending, migration_context, self.guard_ctx)
        if not refusals:
            return
        error = refusal_error(refusals)
        first = refusals[0]
        ledger = self._ensure_ledger()
        self.attempts[first.revision] = self.attempts.get(first.revision, 0) + 1
        record_id = ledger.start(
            run_id=self.run_id,
            revision=first.revision,
            direction="upgrade",
            attempt=self.attempts[first.revision],
            checksum=self._checksum(first.path),
            backend_pid=self._backend_pid,
            profile=self.settings.profile,
            policy=self.settings.policy,
        )
        ledger.finish(
            record_id,
            status="failed",
            error=error.message[:2000],
            events={"data_preflight": [r.error.message for r in refusals]},
        )
        self.outcomes.append(RevisionOutcome(first.revision, "upgrade", "failed", 0.0, 1, 0, 0))
        log.error("%s", error.render())
        raise error

    def _checksum(self, path: str | None) -> str | None:
        """The revision file's checksum, read once per run (data pre-flight and the revision share it)."""
        if path not in self._checksums:
            self._checksums[path] = file_checksum(path)
        return self._checksums[path]

    def _ensure_ledger(self) -> Ledger:
        assert self.ledger is not None
        if not self._ledger_ready:
            self.ledger.ensure()
            self._ledger_ready = True
        return self.ledger

    def _finalize_pending(self, *, write: bool = True) -> dict[str, Any] | None:
        """The previous revision's transaction has committed: record its success.

        With ``write=False`` the ledger update is returned (for :meth:`Ledger.start`
        to send in the same round trip) instead of sent.
        """
        p, self.pending = self.pending, None
        if p is None:
            return None
        duration = time.monotonic() - p.started
        finish: dict[str, Any] = {
            "record_id": p.record_id,
            "status": "succeeded",
            "ops_done": p.ops_done,
            "ops_skipped": p.ops_skipped,
            "ops_total": p.ops_total,
            "debts": p.debts,
            "events": p.events,
        }
        if write:
            self._ensure_ledger().finish(**finish)
        self.outcomes.append(
            RevisionOutcome(
                p.revision,
                p.direction,
                "succeeded",
                duration,
                self.attempts.get(p.revision, 1),
                p.ops_done,
                p.ops_skipped,
                tuple(p.debts),
            )
        )
        extra = f", {len(p.debts)} debt(s) recorded" if p.debts else ""
        log.info(
            "%s %s in %.0f ms (%d op(s), %d skipped%s)",
            "applied" if p.direction == "upgrade" else "reverted",
            p.revision,
            duration * 1000,
            p.ops_done,
            p.ops_skipped,
            extra,
        )
        return None if write else finish

    def _wrap_step(self, step: Any, migration_context: Any) -> Callable[..., Any]:
        script = step.revision
        revision = str(script.revision)
        path = getattr(script, "path", None)
        direction = "upgrade" if step.is_upgrade else "downgrade"
        inner = step.migration_fn

        @functools.wraps(inner)
        def run(**kw: Any) -> None:
            finish_previous = self._finalize_pending(write=False)
            ledger = self._ensure_ledger()
            checksum = self._checksum(path)
            self.attempts[revision] = self.attempts.get(revision, 0) + 1
            conn = migration_context.connection
            backend_pid = self._backend_pid
            record_id = ledger.start(
                run_id=self.run_id,
                revision=revision,
                direction=direction,
                attempt=self.attempts[revision],
                checksum=checksum,
                backend_pid=backend_pid,
                finish_previous=finish_previous,
                profile=self.settings.profile,
                policy=self.settings.policy,
            )
            started = time.monotonic()
            if self._steps_done is None:
                self._steps_done = ledger.completed_steps()
            tracker = _StatementTracker(
                self, migration_context, record_id, self._steps_done.get((revision, checksum), set())
            )
            before = None
            touched: set[Any] | None = None
            carried = False
            try:
                if self.settings.preflight and step.is_upgrade:
                    from alembic_guard.runtime.preflight import preflight_revision

                    checked = preflight_revision(
                        revision, path, inner, conn, self.guard_ctx, self.settings.policy, checksum
                    )
                    if checked is not None:
                        touched, read = checked
                        carried = not read.issuperset(touched)
                if self.guard_ctx is not None and touched is None:
                    self.guard_ctx.begin_revision(revision, conn, None)
                # what rollback verification compares with, should the revision fail: the model
                # as just refreshed (facts are immutable; the ops replace them in their dicts)
                before = (
                    self.guard_ctx.model.copy()
                    if touched is not None and self.guard_ctx is not None
                    else None
                )
                with tracker:
                    inner(**kw)
            except BaseException as exc:
                index, statement = tracker.current or (None, None)
                self._failure = (revision, path, index, statement)
                self._failed_carried = carried
                if before is not None and touched is not None:
                    self._failed = (record_id, revision, before, frozenset(touched))
                done, skipped, total, debts, events = self._op_counts(tracker, self._take_events())
                ledger.finish(
                    record_id,
                    status="failed",
                    ops_done=done,
                    ops_skipped=skipped,
                    ops_total=total,
                    sqlstate=sqlstate_of(exc),
                    error=_first_line(exc)[:2000],
                    statement=statement,
                    statement_index=index,
                    debts=debts,
                    events=events,
                )
                self.outcomes.append(
                    RevisionOutcome(
                        revision,
                        direction,
                        "failed",
                        time.monotonic() - started,
                        self.attempts[revision],
                        done,
                        skipped,
                        tuple(debts),
                    )
                )
                log.error(
                    "revision %s failed after %.0f ms: %s",
                    revision,
                    (time.monotonic() - started) * 1000,
                    _first_line(exc),
                )
                raise
            op_events = self._take_events()
            if self.guard_ctx is not None and (touched is None or not _followed(tracker, op_events)):
                # SQL the guards could not follow ran: the next revision reads what it touches
                self.guard_ctx.forget()
            done, skipped, total, debts, events = self._op_counts(tracker, op_events)
            self.pending = _Pending(
                record_id, revision, direction, started, done, skipped, total, debts, events
            )

        return run

    def _take_events(self) -> list[Any]:
        return self.guard_ctx.take_events() if self.guard_ctx is not None else []

    def _op_counts(
        self, tracker: _StatementTracker, events: Iterable[Any]
    ) -> tuple[int, int, int, list[dict[str, Any]], dict[str, Any]]:
        """(ops done, ops skipped, ops total, debts, events summary) for the ledger."""
        counts: dict[str, int] = {}
        debts: list[dict[str, Any]] = []
        for ev in events:
            action = str(getattr(ev, "action", "unguarded"))
            counts[action] = counts.get(action, 0) + 1
            if action == "debt":
                debts.append(
                    {
                        "op": str(getattr(ev, "op", "")),
                        "target": str(getattr(ev, "target", "")),
                        "reason": str(getattr(ev, "reason", "")),
                    }
                )
        summary: dict[str, Any] = {
            "statements": tracker.index,
            "writes": tracker.writes,
            "steps_skipped": tracker.skipped_steps,
            "actions": counts,
        }
        if counts:
            done = counts.get("act", 0) + counts.get("unguarded", 0)
            skipped = counts.get("skip", 0) + counts.get("debt", 0)
        else:
            done, skipped = tracker.writes - tracker.skipped_steps, tracker.skipped_steps
        return done, skipped, done + skipped, debts, summary


def _followed(tracker: _StatementTracker, events: Iterable[Any]) -> bool:
    """Did the guards see every change the revision made, so that the model still matches the catalog?

    Not when a statement ran outside a guarded operation, nor for raw SQL
    (``op.execute``: its changes reach the model through a replay of the
    analysis, close to what the catalog would say but not read from it), nor
    for anything recorded as unguarded.
    """
    if tracker.unfollowed:
        return False
    return all(
        getattr(ev, "action", "unguarded") != "unguarded" and getattr(ev, "op", "") != "execute"
        for ev in events
    )


def _current_heads(
    conn: Connection, version_table: str, schema: str | None, *, known_to_exist: bool = False
) -> frozenset[str] | None:
    """The version table's rows on an autocommit connection (no transaction left open); read-only.

    ``None`` when there is no version table.  ``known_to_exist`` skips the
    existence check (a table dropped since is read as "no version table").
    """
    name = (quote_ident(schema) + "." if schema else "") + quote_ident(version_table)
    if (
        not known_to_exist
        and not conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar()
    ):
        return None
    try:
        rows = conn.execute(text(f"SELECT version_num FROM {name}")).scalars()
    except ProgrammingError:  # undefined_table: dropped under us (autocommit: nothing to roll back)
        return None
    return frozenset(str(v) for v in rows)


def resolve_url(config: Any) -> str:
    """The start-up API's explicit URL, else ``DATABASE_URL``, else ``sqlalchemy.url``."""
    url = (
        config.attributes.get(URL_ATTR)
        or os.environ.get("DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise UsageError(
            "no database URL: DATABASE_URL is not set and alembic.ini has no sqlalchemy.url",
            hint="export DATABASE_URL=postgresql://user:password@host/dbname",
        )
    return str(url)


AUTOGENERATE_PLUGINS = ("alembic.autogenerate.*", "alembic_guard.*")
"""Alembic's own comparators and alembic_guard's (INVALID indexes, NOT VALID constraints)."""


def _bookkeeping_names() -> frozenset[str]:
    from alembic_guard.runtime.ledger import LEDGER_TABLE

    return frozenset({LEDGER_TABLE, f"{LEDGER_TABLE}_id_seq"})


def autogenerate_defaults(configure_kw: dict[str, Any]) -> dict[str, Any]:
    """``configure_kw`` with what autogenerate and ``alembic check`` need next to the ledger.

    Adds ``autogenerate_plugins`` (:data:`AUTOGENERATE_PLUGINS`) unless given,
    and wraps ``include_name`` / ``include_object`` (the user's own, if any, is
    still asked) so that the ledger table ``alembic_guard_log`` and its sequence
    are never compared: it is not in the application's metadata, and without
    this every ``alembic check`` would propose dropping it.  Pure.
    """
    kw = dict(configure_kw)
    kw.setdefault("autogenerate_plugins", list(AUTOGENERATE_PLUGINS))
    hidden = _bookkeeping_names()
    user_name = kw.get("include_name")
    user_object = kw.get("include_object")

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        if name in hidden:
            return False
        return True if user_name is None else bool(user_name(name, type_, parent_names))

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = getattr(obj, "table", None)
        if name in hidden or getattr(table, "name", None) in hidden:
            return False
        return True if user_object is None else bool(user_object(obj, name, type_, reflected, compare_to))

    kw["include_name"] = include_name
    kw["include_object"] = include_object
    return kw


def run_migrations(context: Any, target_metadata: Any = None, **configure_kw: Any) -> RunResult | None:
    """Run the command's migrations with lock, ledger, pre-flight and guards: the whole ``env.py``.

    ``context`` is ``alembic.context``; extra keywords go to
    ``context.configure`` (e.g. ``version_table_schema``), with the defaults
    of :func:`autogenerate_defaults` (your ``include_name`` / ``include_object``
    are still called; the ledger table is hidden from autogenerate).  Offline mode
    renders SQL (one ``BEGIN``/``COMMIT`` per revision).  Online mode takes the
    migration lock, so it blocks while another run migrates this database.
    """
    # ``alembic.context`` is a module proxy; the EnvironmentContext behind it holds the command's options.
    context = getattr(context, "_proxy", None) or context
    configure_kw = autogenerate_defaults(configure_kw)
    config = context.config
    if context.is_offline_mode():
        url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url") or "postgresql://"
        context.configure(
            url=url,
            target_metadata=target_metadata,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            transaction_per_migration=True,
            **configure_kw,
        )
        with context.begin_transaction():
            context.run_migrations()
        return None
    settings = config.attributes.get(SETTINGS_ATTR)
    if settings is None:
        settings = load_settings(ini_path=config.config_file_name)
    engine = create_engine(resolve_url(config), poolclass=NullPool)
    try:
        result = _Runner(context, engine, settings, target_metadata, dict(configure_kw)).run()
    finally:
        engine.dispose()
    config.attributes[RESULT_ATTR] = result
    return result
