"""State and settings of the guarded operations for one migration run.

The environment enables the guards by passing a :class:`GuardContext` to
``context.configure(..., alembic_guard=ctx)``; Alembic keeps it in
``MigrationContext.opts`` and every replaced operation looks it up there
(:func:`guard_context`).  Without it the replaced operations call Alembic's
own implementations unchanged.

The context holds the in-memory :class:`SchemaModel` the guards decide from.
It is (re)loaded from the catalog before a revision for the tables that
revision touches, in one batched call, and kept current inside the revision by
each operation's effect, so deciding an operation never queries the catalog.
With :attr:`GuardContext.carry_current` (the guarded runtime) a table read
earlier in the run is not read again while nothing but guarded operations has
changed it since: see :meth:`GuardContext.begin_revision`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from alembic_guard.changes import Change
from alembic_guard.model import QName, SchemaModel

if TYPE_CHECKING:  # the runtime imports this module: importing its package here would be a cycle
    from alembic_guard.decide.history import HistoryEnd
    from alembic_guard.runtime.config import RuntimeSettings

GUARD_OPTION = "alembic_guard"

Action = Literal["act", "skip", "refuse", "debt", "unguarded"]


def standalone_settings() -> RuntimeSettings:
    """A GuardContext's settings when none are given: the ``dev`` profile, but ``strict``.

    Guards used outside the runtime (tests, tools, the harness) refuse what
    they cannot apply instead of skipping it: nobody reads a debt there.
    """
    from alembic_guard.runtime.config import make_settings

    return make_settings(policy="strict")


@dataclass(frozen=True, slots=True)
class OpEvent:
    """One decision of one guarded operation, for logs and the ledger."""

    revision: str | None
    op: str
    target: str
    action: Action
    reason: str
    sql: tuple[str, ...] = ()


class GuardContext:
    """The guards' state for one run: settings, the schema model, the decisions made.

    ``model`` is what the guards decide from; ``events`` every decision so far
    (the runtime drains them with :meth:`take_events` for its ledger);
    ``revision`` the revision being applied.
    """

    session_timeouts: bool = False
    """The connection's session already has ``settings``' lock and statement
    timeouts (the guarded runtime sets them when it opens the migration
    connection), so a revision's transaction needs no ``SET LOCAL`` of its own:
    :meth:`begin_revision` marks it as done, saving a round trip per revision."""

    carry_current: bool = False
    """Keep tables read earlier in the run instead of reading them again per revision.

    Sound only when every change to them since went through the guarded
    operations (which update the model as they act) while the migration lock
    kept other runs out; whoever sets it calls :meth:`forget` after anything
    else ran (the guarded runtime does, after SQL it could not follow)."""

    def __init__(self, settings: RuntimeSettings | None = None, model: SchemaModel | None = None):
        # importing the registry here makes "a GuardContext exists" imply
        # "the replaced operations are installed"
        from alembic_guard.ops import registry

        registry.install()
        self.settings = settings or standalone_settings()
        self.model = model if model is not None else SchemaModel()
        self.events: list[OpEvent] = []
        # tables a guarded create_table made in the current revision: nobody else sees them
        # before it commits, so nothing gains from committing the revision's work early for them
        self.created_here: set[QName] = set()
        self.revision: str | None = None
        # guarded operations running now (nested: a guarded execute calls others); a
        # statement sent while it is 0 came from outside the guards
        self.active_ops = 0
        # tables whose state (present or absent) the model holds as the catalog
        # showed it, changed since only by the guarded operations; a model handed
        # in, or a full snapshot, is taken as the whole truth
        self._known: set[QName] = set()
        self._complete = model is not None
        # the transaction inside which lock_timeout was last SET LOCAL
        self._timeout_tx: Any = None
        self.rerun = False
        """The ledger says the current revision was applied to this database before (and not
        reverted since): a re-run of the history (``stamp base`` + ``upgrade head``).  Then an
        index or constraint a later revision drops is not made again (set by the runner)."""
        self.later: Callable[[str | None], Sequence[Change]] | None = None
        """Runner hook: the model changes of the revisions after a given one in this run
        (see :meth:`later_changes`); ``None`` when the caller knows no later revisions."""
        self.history: Callable[[], HistoryEnd | None] | None = None
        """Runner hook: what the whole history of revisions, base to heads, leaves behind
        (:func:`~alembic_guard.decide.history.history_end`), asked on a re-run only (see
        :meth:`settled`); ``None`` when the caller cannot tell."""
        self._history_end: HistoryEnd | None = None
        self._history_asked = False

    def __repr__(self) -> str:
        return f"GuardContext({self.settings!r}, revision={self.revision!r}, events={len(self.events)})"

    def begin_revision(
        self, revision: str | None, connection: Any, touched: Iterable[QName] | None = None
    ) -> frozenset[QName]:
        """Start a revision: refresh the model for the tables it touches; return those read.

        Reads the catalog (read-only, one round trip: :func:`live.snapshot.refresh`).  With
        :attr:`carry_current`, only the touched tables the model does not hold
        as they are (never read, or :meth:`forget` called since) are read, and
        often none.  ``touched=None`` takes a full snapshot when the model is
        still empty.  ``connection`` may be ``None`` (offline ``--sql``): nothing is read.
        """
        self.revision = revision
        self._timeout_tx = None
        self.created_here = set()
        if connection is None:
            return frozenset()
        if self.session_timeouts:
            self._timeout_tx = connection.get_transaction()
        if touched is None:
            if self.model.is_empty() and not self._complete:
                self.model = _snapshot(connection)
                self._complete = True
            return frozenset()
        wanted = set(touched)
        if self.carry_current:
            wanted.difference_update(self._known)
        names = sorted(wanted)
        if names:
            _refresh(self.model, connection, names)
            self._known.update(names)
        return frozenset(names)

    def forget(self) -> None:
        """The catalog may differ from the model now (SQL the guards could not follow ran).

        Every table is read again before a guard next decides on it.
        """
        self._known.clear()

    def cascaded(self, connection: Any) -> None:
        """A ``DROP ... CASCADE`` ran: it took objects no analysis lists (dependent views and
        materialized views, triggers, defaults, foreign keys, columns of a dropped type).

        A model taken as the whole truth reads every relation it holds again
        (one round trip; the gone ones are removed); otherwise the tables are
        forgotten and read again before a guard next decides on them.
        """
        if not self._complete or connection is None:
            self.forget()
            return
        _refresh(self.model, connection, sorted({*self.model.tables, *self.model.views}))

    def reread(self, connection: Any, tables: Iterable[QName]) -> None:
        """Read ``tables`` from the catalog now, whatever the model holds (SQL the guards could
        not follow in detail made them: ``CREATE TABLE ... AS``)."""
        names = sorted(set(tables))
        if names and connection is not None:
            _refresh(self.model, connection, names)
            self._known.update(names)

    def ensure_loaded(self, connection: Any, tables: Iterable[QName]) -> None:
        """Load tables the model has never seen, all in one batched call (read-only)."""
        if self._complete or connection is None:
            return
        missing = sorted({t for t in tables if t not in self._known})
        if missing:
            _refresh(self.model, connection, missing)
            self._known.update(missing)

    def later_changes(self) -> Sequence[Change]:
        """The changes the revisions after the current one make (empty when unknown).

        A guard that finds its object with another definition asks whether
        those changes explain it: then the object is this revision's, evolved
        by a later one (re-running a history), and is skipped with a note.
        Lazy: computed only when a decision looks at it (a clash), not per operation.
        """
        return _LaterChanges(self.later, self.revision)

    def settled(self, changes: Sequence[Change], server_named: Sequence[Any] = ()) -> str | None:
        """On a re-run of the history, why an operation with these ``changes`` needs no running:
        what it touches is already as the whole history leaves it (``None``: decide as usual).

        The model must hold the objects it touches (the guards read them first).  The
        history is replayed once per run, on the first question.
        """
        end = self.history_end() if changes else None
        if end is None:
            return None
        from alembic_guard.decide.history import settled

        return settled(end, self.model, changes, server_named)

    def gone_with_history(self, ref: Any) -> str | None:
        """On a re-run of the history, why an operation that needs ``ref``, absent, is skipped:
        the history made it and a later revision removed it (``None``: not known to be so)."""
        end = self.history_end()
        if end is None or end.model.has(ref):
            return None
        if ref in end.made:
            return f"re-running the history: it needs {ref}, gone, as the later revisions leave it"
        from alembic_guard.decide.history import dynamic_may_have_made

        if dynamic_may_have_made(end, ref):  # a partition dynamic SQL made, gone with its table
            return f"re-running the history: it needs {ref}, which dynamic SQL made and is gone"
        return None

    def history_end(self) -> HistoryEnd | None:
        """On a re-run of the history, the state the whole history ends in (``None``: not a re-run,
        or the history cannot tell); replayed once per run, on the first question."""
        if not self.rerun or self.history is None:
            return None
        if not self._history_asked:
            self._history_asked = True
            try:
                self._history_end = self.history()
            except Exception:  # a revision the replay cannot read: the history does not say
                self._history_end = None
        return self._history_end

    def take_events(self) -> list[OpEvent]:
        """The events recorded since the last call, oldest first."""
        out, self.events = self.events, []
        return out


class _LaterChanges(Sequence[Change]):
    """The later revisions' changes, asked of the runner's hook on first use."""

    def __init__(self, provider: Callable[[str | None], Sequence[Change]] | None, revision: str | None):
        self._provider, self._revision = provider, revision
        self._items: Sequence[Change] | None = None

    def _get(self) -> Sequence[Change]:
        if self._items is None:
            try:
                self._items = self._provider(self._revision) if self._provider is not None else ()
            except Exception:  # a later revision pre-flight cannot read: nothing is explained by it
                self._items = ()
        return self._items

    def __len__(self) -> int:
        return len(self._get())

    def __getitem__(self, index: Any) -> Any:
        return self._get()[index]

    def __iter__(self) -> Iterator[Change]:
        return iter(self._get())


def guard_context(migration_context: Any) -> GuardContext | None:
    """The run's :class:`GuardContext`, or ``None`` when the environment did not enable guards."""
    opts = getattr(migration_context, "opts", None) or {}
    ctx = opts.get(GUARD_OPTION)
    return ctx if isinstance(ctx, GuardContext) else None


def _snapshot(connection: Any) -> SchemaModel:
    from alembic_guard.live.snapshot import snapshot

    return snapshot(connection)


def _refresh(model: SchemaModel, connection: Any, tables: list[QName]) -> None:
    from alembic_guard.live.snapshot import refresh

    refresh(model, connection, tables)
