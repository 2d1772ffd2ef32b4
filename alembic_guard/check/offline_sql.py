"""Render each revision's ``upgrade()`` as SQL offline, remembering which line of the file emitted what.

Touches no database: a ``--sql`` MigrationContext writes into a buffer, as
``alembic upgrade --sql`` does (one context for the whole run; configuring
one costs more than rendering a revision).  It differs from
:func:`alembic_guard.runtime.preflight.render_revision_sql` in one way the
report needs: every chunk Alembic writes is tagged with the line of the
innermost frame inside the revision file, i.e. the ``op.*`` call that
emitted it, so findings point at the op, not at line 1.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("alembic_guard")


@dataclass(frozen=True, slots=True)
class Rendered:
    """The SQL of one revision and, per written chunk, (character offset, line in the revision file)."""

    sql: str | None
    marks: tuple[tuple[int, int], ...] = ()
    error: str | None = None

    def op_line(self, offset: int) -> int:
        """Line of the op call that wrote the character at ``offset`` of :attr:`sql` (1 when unknown)."""
        line = 1
        for start, ln in self.marks:
            if start > offset:
                break
            line = ln
        return line


class _Recorder(io.StringIO):
    """A StringIO that tags each write with the caller's line in one file."""

    def __init__(self) -> None:
        super().__init__()
        self.path = ""
        self.marks: list[tuple[int, int]] = []

    def reset(self, path: str) -> None:
        self.seek(0)
        self.truncate()
        self.path = os.path.normcase(os.path.abspath(path))
        self.marks = []

    def write(self, s: str) -> int:
        self.marks.append((self.tell(), self._caller_line()))
        return super().write(s)

    def _caller_line(self) -> int:
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_code.co_filename
            if name == self.path or os.path.normcase(os.path.abspath(name)) == self.path:
                return frame.f_lineno
            frame = frame.f_back  # type: ignore[assignment]
        return 1


class OfflineRenderer:
    """Renders revisions one after the other into SQL text (PostgreSQL dialect).

    With ``guard_settings`` the guarded operations render the SQL the guarded
    runtime sends under those settings (``CREATE INDEX CONCURRENTLY`` in an
    autocommit block with ``concurrent_indexes``, a unique index then ``USING
    INDEX`` for a unique constraint, ``SET LOCAL lock_timeout``), as
    ``alembic upgrade --sql`` through the guarded ``env.py`` does; without, Alembic's own SQL.
    """

    def __init__(self, guard_settings: Any = None) -> None:
        self._buffer = _Recorder()
        self._context: Any = None
        self._guard_settings = guard_settings

    def _configure(self) -> Any:
        from alembic.runtime.migration import MigrationContext

        # transactional_ddl: autocommit_block() then writes COMMIT / BEGIN around its
        # statements, which tells lint they run outside the revision's transaction.
        # paramstyle named: without it every % in op.execute text comes out doubled.
        opts: dict[str, Any] = {
            "as_sql": True,
            "output_buffer": self._buffer,
            "literal_binds": True,
            "transactional_ddl": True,
        }
        if self._guard_settings is not None:
            from alembic_guard.ops.context import GUARD_OPTION, GuardContext

            opts[GUARD_OPTION] = GuardContext(settings=self._guard_settings)
        return MigrationContext.configure(
            dialect_name="postgresql", dialect_opts={"paramstyle": "named"}, opts=opts
        )

    def render(self, migration_fn: Callable[[], Any], path: str) -> Rendered:
        """The SQL ``migration_fn`` (a revision's ``upgrade``) emits.  Touches no database."""
        from alembic.operations import Operations

        from alembic_guard.alembic_internals import keeping_op_proxy

        mig_log = logging.getLogger("alembic.runtime.migration")
        level = mig_log.level
        mig_log.setLevel(logging.WARNING)  # "Generating static SQL" per context is noise here
        try:
            if self._context is None:
                self._context = self._configure()
            self._buffer.reset(path)
            with keeping_op_proxy(), Operations.context(self._context):
                migration_fn()
        except Exception as exc:
            log.debug("guard-check: cannot render %s offline (%s: %s)", path, type(exc).__name__, exc)
            return Rendered(
                None,
                error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
            )
        finally:
            mig_log.setLevel(level)
        return Rendered(self._buffer.getvalue(), tuple(self._buffer.marks))
