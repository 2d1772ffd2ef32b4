"""Each revision of the run: the steps Alembic plans are wrapped with pre-flight, ledger record and tracking.

``wrap_fn`` is where the run sees the whole list of pending revisions
before the first one runs (tables read once, data pre-flight); ``wrap_step``
runs one revision: a ``running`` record, pre-flight, ``upgrade()``, and
``failed`` on error; its success is recorded once Alembic has committed it
(``finalize_pending``, at the start of the next step or at the end).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alembic_guard.runtime.lock import LockLost
from alembic_guard.runtime.runner.results import RevisionOutcome, first_line, sqlstate_of
from alembic_guard.runtime.runner.resume import StatementTracker, followed

if TYPE_CHECKING:
    from alembic_guard.runtime.runner.run import Runner

log = logging.getLogger("alembic_guard")


@dataclass
class Pending:
    record_id: int
    revision: str
    direction: str
    started: float
    ops_done: int
    ops_skipped: int
    ops_total: int | None
    debts: list[dict[str, Any]]
    events: dict[str, Any]
    data_steps: list[dict[str, Any]]


def wrap_fn(runner: Runner, original_fn: Callable[..., Any]) -> Callable[..., Any]:
    from alembic.runtime.migration import RevisionStep

    def fn(heads: Any, migration_context: Any) -> Iterator[Any]:
        steps = list(original_fn(heads, migration_context))
        upgrades = [s for s in steps if isinstance(s, RevisionStep) and s.is_upgrade]
        if upgrades and runner.settings.preflight and runner.guard_ctx is not None:
            preload(runner, upgrades, migration_context)
            version_preflight(runner, upgrades, migration_context)
            data_preflight(runner, upgrades, migration_context)
        for step in steps:
            if isinstance(step, RevisionStep):
                step.migration_fn = wrap_step(runner, step, migration_context)
        return _one_by_one(runner, steps)

    return fn


def _one_by_one(runner: Runner, steps: list[Any]) -> Iterator[Any]:
    """Alembic's steps, handed over one at a time.

    Alembic asks for the next step once the previous one's transaction has
    committed: the moment to say it was applied, before Alembic logs its
    ``Running upgrade`` line for the next one (the ledger update goes with the
    next record's insert, in one round trip).
    """
    for step in steps:
        finalize_pending(runner)
        yield step
    finalize_pending(runner)


def preload(runner: Runner, steps: list[Any], migration_context: Any) -> None:
    """Read every table the pending revisions touch, in one catalog query, before the first runs.

    Renders and analyzes each pending revision (cached: the per-revision
    pre-flight reuses it).  The guard context then carries each table from
    revision to revision while only guarded operations change it, instead
    of reading it again before each revision (see ``wrap_step``).
    """
    from alembic_guard.runtime.preflight import analyze_revision

    tables: set[Any] = set()
    for step in steps:
        path = getattr(step.revision, "path", None)
        found = analyze_revision(str(step.revision.revision), path, step.migration_fn, runner.checksum(path))
        if found is not None:
            tables.update(found[1])
    if tables:
        runner.guard_ctx.ensure_loaded(migration_context.connection, tables)
    # hook for the guards: the shape later revisions of this run give an object (issue 10)
    from alembic_guard.runtime.preflight import history_provider, later_changes_provider

    runner.guard_ctx.later = later_changes_provider(
        [
            (
                str(s.revision.revision),
                getattr(s.revision, "path", None),
                s.migration_fn,
                runner.checksum(getattr(s.revision, "path", None)),
            )
            for s in steps
        ]
    )
    # and what the whole history leaves behind, for a re-run of it (issue 10)
    runner.guard_ctx.history = history_provider(_lineage(runner, steps))


def _lineage(
    runner: Runner, steps: list[Any]
) -> list[tuple[str, str | None, Callable[..., Any], str | None]]:
    """Every revision from the base to the heads, base first (those of the script directory when
    Alembic gives it, else the pending steps alone), as the history replay takes them."""
    scripts: list[Any] = [s.revision for s in steps if getattr(s, "is_upgrade", True)]
    script = getattr(runner.context, "script", None)
    if script is not None and scripts:
        try:
            # to every head, not only the run's target: a database re-run to an earlier target may
            # hold what later revisions left (the history it moved on through)
            found = list(script.revision_map.iterate_revisions(tuple(script.get_heads()), "base"))
            scripts = list(reversed(found))
        except Exception:  # revisions this script directory cannot walk: the pending ones only
            pass
    out = []
    for sc in scripts:
        path = getattr(sc, "path", None)
        module = getattr(sc, "module", None)
        fn = getattr(module, "upgrade", None)
        if fn is None:
            continue
        out.append((str(sc.revision), path, fn, runner.checksum(path)))
    return out


def data_preflight(runner: Runner, steps: list[Any], migration_context: Any) -> None:
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
            runner.checksum(getattr(step.revision, "path", None)),
            step.migration_fn,
        )
        for step in steps
    ]
    if runner.resume is None and runner.ledger is not None:
        runner.resume = runner.ensure_ledger().resume_state()
    applied = runner.resume.applied if runner.resume is not None else frozenset()
    refusals = find_refusals(pending, migration_context, runner.guard_ctx, applied)
    if not refusals:
        return
    error = refusal_error(refusals)
    first = refusals[0]
    refuse_run(
        runner, first.revision, first.path, error, {"data_preflight": [r.error.message for r in refusals]}
    )


def version_preflight(runner: Runner, steps: list[Any], migration_context: Any) -> None:
    """Refuse the whole run, before its first revision, when a pending revision uses syntax this server lacks.

    The statements are the ones pre-flight already rendered and analyzed
    (cached by :func:`preload`); the version is the server's own, one
    ``SHOW``.  Judged by lint rule AG701, the same table guard-check uses.
    """
    from alembic_guard.errors import GuardRefused
    from alembic_guard.runtime.preflight import analyze_revision

    rule: Any = None
    major: int | None = None
    for step in steps:
        revision = str(step.revision.revision)
        path = getattr(step.revision, "path", None)
        found = analyze_revision(revision, path, step.migration_fn, runner.checksum(path))
        if not found or not found[0]:
            continue
        if rule is None:
            # only raw SQL has syntax to judge: a run of typed operations never imports the
            # linter (its rules are a tenth of the guarded run's start-up imports)
            from alembic_guard.lint.base import get_rule, lint
            from alembic_guard.lint.scope import LintContext
            from alembic_guard.live.catalog import server_major_version

            rule = get_rule("AG701")
            assert rule is not None
            major = server_major_version(migration_context.connection)
        findings = lint([a.statement for a in found[0]], LintContext(server_version=major), rules=[rule])
        if not findings:
            continue
        first = findings[0]
        error = GuardRefused(
            f"revision {revision} refused before any statement ran: {first.message.split(':')[0]} "
            f"(this server is PostgreSQL {major})",
            hint="rewrite the statement for this version (docs/rules/ban-syntax-newer-than-server.md), "
            "or upgrade the server first",
            details="\n".join(f"  - {f.message.split(':')[0]}: {f.statement_excerpt}" for f in findings),
        )
        refuse_run(runner, revision, path, error, {"version_preflight": [f.message for f in findings]})


def refuse_run(runner: Runner, revision: str, path: str | None, error: Any, events: dict[str, Any]) -> None:
    """Record a run-wide pre-flight refusal against ``revision`` (nothing has run yet) and raise it."""
    ledger = runner.ensure_ledger()
    runner.attempts[revision] = runner.attempts.get(revision, 0) + 1
    record_id = ledger.start(
        run_id=runner.run_id,
        revision=revision,
        direction="upgrade",
        attempt=runner.attempts[revision],
        checksum=runner.checksum(path),
        backend_pid=runner.backend_pid,
        profile=runner.settings.profile,
        policy=runner.settings.policy,
    )
    ledger.finish(record_id, status="failed", error=error.message[:2000], events=events)
    runner.outcomes.append(RevisionOutcome(revision, "upgrade", "failed", 0.0, 1, 0, 0))
    # the error itself reaches the caller (the CLI prints it as FAILED: ...): the log only
    # says where it is recorded, so the refusal is printed once (issue 12 item 7)
    log.error(
        "revision %s: the run was refused before any revision ran (ledger record %s)", revision, record_id
    )
    raise error


def finalize_pending(runner: Runner) -> None:
    """The previous revision's transaction has committed: log it, and keep its ledger update to send.

    The duration is measured once, here, for the log line, the result and
    the ledger alike.  The update waits in ``runner.unsent_finish`` for the
    next :meth:`Ledger.start` (one round trip for both) or :func:`flush_finish`.
    """
    p, runner.pending = runner.pending, None
    if p is None:
        return
    duration = time.monotonic() - p.started
    runner.unsent_finish = {
        "record_id": p.record_id,
        "status": "succeeded",
        "ops_done": p.ops_done,
        "ops_skipped": p.ops_skipped,
        "ops_total": p.ops_total,
        "debts": p.debts,
        "events": p.events,
        "steps": p.data_steps,
        "duration_ms": round(duration * 1000),
    }
    runner.outcomes.append(
        RevisionOutcome(
            p.revision,
            p.direction,
            "succeeded",
            duration,
            runner.attempts.get(p.revision, 1),
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


def flush_finish(runner: Runner) -> None:
    """Send the committed revision's ledger update that no later record carried."""
    finish, runner.unsent_finish = runner.unsent_finish, None
    if finish is not None:
        runner.ensure_ledger().finish(**finish)


def wrap_step(runner: Runner, step: Any, migration_context: Any) -> Callable[..., Any]:
    script = step.revision
    revision = str(script.revision)
    path = getattr(script, "path", None)
    direction = "upgrade" if step.is_upgrade else "downgrade"
    inner = step.migration_fn

    @functools.wraps(inner)
    def run(**kw: Any) -> None:
        checksum = runner.checksum(path)
        runner.attempts[revision] = runner.attempts.get(revision, 0) + 1
        conn = migration_context.connection
        started = time.monotonic()
        record_id: int | None = None
        tracker: StatementTracker | None = None
        before = None
        touched: set[Any] | None = None
        carried = False
        try:
            ledger = runner.ensure_ledger()
            finish_previous, runner.unsent_finish = runner.unsent_finish, None
            record_id = ledger.start(
                run_id=runner.run_id,
                revision=revision,
                direction=direction,
                attempt=runner.attempts[revision],
                checksum=checksum,
                backend_pid=runner.backend_pid,
                finish_previous=finish_previous,
                profile=runner.settings.profile,
                policy=runner.settings.policy,
            )
            started = time.monotonic()
            if runner.resume is None:
                runner.resume = ledger.resume_state()
            tracker = StatementTracker(
                runner,
                migration_context,
                record_id,
                revision=revision,
                committed=runner.resume.committed.get((revision, checksum), {}),
                data_done=runner.resume.done_data(revision),
                upgrade=step.is_upgrade,
            )
            if runner.guard_ctx is not None:
                # a re-run of the history: what later revisions dropped is not made again
                runner.guard_ctx.rerun = step.is_upgrade and revision in runner.resume.applied
            if runner.settings.preflight and step.is_upgrade:
                from alembic_guard.runtime.preflight import preflight_revision

                checked = preflight_revision(
                    revision, path, inner, conn, runner.guard_ctx, runner.settings.policy, checksum
                )
                if checked is not None:
                    touched, read = checked
                    carried = not read.issuperset(touched)
            if runner.guard_ctx is not None and touched is None:
                runner.guard_ctx.begin_revision(revision, conn, None)
            # what rollback verification compares with, should the revision fail: the model
            # as just refreshed (facts are immutable; the ops replace them in their dicts)
            before = (
                runner.guard_ctx.model.copy()
                if touched is not None and runner.guard_ctx is not None
                else None
            )
            with tracker:
                inner(**kw)
        except BaseException as exc:
            index, statement = tracker.current if tracker is not None and tracker.current else (None, None)
            runner.failure = (revision, path, index, statement)
            runner.failed_carried = carried
            if before is not None and touched is not None and record_id is not None:
                runner.failed = (record_id, revision, before, frozenset(touched))
            done, skipped, total, debts, events = op_counts(tracker, take_events(runner))
            runner.outcomes.append(
                RevisionOutcome(
                    revision,
                    direction,
                    "failed",
                    time.monotonic() - started,
                    runner.attempts[revision],
                    done,
                    skipped,
                    tuple(debts),
                )
            )
            if isinstance(exc, LockLost) or record_id is None:
                raise  # no record to close, or no connection to close it on
            runner.ensure_ledger().finish(
                record_id,
                status="failed",
                ops_done=done,
                ops_skipped=skipped,
                ops_total=total,
                sqlstate=sqlstate_of(exc),
                error=first_line(exc)[:2000],
                statement=statement,
                statement_index=index,
                debts=debts,
                events=events,
                duration_ms=round((time.monotonic() - started) * 1000),
            )
            log.error(
                "revision %s failed after %.0f ms: %s",
                revision,
                (time.monotonic() - started) * 1000,
                first_line(exc),
            )
            raise
        assert record_id is not None and tracker is not None
        op_events = take_events(runner)
        if runner.guard_ctx is not None and (touched is None or not followed(tracker, op_events)):
            # SQL the guards could not follow ran: the next revision reads what it touches
            runner.guard_ctx.forget()
        done, skipped, total, debts, events = op_counts(tracker, op_events)
        runner.pending = Pending(
            record_id, revision, direction, started, done, skipped, total, debts, events, tracker.data_steps
        )

    return run


def take_events(runner: Runner) -> list[Any]:
    return runner.guard_ctx.take_events() if runner.guard_ctx is not None else []


def op_counts(
    tracker: StatementTracker | None, events: Iterable[Any]
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
    statements, writes, steps_skipped = (
        (tracker.index, tracker.writes, tracker.skipped_steps) if tracker is not None else (0, 0, 0)
    )
    summary: dict[str, Any] = {
        "statements": statements,
        "writes": writes,
        "steps_skipped": steps_skipped,
        "actions": counts,
    }
    if counts:
        done = counts.get("act", 0) + counts.get("unguarded", 0)
        skipped = counts.get("skip", 0) + counts.get("debt", 0)
    else:
        done, skipped = writes - steps_skipped, steps_skipped
    return done, skipped, done + skipped, debts, summary
