"""The guard machinery every guarded operation shares: decide, act, skip, refuse, log.

A :class:`Guard` lives for one call of one operation.  It knows the run's
:class:`GuardContext` (settings and model), renders identifiers with the
dialect's quoting, runs the statements the operation decided on (with
``lock_timeout`` set first) and records one :class:`OpEvent` per decision.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from alembic_guard.errors import GuardRefused
from alembic_guard.model import DEFAULT_SCHEMA, Constraint, QName, format_qname
from alembic_guard.ops.context import Action, GuardContext, OpEvent
from alembic_guard.quoting import quote_ident, quote_qualified

log = logging.getLogger("alembic_guard.ops")

SAMPLE_ROWS = 5


def qname_of(name: str, schema: str | None) -> QName:
    """Model key of a table an operation names (Alembic's ``schema=None`` is the default schema)."""
    return (schema or DEFAULT_SCHEMA, name)


def loose_sql(text: str | None) -> str:
    """An expression's text with the noise PostgreSQL adds when it prints one removed.

    ``pg_get_expr`` prints ``((status)::text = 'open'::text)`` for ``status = 'open'``;
    comparing the two loosely avoids refusing an index or CHECK that is the same.
    """
    if text is None:
        return ""
    s = text.lower()
    s = re.sub(r"::[a-z_ ]+(\([0-9, ]*\))?(\[\])*", "", s)
    return re.sub(r"[\s()\"]", "", s)


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

    # -- names -----------------------------------------------------------------

    def quote(self, name: str) -> str:
        """The identifier, quoted when it needs to be (``"`` doubled), so it can never end the statement."""
        return quote_ident(name)

    def table_sql(self, q: QName) -> str:
        """A table's name as SQL: schema-qualified unless it lives in the default schema."""
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
        if not self.offline:
            self.ctx.ensure_loaded(self.mc.connection, tables)

    # -- decisions -----------------------------------------------------------------

    def _event(self, action: Action, reason: str) -> None:
        self.ctx.events.append(
            OpEvent(self.ctx.revision, self.op, self.target, action, reason, tuple(self.sql))
        )

    def skip(self, reason: str) -> None:
        log.info("skip %s %s: %s", self.op, self.target, reason)
        self._event("skip", reason)

    def acted(self, reason: str) -> None:
        # DEBUG: the revision's own line ("applied <rev> in N ms (k op(s), ...)") already
        # says it; a line per operation doubled a large run's log and cost ~0.2 ms each
        log.debug("%s %s: %s", self.op, self.target, reason)
        self._event("act", reason)

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
        """
        if self.in_autocommit():
            # the revision opened the block itself (``with op.get_context().autocommit_block():``,
            # as guard-import writes a concurrent index): Alembic's block does not nest
            yield
            return
        with self.mc.autocommit_block():
            self.ctx._timeout_tx = None
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

    # -- data checks -----------------------------------------------------------------

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


def both(have: str, want: str, source: str = "migration") -> str:
    """The two definitions a refusal shows, one under the other."""
    return f"  in the database:  {have}\n  in the {source}: {' ' * (9 - len(source))}{want}"


def describe_rows(n: int, keys: list[str], table: QName) -> str:
    shown = "; ".join(f"({k})" for k in keys)
    more = f" and {n - len(keys)} more" if n > len(keys) else ""
    return f"{n} row(s) of {format_qname(table)}: {shown}{more}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
