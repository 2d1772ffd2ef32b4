"""Pre-flight: before a revision runs any statement, do its requirements hold?

The revision's ``upgrade()`` is rendered offline (a ``--sql`` MigrationContext
writing to a buffer, so nothing reaches the database), the SQL is analyzed
into effects, the live model is brought up to date for exactly the tables it
touches (read from the catalog unless the run's guard context holds them as
they are: :meth:`GuardContext.begin_revision`), and every relation / column
it requires must exist in the database or be provided by an earlier
statement of the same revision.  ``strict`` refuses
the revision; ``lenient`` logs and lets the guarded operations skip (and
record a debt for) what cannot apply.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from alembic_guard.errors import GuardRefused
from alembic_guard.model import ObjRef, QName, SchemaModel
from alembic_guard.sql.statement import may_create

log = logging.getLogger("alembic_guard")

_SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})
_CHECKED_KINDS = frozenset({"relation", "column"})
_OFFLINE: dict[str, tuple[io.StringIO, Any]] = {}
# (revision, file checksum) -> (analyzed statements, touched tables); see analyze_revision
_ANALYZED: dict[tuple[str, str], tuple[list[Any], set[QName]]] = {}
# (revision, file checksum) -> the Alembic operations upgrade() invokes; see revision_ops
_OPS: dict[tuple[str, str], list[Any]] = {}


@dataclass(frozen=True, slots=True)
class Problem:
    """A requirement nothing provides."""

    ref: ObjRef
    where: str  # file:line:col of the rendered statement
    statement: str

    def describe(self) -> str:
        return f"{self.statement} requires {self.ref.describe()}"


def render_revision_sql(
    migration_fn: Callable[..., Any], dialect_name: str = "postgresql", ops_out: list[Any] | None = None
) -> str | None:
    """The SQL ``migration_fn`` would emit, rendered offline; ``None`` if it cannot render.

    ``ops_out``, when given, receives every Alembic operation the revision
    invokes, in order (for the run's data pre-flight).

    Touches no database.  A revision that reads data (``op.get_bind()``) cannot
    render offline; pre-flight then relies on the guarded operations alone.
    """
    from alembic.operations import Operations

    from alembic import op as op_module

    # One offline context per process, its buffer emptied per revision:
    # configuring a MigrationContext costs more than rendering a revision.
    if dialect_name not in _OFFLINE:
        buf = io.StringIO()
        _OFFLINE[dialect_name] = (buf, None)
    buf, offline = _OFFLINE[dialect_name]
    buf.seek(0)
    buf.truncate()
    # Operations.context() replaces the global ``op`` proxy and removes it on
    # exit; the online run's proxy must be put back afterwards.
    outer = getattr(op_module, "_proxy", None)
    try:
        if offline is None:
            offline = _offline_context(dialect_name, buf)
            _OFFLINE[dialect_name] = (buf, offline)
        with Operations.context(offline) as operations:
            if ops_out is not None:
                operations.invoke = _recording(operations.invoke, ops_out)  # type: ignore[method-assign,assignment]
            migration_fn()
    except Exception as exc:
        log.debug("pre-flight: cannot render the revision offline (%s: %s)", type(exc).__name__, exc)
        return None
    finally:
        if outer is not None:
            outer._install_proxy()
    return buf.getvalue()


def _recording(invoke: Callable[[Any], Any], out: list[Any]) -> Callable[[Any], Any]:
    def record(operation: Any) -> Any:
        out.append(operation)
        return invoke(operation)  # still rendered: create_table's Table may be used by the revision

    return record


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
        return list(analyze_all(parse_text(sql, path)))
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


def analyze_revision(
    revision: str, path: str | None, migration_fn: Callable[..., Any], checksum: str | None = None
) -> tuple[list[Any], set[QName]] | None:
    """The revision's rendered statements with their effects, and the tables they touch.

    ``None`` when it cannot be rendered offline or analyzed.  Pure apart from
    running ``migration_fn`` against an offline context.  With ``checksum`` (of
    the revision file) the result is kept for the process: a retried attempt,
    or a second run in the same process, does not render and parse it again.
    """
    key = (revision, checksum) if checksum else None
    if key is not None and key in _ANALYZED:
        return _ANALYZED[key]
    if not analyzer_available():
        return None
    ops: list[Any] = []
    sql = render_revision_sql(migration_fn, ops_out=ops)
    if key is not None and sql is not None:
        _OPS[key] = ops
    if sql is None:
        return None
    analyzed = analyze(sql, path or revision)
    if analyzed is None:
        return None
    result = (analyzed, touched_tables(analyzed))
    if key is not None:
        _ANALYZED[key] = result
    return result


def revision_ops(
    revision: str, path: str | None, migration_fn: Callable[..., Any], checksum: str | None = None
) -> list[Any] | None:
    """The Alembic operations the revision invokes, in order; ``None`` when it cannot render offline.

    Rendered once with :func:`analyze_revision` (whose result is cached with it),
    so the run's data pre-flight and the per-revision pre-flight share one rendering.
    """
    key = (revision, checksum) if checksum else None
    if key is not None and key in _OPS:
        return _OPS[key]
    if key is not None and analyze_revision(revision, path, migration_fn, checksum) is not None:
        return _OPS.get(key)
    ops: list[Any] = []
    return ops if render_revision_sql(migration_fn, ops_out=ops) is not None else None


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
    found = analyze_revision(revision, path, migration_fn, checksum)
    if found is None:
        return None
    analyzed, touched = found
    if guard_ctx is not None:
        read = guard_ctx.begin_revision(revision, connection, touched)
        model = guard_ctx.model
    else:
        from alembic_guard.live.snapshot import snapshot

        read = frozenset(touched)
        model = snapshot(connection, tables=sorted(touched)) if touched else SchemaModel()
    problems = check(analyzed, model)
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
