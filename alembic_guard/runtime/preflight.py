"""Pre-flight: before a revision runs any statement, do its requirements hold?

The revision's ``upgrade()`` runs against an offline MigrationContext whose
operations are only recorded (nothing is rendered, nothing reaches the
database).  Each typed operation is decided from its op object — the same
pure :mod:`alembic_guard.decide` decision the guarded operation will make —
on a scratch copy of the model that carries the revision's earlier
operations; only ``op.execute`` text goes through the SQL analysis.  The live
model is brought up to date for exactly the tables the revision touches (read
from the catalog unless the run's guard context holds them as they are:
:meth:`GuardContext.begin_revision`).  A requirement that neither the
database nor an earlier operation provides is a problem: ``strict`` refuses
the revision; ``lenient`` logs and lets the guarded operations skip (and
record a debt for) what cannot apply.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from alembic_guard.errors import GuardRefused
from alembic_guard.model import ObjRef, QName, SchemaModel
from alembic_guard.search_path import search_path
from alembic_guard.sql.statement import may_create

log = logging.getLogger("alembic_guard")

_SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})
_CHECKED_KINDS = frozenset({"relation", "column"})
_OFFLINE: dict[str, tuple[io.StringIO, Any]] = {}
# (revision, file checksum) -> what pre-flight knows of the revision; see revision_plan
# keyed by (revision, file checksum, search_path): unqualified names resolve through the path
_PLANS: dict[tuple[str, str, tuple[str, ...]], RevisionPlan | None] = {}
_ANALYZED: dict[tuple[str, str, tuple[str, ...]], tuple[list[Any], set[QName]] | None] = {}


@dataclass(frozen=True, slots=True)
class RevisionPlan:
    """A revision as pre-flight sees it, without rendering it.

    ``operations``: the Alembic operations ``upgrade()`` invokes, in order;
    ``statements``: for each ``op.execute`` with SQL text, its index in
    ``operations`` and its analysed statements; ``touched``: the tables the
    operations and statements read or change.
    """

    operations: tuple[Any, ...]
    statements: tuple[tuple[int, tuple[Any, ...]], ...]
    touched: frozenset[QName]

    def analyzed(self) -> list[Any]:
        return [a for _, stmts in self.statements for a in stmts]


@dataclass(frozen=True, slots=True)
class Problem:
    """A requirement nothing provides."""

    ref: ObjRef
    where: str  # file:line:col of the rendered statement
    statement: str

    def describe(self) -> str:
        return f"{self.statement} requires {self.ref.describe()}"


def render_revision_sql(migration_fn: Callable[..., Any], dialect_name: str = "postgresql") -> str | None:
    """The SQL ``migration_fn`` would emit, rendered offline; ``None`` if it cannot render.

    Touches no database.  A revision that reads data (``op.get_bind()``) cannot
    render offline.  (Pre-flight itself records operations instead:
    :func:`record_operations`.)
    """
    buf = _buffer(dialect_name)
    buf.seek(0)
    buf.truncate()
    return buf.getvalue() if _run_offline(migration_fn, dialect_name, None) else None


def _run_offline(
    migration_fn: Callable[..., Any], dialect_name: str, invoke: Callable[[Any], Any] | None
) -> bool:
    """Run ``migration_fn`` on the process' offline context (``invoke`` replacing execution); ok?"""
    from alembic.operations import Operations

    from alembic_guard.alembic_internals import keeping_op_proxy

    # Operations.context() replaces the global ``op`` proxy and removes it on
    # exit; the online run's proxy must be put back afterwards.
    try:
        with keeping_op_proxy(), Operations.context(_offline(dialect_name)) as operations:
            if invoke is not None:
                operations.invoke = invoke  # type: ignore[method-assign,assignment]
            migration_fn()
    except Exception as exc:
        log.debug("pre-flight: cannot run the revision offline (%s: %s)", type(exc).__name__, exc)
        return False
    return True


def _offline_context(dialect_name: str, buf: io.StringIO) -> Any:
    """A ``--sql`` MigrationContext writing to ``buf``; configured once per process."""
    from alembic.runtime.migration import MigrationContext

    # Alembic logs "Context impl ... Generating static SQL" for every context it
    # configures; for this internal rendering that is noise.  (Only around the
    # configuration: Logger.setLevel clears every logger's cache, a cost per call.)
    mig_log = logging.getLogger("alembic.runtime.migration")
    level = mig_log.level
    mig_log.setLevel(logging.WARNING)
    try:
        return MigrationContext.configure(
            dialect_name=dialect_name,
            # without it every % in op.execute text comes out doubled (format('%I') as '%%I')
            dialect_opts={"paramstyle": "named"},
            opts={
                "as_sql": True,
                "output_buffer": buf,
                "literal_binds": True,
                "transactional_ddl": False,
            },
        )
    finally:
        mig_log.setLevel(level)


@functools.cache
def analyzer_available() -> bool:
    try:
        import alembic_guard.sql.effects
        import alembic_guard.sql.parse  # noqa: F401
    except ImportError:
        return False
    return True


def analyze(sql: str, path: str) -> list[Any] | None:
    """Statements + effects of rendered SQL, or ``None`` when the analyzer is unavailable or fails."""
    try:
        from alembic_guard.sql.effects import analyze_all
        from alembic_guard.sql.parse import parse_text
    except ImportError:
        return None
    try:
        return list(analyze_all(parse_text(sql, path), search_path=search_path()))
    except Exception as exc:  # e.g. SQL our grammar does not know: the guards still run
        log.debug("pre-flight: cannot analyze %s (%s)", path, exc)
        return None


def _analyze_with(sql: Any, path: str, model: SchemaModel) -> list[Any] | None:
    """Like :func:`analyze`, knowing what ``model`` holds (columns for ``SELECT *`` and for telling
    outer columns from inner ones); ``None`` when it cannot."""
    if not isinstance(sql, str):
        return None
    try:
        from alembic_guard.sql.effects import analyze_all
        from alembic_guard.sql.parse import parse_text

        return list(analyze_all(parse_text(sql, path), model, search_path=search_path()))
    except Exception as exc:  # e.g. SQL our grammar does not know: the guards still run
        log.debug("pre-flight: cannot analyze %s (%s)", path, exc)
        return None


def touched_tables(analyzed: Iterable[Any]) -> set[QName]:
    """Every table a statement requires, creates, ensures, alters or drops (or owns a column of)."""
    out: set[QName] = set()
    for a in analyzed:
        eff = a.effect
        refs: list[ObjRef] = [r.ref for r in eff.requires]
        refs += [*eff.creates, *eff.ensures, *eff.alters, *eff.drops]
        for ref in refs:
            if ref.schema in _SYSTEM_SCHEMAS:
                continue
            if ref.kind == "relation":
                out.add((ref.schema, ref.name))
            elif ref.table is not None:
                out.add(ref.table)
    return out


def check(analyzed: Iterable[Any], model: SchemaModel) -> list[Problem]:
    """Relations and columns required but neither in ``model`` nor provided earlier.  Pure."""
    provided: set[ObjRef] = set()
    problems: list[Problem] = []
    missing_relations: set[QName] = set()
    sequences: set[QName] | None = None
    from alembic_guard.sql.effects_known import SEQUENCE_COLUMNS, Known

    dynamic: list[str] = []  # what dynamic SQL of earlier statements may create
    for a in analyzed:
        eff = a.effect
        for req in eff.requires:
            ref = req.ref
            if ref.kind not in _CHECKED_KINDS or ref.schema in _SYSTEM_SCHEMAS:
                continue
            if ref in provided or model.has(ref):
                continue
            if ref.kind == "relation" or ref.name in SEQUENCE_COLUMNS:
                # SELECT last_value FROM a serial column's sequence: the model has the table, whose
                # default names the sequence
                if sequences is None:
                    sequences = Known.from_model(model).sequences
                if (ref.schema, ref.parent if ref.kind == "column" else ref.name) in sequences:
                    continue
            if dynamic and may_create(dynamic, ref):
                continue  # known only when it runs: not reported missing
            if ref.table in missing_relations:
                continue  # its table is reported missing already: one problem, not one per column
            if ref.kind == "relation":
                missing_relations.add((ref.schema, ref.name))
            line, col = a.statement.position_of_byte(req.location)
            problems.append(Problem(ref, f"{a.statement.file}:{line}:{col}", a.statement.excerpt()))
        provided.update(eff.creates)
        provided.update(eff.ensures)
        for dropped in eff.drops:
            provided.discard(dropped)
        dynamic.extend(eff.dynamic)
    return problems


def record_operations(migration_fn: Callable[..., Any], dialect_name: str = "postgresql") -> list[Any] | None:
    """The Alembic operations ``migration_fn`` invokes, in order, none of them executed or rendered.

    ``None`` when it cannot run offline (it reads data through ``op.get_bind()``,
    say): what it does is then unknown and the guarded operations alone decide.
    """
    from alembic.operations import ops as aops

    out: list[Any] = []

    def record(operation: Any) -> Any:
        out.append(operation)
        if isinstance(operation, aops.CreateTableOp):
            return operation.to_table()  # op.create_table returns its Table; revisions use it
        return None

    return out if _run_offline(migration_fn, dialect_name, record) else None


def _buffer(dialect_name: str) -> io.StringIO:
    _offline(dialect_name)
    return _OFFLINE[dialect_name][0]


def _offline(dialect_name: str) -> Any:
    if dialect_name not in _OFFLINE or _OFFLINE[dialect_name][1] is None:
        buf = io.StringIO()
        _OFFLINE[dialect_name] = (buf, _offline_context(dialect_name, buf))
    return _OFFLINE[dialect_name][1]


def revision_plan(
    revision: str, path: str | None, migration_fn: Callable[..., Any], checksum: str | None = None
) -> RevisionPlan | None:
    """What pre-flight knows of a revision (cached per file version with ``checksum``); ``None``: unknown."""
    key = (revision, checksum, search_path()) if checksum else None
    if key is not None and key in _PLANS:
        return _PLANS[key]
    plan = _plan(path or revision, migration_fn)
    if key is not None:
        _PLANS[key] = plan
    return plan


def _plan(where: str, migration_fn: Callable[..., Any]) -> RevisionPlan | None:
    from alembic.operations import ops as aops

    from alembic_guard.ops.decisions import operation_tables

    operations = record_operations(migration_fn)
    if operations is None:
        return None
    statements: list[tuple[int, tuple[Any, ...]]] = []
    touched: set[QName] = set()
    for i, operation in enumerate(operations):
        if isinstance(operation, aops.ExecuteSQLOp):
            sqltext = operation.sqltext
            analyzed = analyze(sqltext, where) if isinstance(sqltext, str) and analyzer_available() else None
            if analyzed is not None:
                statements.append((i, tuple(analyzed)))
                touched |= touched_tables(analyzed)
            continue
        tables = operation_tables(operation)
        if tables:
            touched |= {q for q in tables if q[0] not in _SYSTEM_SCHEMAS}
    return RevisionPlan(tuple(operations), tuple(statements), frozenset(touched))


def analyze_revision(
    revision: str, path: str | None, migration_fn: Callable[..., Any], checksum: str | None = None
) -> tuple[list[Any], set[QName]] | None:
    """The analysed statements of the revision's ``op.execute`` SQL, and every table it touches.

    ``None`` when the revision cannot run offline.  Typed operations are not
    rendered to SQL: their tables come from their op objects.
    """
    key = (revision, checksum, search_path()) if checksum else None
    if key is not None and key in _ANALYZED:
        return _ANALYZED[key]
    plan = revision_plan(revision, path, migration_fn, checksum)
    result = None if plan is None else (plan.analyzed(), set(plan.touched))
    if key is not None:
        _ANALYZED[key] = result
    return result


def revision_ops(
    revision: str, path: str | None, migration_fn: Callable[..., Any], checksum: str | None = None
) -> list[Any] | None:
    """The Alembic operations the revision invokes, in order; ``None`` when it cannot run offline."""
    plan = revision_plan(revision, path, migration_fn, checksum)
    return None if plan is None else list(plan.operations)


def later_changes_provider(
    steps: Sequence[tuple[str, str | None, Callable[..., Any], str | None]],
) -> Callable[[str | None], Sequence[Any]]:
    """For the guard context (:attr:`GuardContext.later`): the changes of the revisions after one.

    ``steps``: the run's pending upgrades, in order, as (revision, path, upgrade
    function, checksum).  Each revision's changes come from its plan (cached:
    pre-flight made it already): ``op.execute`` statements by their analysed
    effects, typed operations by their op objects.  Computed once, when a
    guard first asks (one whose object is absent, or there with another
    definition); each answer after that is a slice of it.
    """
    # every pending revision's changes in run order, and where each revision's successors start:
    # built on the first question, then each answer is one slice (a guard asks for every table and
    # column it adds, so rebuilding the list per question was quadratic in the run's length)
    flat: tuple[Any, ...] | None = None
    after: dict[str, int] = {}

    def changes_of(step: tuple[str, str | None, Callable[..., Any], str | None]) -> list[Any]:
        revision, path, fn, checksum = step
        plan = revision_plan(revision, path, fn, checksum)
        return [c for hs in plan_steps(plan) for c in hs.changes] if plan is not None else []

    def later(revision: str | None) -> Sequence[Any]:
        nonlocal flat
        if flat is None:
            collected: list[Any] = []
            for step in steps:
                collected.extend(changes_of(step))
                after.setdefault(step[0], len(collected))
            flat = tuple(collected)
        start = after.get(revision) if revision is not None else None
        return () if start is None else flat[start:]

    return later


def plan_steps(plan: RevisionPlan, executed: dict[int, Sequence[Any]] | None = None) -> list[Any]:
    """The revision's operations as history replay takes them (:class:`~alembic_guard.decide.history.
    HistoryStep`): each ``op.execute`` statement by its analysed effect, each typed operation by
    the model changes of its op object (one it cannot read changes nothing).  ``executed``: the
    ``op.execute`` statements analysed otherwise, by operation index (default: the plan's own)."""
    from alembic.operations import Operations

    from alembic_guard.decide.history import HistoryStep
    from alembic_guard.ops.decisions import operation_changes

    operations = Operations(_offline("postgresql"))
    executed = dict(plan.statements) if executed is None else executed
    out: list[Any] = []
    for i, operation in enumerate(plan.operations):
        if i in executed:
            out.extend(HistoryStep.of_effect(a.effect) for a in executed[i])
            continue
        try:
            out.append(HistoryStep(tuple(operation_changes(operations, operation))))
        except Exception:  # an op object pre-flight cannot read
            continue
    return out


def history_provider(
    lineage: Sequence[tuple[str, str | None, Callable[..., Any], str | None]],
) -> Callable[[], Any]:
    """For the guard context (:attr:`GuardContext.history`): what the whole history leaves behind.

    ``lineage``: every revision from the base to the heads, base first, as (revision,
    path, upgrade function, checksum).  Replayed when first asked (a re-run only); ``None``
    when a revision cannot run offline (what it does is unknown, so the history says nothing).
    """

    def end() -> Any:
        from alembic_guard.decide.history import history_end
        from alembic_guard.sql.effects import analyze_all
        from alembic_guard.sql.parse import parse_text

        plans = []
        for revision, path, fn, checksum in lineage:
            plan = revision_plan(revision, path, fn, checksum)
            if plan is None:
                return None
            plans.append((path or revision, plan))
        # every raw statement of the history in one pass, in order, as guard-plan reads a set: each
        # is analysed knowing what the earlier revisions' statements made (a function whose body
        # makes partitions, so that a later call of it may make them; a view's columns)
        parsed = [
            (k, i, parse_text(plan.operations[i].sqltext, where))
            for k, (where, plan) in enumerate(plans)
            for i, _ in plan.statements
        ]
        effects = iter(analyze_all([st for *_, group in parsed for st in group], search_path=search_path()))
        executed: list[dict[int, Sequence[Any]]] = [{} for _ in plans]
        for k, i, group in parsed:
            executed[k][i] = [next(effects) for _ in group]
        steps = [s for (_, plan), by_op in zip(plans, executed, strict=True) for s in plan_steps(plan, by_op)]
        dynamic = {
            a.statement.text: tuple(a.effect.dynamic)
            for by_op in executed
            for analyzed in by_op.values()
            for a in analyzed
            if a.effect.dynamic
        }
        return history_end(steps, dynamic)

    return end


def check_plan(plan: RevisionPlan, model: SchemaModel, where: str, settings: Any = None) -> list[Problem]:
    """Requirements of the revision that neither ``model`` nor an earlier operation provides.

    Each typed operation is decided on a scratch copy of ``model`` (a
    ``missing`` decision is a problem; a decision that runs applies its
    changes to the copy); ``op.execute`` statements are checked by their
    analysed requirements and applied by their effects.  Pure apart from
    compiling SQLAlchemy types and expressions.

    The statements were analysed alone (cached per revision file), which cannot
    tell a correlated outer column from an unknown inner one, nor the columns of
    ``SELECT t.*`` in a view a later statement reads.  When that first pass finds
    a problem, the revision is checked again with each statement read knowing
    what the database and the statements before it hold, as the guarded execute
    reads it; only what that pass still finds is a problem.
    """
    problems = _check_plan(plan, model, where, settings, reread=False)
    if problems:
        problems = _check_plan(plan, model, where, settings, reread=True)
    return problems


def _check_plan(
    plan: RevisionPlan, model: SchemaModel, where: str, settings: Any, reread: bool
) -> list[Problem]:
    from alembic.operations import Operations

    from alembic_guard.changes import apply
    from alembic_guard.decide.history import effect_changes
    from alembic_guard.ops.context import standalone_settings
    from alembic_guard.ops.decisions import decide_operation

    settings = settings or standalone_settings()
    scratch = model.copy()
    operations = Operations(_offline("postgresql"))
    executed = dict(plan.statements)
    problems: list[Problem] = []
    for i, operation in enumerate(plan.operations):
        if i in executed:
            analyzed: Sequence[Any] = executed[i]
            if reread:
                analyzed = _analyze_with(operation.sqltext, where, scratch) or analyzed
            problems.extend(check(analyzed, scratch))
            for a in analyzed:
                # with the tables a CREATE TABLE ... AS makes, whose column types only the query knows
                for change in effect_changes(a.effect):
                    apply(scratch, change)
            continue
        try:
            decision = decide_operation(operations, operation, scratch, settings)
        except Exception as exc:  # an op object pre-flight cannot read: its guard decides at run time
            log.debug("pre-flight: cannot decide %s (%s)", type(operation).__name__, exc)
            continue
        if decision is None:
            continue
        if decision.verdict == "missing" and decision.requires is not None:
            if decision.requires.schema not in _SYSTEM_SCHEMAS:
                problems.append(
                    Problem(
                        decision.requires, f"{where}: operation {i + 1}", f"{decision.op} {decision.target}"
                    )
                )
        elif decision.verdict == "run":
            for change in decision.changes:
                apply(scratch, change)
    return problems


def preflight_revision(
    revision: str,
    path: str | None,
    migration_fn: Callable[..., Any],
    connection: Any,
    guard_ctx: Any,
    policy: str,
    checksum: str | None = None,
) -> tuple[set[QName], frozenset[QName]] | None:
    """Check one revision before it runs: (the tables it touches, those read now); ``None``: unknown.

    Reads the catalog for those tables only (one round trip, through the
    guard context when there is one; none when the context holds them all
    as they are, see :meth:`GuardContext.begin_revision`).  Raises
    :class:`GuardRefused` under ``strict`` when a requirement fails; nothing
    has run at that point.
    """
    plan = revision_plan(revision, path, migration_fn, checksum)
    if plan is None:
        return None
    touched = set(plan.touched)
    if guard_ctx is not None:
        read = guard_ctx.begin_revision(revision, connection, touched)
        model = guard_ctx.model
    else:
        from alembic_guard.live.snapshot import snapshot

        read = frozenset(touched)
        model = snapshot(connection, tables=sorted(touched)) if touched else SchemaModel()
    settings = guard_ctx.settings if guard_ctx is not None else None
    problems = check_plan(plan, model, os.path.basename(path) if path else revision, settings)
    if guard_ctx is not None and guard_ctx.rerun:
        # re-running the history: what the history made and dropped since is not missing, and the
        # operations that need it are skipped (GuardContext.gone_with_history)
        problems = [p for p in problems if guard_ctx.gone_with_history(p.ref) is None]
    if not problems:
        return touched, read
    where = os.path.basename(path) if path else revision
    lines = "\n".join(f"  - {p.describe()}" for p in problems)
    if policy == "strict":
        first = problems[0]
        raise GuardRefused(
            f"revision {revision} ({where}) refused before any statement ran: it requires "
            f"{first.ref.describe()}, which neither the database nor an earlier statement provides",
            hint="add the revision that creates it first (or fix the reference); with policy lenient the "
            "guarded operation is skipped and recorded as a debt",
            details=f"pre-flight problems in {path or revision}:\n{lines}",
        )
    log.warning(
        "pre-flight of revision %s (%s): %d requirement(s) missing; the guarded operations will "
        "skip what cannot apply:\n%s",
        revision,
        where,
        len(problems),
        lines,
    )
    return touched, read
