"""Statement tracking while a revision runs, and what a later run of the revision skips.

Writes that become durable before the revision commits (those inside
``autocommit_block()``, and the transactional writes that such a block
commits) are recorded in the ledger as ``committed`` steps as they complete;
data statements (INSERT / UPDATE / DELETE / MERGE) are recorded as ``data``
steps when their revision commits.  A later run of the revision skips:

- a data statement already applied to this database (the catalog cannot tell
  whether rows were written, the ledger can): once per database, until the
  revision is reverted;
- a schema change an unfinished attempt committed, only while its effect is
  still in the catalog: the ledger says what ran, the catalog what is there
  (an operator may have dropped the leftovers since).

Everything else runs, and the guarded operations decide on what is there.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from alembic_guard.alembic_internals import alembic_transaction_open
from alembic_guard.runtime.ledger import committed_step, data_step, is_data_statement

if TYPE_CHECKING:
    from alembic_guard.model import ObjRef
    from alembic_guard.runtime.runner.run import Runner

log = logging.getLogger("alembic_guard")

_READ_ONLY_KEYWORDS = frozenset({"select", "with", "show", "values", "explain", "set", "reset", "table"})


def _is_write(statement: str) -> bool:
    words = statement.lstrip(" \t\n(").split(None, 1)
    if not words:
        return False
    return words[0].lower() not in _READ_ONLY_KEYWORDS or is_data_statement(statement)


def _sha(statement: str, parameters: Any) -> str:
    digest = hashlib.sha256(" ".join(statement.split()).encode("utf-8"))
    if parameters:  # op.bulk_insert: the same text with other rows is another statement
        digest.update(repr(parameters).encode("utf-8"))
    return digest.hexdigest()[:16]


def _one_line(statement: str, width: int = 120) -> str:
    return " ".join(statement.split())[:width]


class StatementTracker:
    """Watches the migration connection while one revision runs (SQLAlchemy cursor events).

    Counts statements and remembers the one in flight (for the failure
    record).  Records the steps described in the module's docstring, and
    replaces a statement to skip by ``SELECT 1``.  ``committed`` maps (sha,
    occurrence) of the writes unfinished attempts of the same file committed to
    whether each was a data statement; ``data_done`` the data statements
    applied by earlier runs of the revision.
    """

    def __init__(
        self,
        runner: Runner,
        migration_context: Any,
        record_id: int,
        *,
        revision: str,
        committed: dict[tuple[str, int], bool],
        data_done: frozenset[tuple[str, int]],
        upgrade: bool = True,
    ):
        self.runner = runner
        self.mc = migration_context
        self.record_id = record_id
        self.revision = revision
        self.committed = committed if upgrade else {}
        self.data_done = data_done if upgrade else frozenset()
        self.index = 0
        self.writes = 0
        self.skipped_steps = 0
        self.unfollowed = 0  # writes sent outside the guarded operations
        self.current: tuple[int, str] | None = None
        # data statements of this revision (run or skipped): recorded when it commits
        self.data_steps: list[dict[str, Any]] = []
        self.upgrade = upgrade
        self._occurrences: dict[str, int] = {}
        self._pending_step: dict[str, Any] | None = None
        self._pending_data: dict[str, Any] | None = None
        self._pending_autocommit = False
        self._uncommitted: list[dict[str, Any]] = []

    def _autocommit(self) -> bool:
        return not alembic_transaction_open(self.mc)

    def before(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> Any:
        self.index += 1
        self.current = (self.index, statement)
        self._pending_step = self._pending_data = None
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
        sha = _sha(statement, parameters)
        occ = self._occurrences.get(sha, 0) + 1
        self._occurrences[sha] = occ
        data = is_data_statement(statement)
        line = _one_line(statement, 500)
        skip = None
        if data and (sha, occ) in self.data_done:
            skip = f"data statement {self.index} already applied to this database by revision {self.revision}"
        elif (sha, occ) in self.committed and (data or self._still_there(statement)):
            skip = f"step {self.index} already done by an earlier attempt"
        if skip is not None:
            self.skipped_steps += 1
            if data:
                self.data_steps.append(data_step(self.index, sha, occ, line))
            log.info("%s, skipped: %s", skip, _one_line(statement))
            empty = type(parameters)() if isinstance(parameters, (dict, tuple, list)) else parameters
            return f"SELECT 1 /* alembic_guard: step {self.index} done earlier */", empty
        self._pending_step = committed_step(self.index, sha, occ, line, data=data)
        if data and self.upgrade:
            self._pending_data = data_step(self.index, sha, occ, line)
        self._pending_autocommit = autocommit
        return statement, parameters

    def _still_there(self, statement: str) -> bool:
        """Is what the committed statement did still in the catalog?  Read on the ledger's connection."""
        ledger = self.runner.ledger
        return ledger is not None and effect_present(ledger.conn, statement)

    def after(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        self.current = None
        step, self._pending_step = self._pending_step, None
        if step is None:
            return
        if self._pending_data is not None:
            self.data_steps.append(self._pending_data)
            self._pending_data = None
        if self._pending_autocommit:
            # Committed already: record it now, so a crash right after still knows.
            self.runner.ledger_add_step(self.record_id, step)
        else:
            self._uncommitted.append(step)

    def __enter__(self) -> StatementTracker:
        self.runner.tracker = self
        return self

    def __exit__(self, *exc: Any) -> None:
        self.runner.tracker = None


def effect_present(conn: Connection, statement: str) -> bool:
    """Does the catalog hold what ``statement`` did?  ``False`` when the analysis cannot say.  Read-only.

    Every object it creates must exist (an index also valid), every object it
    drops be gone; a statement that only alters, or that the analysis does not
    understand, is never taken as done.
    """
    from alembic_guard.search_path import search_path
    from alembic_guard.sql.effects import analyze_all
    from alembic_guard.sql.parse import parse_text

    try:
        analyzed = analyze_all(parse_text(statement, "<a step done earlier>"), search_path=search_path())
    except Exception:  # not analysable: run it again and let PostgreSQL and the guards decide
        return False
    if not analyzed:
        return False
    for a in analyzed:
        eff = a.effect
        if eff.opaque or not (eff.provides or eff.drops):
            return False
        if not all(_exists(conn, ref) is True for ref in eff.provides):
            return False
        if not all(_exists(conn, ref) is False for ref in eff.drops):
            return False
    return True


def _exists(conn: Connection, ref: ObjRef) -> bool | None:
    """Whether the catalog has ``ref`` (``None``: a kind this check does not read)."""
    from alembic_guard.quoting import quote_ident

    qualified = f"{quote_ident(ref.schema)}.{quote_ident(ref.name)}" if ref.schema else quote_ident(ref.name)
    if ref.kind in ("relation", "sequence"):
        sql, params = "SELECT to_regclass(:n) IS NOT NULL", {"n": qualified}
    elif ref.kind == "index":
        sql = "SELECT coalesce((SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:n)), false)"
        params = {"n": qualified}
    elif ref.kind == "column" and ref.parent is not None:
        sql = (
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:t) "
            "AND attname = CAST(:c AS text) AND attnum > 0 AND NOT attisdropped)"
        )
        params = {"t": f"{quote_ident(ref.schema)}.{quote_ident(ref.parent)}", "c": ref.name}
    elif ref.kind == "constraint" and ref.parent is not None:
        sql = (
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass(:t) "
            "AND conname = CAST(:c AS text))"
        )
        params = {"t": f"{quote_ident(ref.schema)}.{quote_ident(ref.parent)}", "c": ref.name}
    elif ref.kind == "schema":
        sql, params = (
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = CAST(:n AS text))",
            {"n": ref.name},
        )
    elif ref.kind == "extension":
        sql, params = (
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = CAST(:n AS text))",
            {"n": ref.name},
        )
    elif ref.kind == "type":
        sql, params = "SELECT to_regtype(:n) IS NOT NULL", {"n": qualified}
    else:
        return None
    return bool(conn.execute(text(sql), params).scalar())


def track_statements(runner: Runner, conn: Connection) -> None:
    """Route the migration connection's cursor events to the revision's tracker, when one is active.

    Listened once per connection: adding and removing SQLAlchemy listeners
    for every revision cost more than the tracking itself (≈ 0.15 ms).
    """

    def before(c: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> Any:
        runner.check_lock()  # nothing runs once the lock is lost: another run may hold it now
        tracker = runner.tracker
        if tracker is None:
            return statement, parameters
        return tracker.before(c, cursor, statement, parameters, context, executemany)

    def after(c: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        tracker = runner.tracker
        if tracker is not None:
            tracker.after(c, cursor, statement, parameters, context, executemany)

    def commit(c: Any) -> None:
        runner.check_lock()  # nor does a revision commit without it

    event.listen(conn, "before_cursor_execute", before, retval=True)
    event.listen(conn, "commit", commit)
    event.listen(conn, "after_cursor_execute", after)


def followed(tracker: StatementTracker, events: Iterable[Any]) -> bool:
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
