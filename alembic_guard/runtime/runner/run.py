"""The run: lock → ledger (dead runs reaped) → Alembic's steps on a migration connection → release.

Attempts: a revision that failed on ``lock_not_available`` or on a carried
model PostgreSQL contradicted is tried again (:mod:`.retry`); each attempt
re-reads the current heads, so it resumes after the revisions committed.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection, Engine

from alembic_guard.alembic_internals import is_upgrade_command
from alembic_guard.errors import GuardError
from alembic_guard.runtime.config import RuntimeSettings
from alembic_guard.runtime.ledger import Ledger, LedgerRecord, ResumeState
from alembic_guard.runtime.lock import AdvisoryLock, LockLost, lock_key
from alembic_guard.runtime.pooler import migration_lock
from alembic_guard.runtime.runner import revisions, session
from alembic_guard.runtime.runner.results import (
    MigrationFailed,
    RevisionOutcome,
    RunResult,
    file_checksum,
    first_line,
    sqlstate_of,
)
from alembic_guard.runtime.runner.resume import StatementTracker, track_statements
from alembic_guard.runtime.runner.retry import LOCK_NOT_AVAILABLE, retry_after
from alembic_guard.search_path import resolving_in

log = logging.getLogger("alembic_guard")


@dataclass
class Runner:
    context: Any  # alembic.runtime.environment.EnvironmentContext
    engine: Engine
    settings: RuntimeSettings
    target_metadata: Any
    configure_kw: dict[str, Any]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    ledger: Ledger | None = None
    outcomes: list[RevisionOutcome] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    pending: revisions.Pending | None = None
    retries: int = 0
    guard_ctx: Any = None
    _ledger_ready: bool = False
    failure: tuple[str, str | None, int | None, str | None] | None = None
    backend_pid: int | None = None
    # what earlier runs left done (read once per attempt, before its first revision)
    resume: ResumeState | None = None
    # the ledger update of a revision that committed, sent with the next record (see revisions)
    unsent_finish: dict[str, Any] | None = None
    # the migration lock, once taken: every statement of the run first checks it is still held
    lock: AdvisoryLock | None = None
    # record id -> the non-transactional steps this run recorded for it (for rollback verification)
    steps_of: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    # the revision that just failed: (record id, revision, model before it, the tables it touches)
    failed: tuple[int, str, Any, frozenset[Any]] | None = None
    _checksums: dict[str | None, str | None] = field(default_factory=dict)
    # the revision that just failed had tables carried from an earlier read (not read before it)
    failed_carried: bool = False
    # revisions already retried once after a catalog conflict on a carried model
    _conflict_retried: set[str] = field(default_factory=set)
    # the revision being applied watches the migration connection through this (see track_statements)
    tracker: StatementTracker | None = None

    def check_lock(self) -> None:
        """Raise :class:`LockLost` when the migration lock's connection is gone (``AdvisoryLock.lost``)."""
        lock = self.lock
        if lock is not None and lock.held:
            tracker = self.tracker
            lock.ensure_held(
                f"statement {tracker.index + 1} of revision {tracker.revision}"
                if tracker
                else "the next statement"
            )

    def ledger_add_step(self, record_id: int, step: dict[str, Any]) -> None:
        assert self.ledger is not None
        self.ledger.add_step(record_id, step)
        self.steps_of.setdefault(record_id, []).append(step)

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
        admin = session.connect(self.engine, self.run_id, "lock", autocommit=True)
        abandoned: list[str] = []
        try:
            lock = migration_lock(
                admin,
                self.engine,
                lock_key(version_table, schema),
                wait_s=self.settings.lock_wait_s,
                lease_s=self.settings.lock_lease_s,
                schema=schema,
                version_table=version_table,
                direct=self.settings.direct_url is not None,
            )
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
                    heads = session.current_heads(
                        admin, version_table, schema, known_to_exist=version_table_seen
                    )
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
            self.lock = lock
            try:
                self.ledger = Ledger(admin, schema=schema, version_table=version_table)
                if self.ledger.exists():
                    for rec in self.ledger.reap_abandoned(self._applied_check(admin, version_table, schema)):
                        if rec.status == "succeeded":
                            log.warning(
                                "revision %s: an earlier run (host %s, pid %s, started %s) died after it "
                                "committed (alembic_version shows it %s); recorded as succeeded",
                                rec.revision,
                                rec.host,
                                rec.pid,
                                rec.started_at,
                                "applied" if rec.direction == "upgrade" else "reverted",
                            )
                            continue
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

    def _applied_check(
        self, admin: Connection, version_table: str, schema: str | None
    ) -> Callable[[LedgerRecord], bool]:
        """For the reaper: does the version table show a dead run's revision done?  Read once, lazily."""
        applied: set[str] | None = None

        def check(record: LedgerRecord) -> bool:
            nonlocal applied
            if record.direction not in ("upgrade", "downgrade"):
                return False
            if applied is None:
                heads = session.current_heads(admin, version_table, schema) or frozenset()
                applied = set()
                script = getattr(self.context, "script", None)
                if script is not None and heads:
                    try:
                        applied = {s.revision for s in script.revision_map.iterate_revisions(heads, "base")}
                    except Exception:  # heads this script directory does not know: decide nothing
                        applied = set()
            return (record.revision in applied) == (record.direction == "upgrade")

        return check

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
        if not is_upgrade_command(self.context.context_opts.get("fn")):
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
            from alembic_guard.ops.context import GuardContext
        except ImportError:  # the guarded operations are not installed in this build
            return None
        ctx = GuardContext(settings=self.settings)
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
            self.failure = None
            self.failed_carried = False
            conn = session.connect(self.engine, self.run_id, "migrate")
            try:
                self.backend_pid, search_path = session.configure_session(conn, self.settings)
                track_statements(self, conn)
                self.resume = None  # re-read: the failed attempt may have completed steps
                self.guard_ctx = self._new_guard_context()
                extra: dict[str, Any] = {}
                if self.guard_ctx is not None:
                    from alembic_guard.ops.context import GUARD_OPTION

                    extra[GUARD_OPTION] = self.guard_ctx
                self.context.configure(
                    connection=conn,
                    target_metadata=self.target_metadata,
                    transaction_per_migration=True,
                    fn=revisions.wrap_fn(self, original_fn),
                    **extra,
                    **self.configure_kw,
                )
                mc = self.context.get_context()
                if heads_before is None:
                    heads_before = tuple(mc.get_current_heads())
                try:
                    # the guards, pre-flight and the analysis key unqualified names by this path
                    with resolving_in(search_path):
                        self.context.run_migrations()
                        revisions.finalize_pending(self)
                        revisions.flush_finish(self)
                    return heads_before, tuple(mc.get_current_heads())
                except Exception as exc:
                    if isinstance(exc, LockLost) or (
                        self.lock is not None and self.lock.held and self.lock.lost()
                    ):
                        # Nothing more is written: the ledger's connection went with the lock.
                        # The next run reaps this run's record (and finds what committed).
                        self.pending = self.unsent_finish = self.failed = None
                        if isinstance(exc, LockLost):
                            raise
                        revision = self.failure[0] if self.failure else None
                        where = f"the rest of revision {revision}" if revision else "the next revision"
                        raise self.lock.lost_error(where) from exc  # type: ignore[union-attr]
                    revisions.flush_finish(self)
                    self._verify_rollback(conn)
                    if self.pending is not None and self.ledger is not None:
                        # Failed after upgrade() returned (version row update or commit).
                        p, self.pending = self.pending, None
                        self.ledger.finish(
                            p.record_id,
                            status="failed",
                            sqlstate=sqlstate_of(exc),
                            error=first_line(exc)[:2000],
                        )
                    code = sqlstate_of(exc)
                    failed = self.failure[0] if self.failure else None
                    again = retry_after(
                        code,
                        attempt=attempt,
                        retries=self.settings.retries,
                        backoff_s=self.settings.retry_backoff_s,
                        revision=failed,
                        carried=self.failed_carried,
                        conflict_retried=self._conflict_retried,
                    )
                    if again is not None and again.reason == "catalog_conflict" and failed is not None:
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
                    if again is not None:
                        self.retries += 1
                        log.warning(
                            "lock_timeout (%s) reached: a table the revision alters is locked by another "
                            "session; retry %d of %d in %.1fs",
                            self.settings.lock_timeout,
                            attempt,
                            self.settings.retries,
                            again.delay_s,
                        )
                        time.sleep(again.delay_s)
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
        failed, self.failed = self.failed, None
        if failed is None or self.ledger is None:
            return
        record_id, revision, before_model, touched = failed
        steps = self.steps_of.pop(record_id, [])
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
            log.warning("revision %s: rollback not verified (%s)", revision, first_line(exc))
            return
        if report.clean:
            log.info("%s", report.render())
        else:
            log.warning("%s", report.render())

    def _explain(self, exc: Exception) -> Exception:
        if isinstance(exc, GuardError) or self.failure is None:
            return exc
        rev, path, index, statement = self.failure
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
            f"{where} failed{at}: {'SQLSTATE ' + code + ': ' if code else ''}{first_line(exc)}",
            sqlstate=code,
            hint=hint,
            details=f"  statement: {' '.join(statement.split())[:1000]}" if statement else None,
        )

    # -- per revision --------------------------------------------------------------------------

    def checksum(self, path: str | None) -> str | None:
        """The revision file's checksum, read once per run (data pre-flight and the revision share it)."""
        if path not in self._checksums:
            self._checksums[path] = file_checksum(path)
        return self._checksums[path]

    def ensure_ledger(self) -> Ledger:
        assert self.ledger is not None
        if not self._ledger_ready:
            self.ledger.ensure()
            self._ledger_ready = True
        return self.ledger
