"""The guard machinery every guarded operation shares: decide, act, skip, refuse, log.

A :class:`Guard` lives for one call of one operation.  It knows the run's
:class:`GuardContext` (settings and model), renders identifiers with the
dialect's quoting, runs the statements the operation decided on (with
``lock_timeout`` set first) and records one :class:`OpEvent` per decision.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from alembic_guard.changes import PutTable, apply
from alembic_guard.decide.types import DataCheck, Decision, Step
from alembic_guard.errors import GuardRefused
from alembic_guard.model import Constraint, QName, format_qname
from alembic_guard.ops.context import Action, GuardContext, OpEvent
from alembic_guard.quoting import quote_ident, quote_qualified
from alembic_guard.search_path import unqualified_schema

log = logging.getLogger("alembic_guard.ops")

SAMPLE_ROWS = 5
FIX_ROWS = "fix or delete those rows, then run the migration again"


def qname_of(name: str, schema: str | None) -> QName:
    """Model key of a table an operation names.

    Alembic's ``schema=None`` is where PostgreSQL resolves an unqualified name:
    the run's :func:`~alembic_guard.search_path.unqualified_schema`.
    """
    return (schema or unqualified_schema(), name)


class Guard:
    """One call of one guarded operation: decides from the model, acts through the connection."""

    def __init__(self, operations: Any, ctx: GuardContext, op: str, target: str) -> None:
        self.operations = operations
        self.mc = operations.migration_context
        self.ctx = ctx
        self.op = op
        self.target = target
        self.offline: bool = bool(self.mc.as_sql)
        self.dialect = self.mc.dialect
        self.sql: list[str] = []
        # the table the operation changes (the first one it loads)
        self.subject: QName | None = None

    # -- names -----------------------------------------------------------------

    def quote(self, name: str) -> str:
        """The identifier, quoted when it needs to be (``"`` doubled), so it can never end the statement."""
        return quote_ident(name)

    def table_sql(self, q: QName) -> str:
        """A table's name as SQL: schema-qualified unless it lives where unqualified names resolve."""
        return quote_qualified(q[0], q[1])

    def columns_sql(self, names: Sequence[str]) -> str:
        return ", ".join(self.quote(n) for n in names)

    def type_sql(self, type_: Any) -> str:
        return str(type_.compile(dialect=self.dialect))

    # -- the model ------------------------------------------------------------------

    @property
    def model(self) -> Any:
        return self.ctx.model

    def load(self, *tables: QName) -> None:
        """Make sure the model knows these tables (one batched catalog read for those it never saw)."""
        if self.subject is None and tables:
            self.subject = tables[0]
        if not self.offline:
            self.ctx.ensure_loaded(self.mc.connection, tables)

    # -- decisions -----------------------------------------------------------------

    def _event(self, action: Action, reason: str) -> None:
        self.ctx.events.append(
            OpEvent(self.ctx.revision, self.op, self.target, action, reason, tuple(self.sql))
        )

    def skip(self, reason: str, details: str | None = None) -> None:
        """Record a skip; with ``details`` (two definitions that differ) it is a warning."""
        if details:
            log.warning("skip %s %s: %s\n%s", self.op, self.target, reason, details)
        else:
            log.info("skip %s %s: %s", self.op, self.target, reason)
        self._event("skip", reason)

    def acted(self, reason: str) -> None:
        # DEBUG: the revision's own line ("applied <rev> in N ms (k op(s), ...)") already
        # says it; a line per operation doubled a large run's log and cost ~0.2 ms each
        log.debug("%s %s: %s", self.op, self.target, reason)
        self._event("act", reason)

    def reconciled(self, reason: str, start: int) -> None:
        """The end of a reconciliation whose parts went through their own guards (events from
        ``start``): acted when one of them did, else skipped (each part said why)."""
        if any(e.action == "act" for e in self.ctx.events[start:]):
            self.acted(reason)
        else:
            self.skip("already as it should be: each missing part was skipped (see above)")

    def unguarded(self, reason: str) -> None:
        log.info("unguarded %s %s: %s", self.op, self.target, reason)
        self._event("unguarded", reason)

    def refuse(self, message: str, *, hint: str, details: str | None = None) -> GuardRefused:
        """Record the refusal and return the error for the caller to raise (nothing was changed)."""
        self._event("refuse", message)
        where = f" (revision {self.ctx.revision})" if self.ctx.revision else ""
        return GuardRefused(f"{self.op} {self.target}{where}: {message}", hint=hint, details=details)

    def missing(self, what: str, *, hint: str) -> None:
        """A requirement is missing: strict refuses, lenient skips the operation and records a debt."""
        message = f"{what}; the operation was not sent to the server"
        if self.ctx.settings.policy == "strict":
            raise self.refuse(message, hint=hint)
        log.warning("debt %s %s: %s", self.op, self.target, message)
        self._event("debt", what)

    # -- statements ---------------------------------------------------------------------

    def note(self, text: str) -> None:
        """Offline: a ``-- alembic_guard:`` comment in the rendered script saying what online would check."""
        if self.offline:
            self.mc.impl.static_output(f"-- alembic_guard: {text}")

    def _set_timeouts(self, local: bool) -> list[str]:
        s = self.ctx.settings
        scope = "LOCAL " if local else ""
        out = []
        if s.lock_timeout is not None:
            out.append(f"SET {scope}lock_timeout = {_literal(s.lock_timeout)}")
        if s.statement_timeout is not None:
            out.append(f"SET {scope}statement_timeout = {_literal(s.statement_timeout)}")
        return out

    def lock_timeout(self) -> None:
        """``SET LOCAL lock_timeout`` once per transaction, before the first lock-taking statement.

        SET LOCAL lasts until the transaction ends, so one per transaction is enough and
        keeps a thousand cheap operations from paying a round trip each.
        """
        tx: Any = ("offline", self.ctx.revision) if self.offline else self.mc.connection.get_transaction()
        if tx is None or tx is self.ctx._timeout_tx or (self.offline and tx == self.ctx._timeout_tx):
            return
        for stmt in self._set_timeouts(local=True):
            self._emit(stmt)
        self.ctx._timeout_tx = tx

    def run(self, sql: str, *, lock: bool = True) -> None:
        """Run (or, offline, render) one statement the guard composed; names in it are quoted."""
        if lock:
            self.lock_timeout()
        self.sql.append(sql)
        self._emit(sql)

    def _emit(self, sql: str) -> None:
        if self.offline:
            self.mc.impl.static_output(sql + self.mc.impl.command_terminator)
        else:
            self.mc.connection.exec_driver_sql(driver_sql(self.dialect, sql))

    def original(self, impl: Callable[[Any, Any], Any], operation: Any, *, lock: bool = True) -> Any:
        """Run Alembic's own implementation of ``operation`` (after setting lock_timeout)."""
        if lock:
            self.lock_timeout()
        return impl(self.operations, operation)

    def query(self, sql: str) -> list[Any]:
        """A read-only data check (online only)."""
        return list(self.mc.connection.exec_driver_sql(driver_sql(self.dialect, sql)).all())

    def can_commit(self) -> bool:
        """Can a step commit the revision's work so far (Alembic owns the transaction, or there is none)?

        Alembic's ``autocommit_block`` needs the transaction Alembic began (no
        public accessor: :func:`alembic_guard.alembic_internals.alembic_transaction_open`);
        a connection handed in inside the caller's own transaction has none.
        """
        if self.offline or self.in_autocommit():
            return True
        from alembic_guard.alembic_internals import alembic_transaction_open

        return alembic_transaction_open(self.mc)

    def in_autocommit(self) -> bool:
        """Is the connection in autocommit mode already (inside the revision's own autocommit block)?"""
        if self.offline:
            return False
        level = self.mc.connection.get_execution_options().get("isolation_level")
        return bool(level == "AUTOCOMMIT")

    @contextlib.contextmanager
    def autocommit(self) -> Iterator[None]:
        """Alembic's autocommit block, with session-level timeouts restored afterwards.

        Commits the revision's work so far.  SET LOCAL means nothing outside a
        transaction, so the timeouts are SET for the session and put back after.
        Inside the revision's own autocommit block (``with
        op.get_context().autocommit_block():``, as guard-import writes a
        concurrent index) the statements run in it: Alembic's block does not nest.
        """
        if self.in_autocommit():
            with self._session_timeouts():
                yield
            return
        with self.mc.autocommit_block():
            self.ctx._timeout_tx = None
            with self._session_timeouts():
                yield

    @contextlib.contextmanager
    def _session_timeouts(self) -> Iterator[None]:
        before: list[tuple[str, str]] = []
        if not self.offline:
            for name in ("lock_timeout", "statement_timeout"):
                value = self.mc.connection.exec_driver_sql(f"SHOW {name}").scalar()
                before.append((name, str(value)))
        for stmt in self._set_timeouts(local=False):
            self._emit(stmt)
        try:
            yield
        finally:
            if self.offline:
                for stmt in self._set_timeouts(local=False):
                    self._emit(stmt.split(" = ")[0].replace("SET", "RESET"))
            else:
                for name, value in before:
                    self._emit(f"SET {name} = {_literal(value)}")

    # -- executing decisions ------------------------------------------------------------

    def carry_out(
        self,
        d: Decision,
        alembic: Callable[[Step], Any] | None = None,
        operation: Any = None,
    ) -> bool:
        """Execute a decision; ``True`` when its steps ran.

        Skip and debt are recorded, a refusal raised (nothing was sent); a run
        checks the data first (read-only counts, refused when rows fail), then
        runs the steps, each in the transaction it names, and applies the
        decision's changes to the model.  ``alembic`` runs a step that is
        Alembic's own rendering of the operation.  ``operation``: the typed
        operation decided, whose model changes judge a re-run of the history
        also when the decision is a refusal or carries none (an index there with
        the predicate a later column rename rewrote is the history's, not another).
        """
        if d.verdict in ("run", "refuse") and self.ctx.rerun and not self.offline:
            changes = d.changes or self._changes_of(operation)
            done = self.ctx.settled(changes) if changes else None
            if done is not None:  # re-running the history, and the database has moved on from here
                self.skip(done)
                return False
        if d.verdict == "skip":
            self.skip(d.reason, d.details)
            return False
        if d.verdict == "refuse":
            raise self.refuse(d.reason, hint=d.hint, details=d.details)
        if d.verdict == "missing":
            gone = self.ctx.gone_with_history(d.requires) if d.requires is not None else None
            if gone is None and self.ctx.rerun and not self.offline:
                gone = self.ctx.settled(self._changes_of(operation))
            if gone is not None:  # re-running the history: what it needs, a later revision dropped
                self.skip(gone)
                return False
            self.missing(d.reason, hint=d.hint)
            return False
        if not self.offline:
            for check in d.checks:
                refusal = self.check_data(check)
                if refusal is not None:
                    raise refusal
        self.run_steps(d.steps, alembic)
        for change in d.changes:
            if isinstance(change, PutTable):
                self.ctx.created_here.add(change.table.qname)
            apply(self.model, change)
        self.acted(d.reason)
        return True

    def _changes_of(self, operation: Any) -> tuple[Any, ...]:
        """The model changes a typed operation makes when it runs (``()``: none given)."""
        if operation is None:
            return ()
        # ops.decisions imports every guarded operation: imported when a re-run asks
        from alembic_guard.ops.decisions import operation_changes

        return operation_changes(self.operations, operation)

    def run_steps(self, steps: Sequence[Step], alembic: Callable[[Step], Any] | None = None) -> None:
        """Run steps in order; consecutive steps outside the revision's transaction share one block.

        A ``next`` step runs after the revision's work so far is committed, in a
        transaction of its own (autocommit: the statement is its transaction),
        so it does not hold the earlier steps' locks; an ``autocommit`` step
        must run outside any transaction (``CONCURRENTLY``).
        """
        i = 0
        while i < len(steps):
            if steps[i].tx == "revision":
                self._step(steps[i], alembic, lock=True)
                i += 1
                continue
            j = i
            while j < len(steps) and steps[j].tx != "revision":
                j += 1
            if all(st.tx == "next" for st in steps[i:j]) and (
                not self.can_commit() or self.subject in self.ctx.created_here
            ):
                # the caller owns the transaction (Alembic cannot commit it), or the table is new
                # in this revision (empty, seen by nobody: committing early would only cost the
                # revision its atomicity): the steps run in it, as they would without the guards
                for step in steps[i:j]:
                    self._step(step, alembic, lock=True)
                i = j
                continue
            with self.autocommit():
                for step in steps[i:j]:
                    self._step(step, alembic, lock=False)
            i = j

    def _step(self, step: Step, alembic: Callable[[Step], Any] | None, *, lock: bool) -> None:
        if step.alembic and alembic is not None:
            if lock:
                self.lock_timeout()
            alembic(step)
        else:
            self.run(step.sql, lock=lock)

    # -- data checks -----------------------------------------------------------------

    def check_data(self, check: DataCheck) -> GuardRefused | None:
        """Run one data check (read-only): the refusal when rows would make the step fail, else ``None``."""
        q = check.table
        if check.kind == "rows":
            if not self.query(f"SELECT EXISTS (SELECT 1 FROM {self.table_sql(q)})")[0][0]:
                return None
            return self.refuse(
                f"{format_qname(q)} has rows, and a {check.subject} cannot be added",
                hint="add the column as nullable, fill it, then alter_column(nullable=False); "
                "or give it a server_default",
            )
        if check.kind == "duplicates":
            return self._duplicates(check)
        n, keys = self.sample_keys(q, check.where)
        if not n:
            return None
        if check.kind == "nulls":
            return self.refuse(
                f"{n} row(s) have NULL in {check.columns[0]}; SET NOT NULL would fail",
                hint="give those rows a value (UPDATE) or delete them, then run the migration again",
                details="  " + describe_rows(n, keys, q),
            )
        if check.kind == "orphans":
            assert check.ref_table is not None
            return self.refuse(
                f"{n} row(s) refer to rows of {format_qname(check.ref_table)} that do not exist; "
                f"{check.subject} would fail",
                hint=f"{FIX_ROWS} (or set their {', '.join(check.columns)} to NULL)",
                details="  orphans: " + describe_rows(n, keys, q),
            )
        condition = check.where[len("NOT (") : -1]
        return self.refuse(
            f"{n} row(s) fail CHECK ({condition}); {check.subject} would fail",
            hint=FIX_ROWS,
            details="  violating: " + describe_rows(n, keys, q),
        )

    def _duplicates(self, check: DataCheck) -> GuardRefused | None:
        """Value groups of the key occurring more than once (NULLs never collide under UNIQUE)."""
        q, cols = check.table, check.columns
        t, key = self.table_sql(q), self.columns_sql(cols)
        where = " AND ".join(f"{self.quote(c)} IS NOT NULL" for c in cols)
        if check.where:
            where += f" AND ({check.where})"  # a partial unique index: only its rows
        dup = f"FROM {t} WHERE {where} GROUP BY {key} HAVING count(*) > 1"
        groups = self.query(f"SELECT {key}, count(*) {dup} ORDER BY {key} LIMIT {SAMPLE_ROWS}")
        if not groups:
            return None
        total = self.query(f"SELECT count(*) FROM (SELECT 1 {dup}) d")[0][0]
        shown = "; ".join(
            "(" + ", ".join(f"{c}={v!r}" for c, v in zip(cols, r[:-1], strict=True)) + f") × {r[-1]}"
            for r in groups
        )
        return self.refuse(
            f"{total} value group(s) of ({', '.join(cols)}) occur more than once in {format_qname(q)}; "
            f"{check.subject} would fail",
            hint=f"remove or change the duplicate rows ({FIX_ROWS})",
            details=f"  duplicates: {shown}" + (" ..." if total > SAMPLE_ROWS else ""),
        )

    def sample_keys(self, table: QName, where: str) -> tuple[int, list[str]]:
        """Count rows of ``table`` (aliased ``c``) matching ``where``; up to 5 of their keys (read-only)."""
        pk = self.primary_key(table)
        key = ", ".join(f"c.{self.quote(k)}" for k in pk) if pk else "c.ctid"
        t = self.table_sql(table)
        n = self.query(f"SELECT count(*) FROM {t} AS c WHERE {where}")[0][0]
        if not n:
            return 0, []
        rows = self.query(f"SELECT {key} FROM {t} AS c WHERE {where} ORDER BY {key} LIMIT {SAMPLE_ROWS}")
        names = pk or ["ctid"]
        keys = [", ".join(f"{c}={v!r}" for c, v in zip(names, r, strict=True)) for r in rows]
        return int(n), keys

    def primary_key(self, table: QName) -> list[str]:
        for c in self.model.constraints_of(*table):
            if c.kind == "primary_key":
                return list(c.columns)
        return []

    def find_constraint(self, table: QName, name: str) -> Constraint | None:
        c: Constraint | None = self.model.constraints.get((table[0], table[1], name))
        return c


def driver_sql(dialect: Any, sql: str) -> str:
    """``sql`` as the DB-API driver takes it.

    exec_driver_sql does no bind-parameter parsing (a ``:`` in a quoted name is
    safe), but psycopg2 still reads ``%`` as a placeholder, so it is doubled.
    """
    if dialect.paramstyle in ("format", "pyformat"):
        return sql.replace("%", "%%")
    return sql


def describe_rows(n: int, keys: list[str], table: QName) -> str:
    shown = "; ".join(f"({k})" for k in keys)
    more = f" and {n - len(keys)} more" if n > len(keys) else ""
    return f"{n} row(s) of {format_qname(table)}: {shown}{more}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
