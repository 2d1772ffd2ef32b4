"""One exception root for everything alembic_guard reports to a user.

The CLI turns a :class:`GuardError` into one line (``FAILED: <message>``),
an optional titled detail section and an exit code; it shows a traceback only
with ``--raiseerr``.  Messages say what is wrong and where; ``hint`` says what
to do next.

Pure: importing this module must not import Alembic or SQLAlchemy, because
the pure core (analysis, planning, lint) raises these errors.  Inside
Alembic's own commands (a guard refusing during ``alembic upgrade``) the
plugin's wrapper of Alembic's ``CommandLine.run_cmd`` prints them the same
way (see :func:`alembic_guard.cli.install_into_alembic`).
"""

from __future__ import annotations


class GuardError(Exception):
    """Root of every error alembic_guard raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, details: str | None = None):
        self.message = message
        self.hint = hint
        self.details = details
        super().__init__(self.render())

    def render(self) -> str:
        text = self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        if self.details:
            text += "\n" + self.details
        return text


class UsageError(GuardError):
    """Bad input from the user: a missing directory, a bad option or URL."""

    exit_code = 2


class SourceError(UsageError):
    """A SQL source that cannot be read or parsed; carries file:line:col."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int | None = None,
        col: int | None = None,
        hint: str | None = None,
        details: str | None = None,
    ):
        self.file = file
        self.line = line
        self.col = col
        where = file if line is None else f"{file}:{line}:{col or 1}"
        super().__init__(f"{where}: {message}", hint=hint, details=details)


class ConnectionFailed(UsageError):
    """The database cannot be reached; the URL in the message is masked."""


class PlanError(GuardError):
    """The statements cannot be ordered: a cycle or an unresolved reference."""

    exit_code = 1


class GuardRefused(GuardError):
    """A guarded operation refused to act; nothing was changed."""

    exit_code = 1
