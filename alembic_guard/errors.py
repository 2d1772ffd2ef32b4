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

import re


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


class PrivilegeMissing(UsageError):
    """The role lacks a privilege a statement needs (SQLSTATE 42501); nothing of that statement happened."""


_DENIED_FOR = re.compile(r"permission denied for (schema|table|sequence|function|database|view|type) (\S+)")
_MUST_OWN = re.compile(r"must be owner of (\w+(?: \w+)?) (\S+)")
_VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "EXECUTE")


def privilege_needed(message: str, statement: str | None = None) -> str:
    """The privilege PostgreSQL's 42501 message means, in GRANT's words (``CREATE on schema public``).  Pure.

    PostgreSQL names the object but not always the privilege: for a schema it
    is CREATE when the statement creates something, else USAGE; for a table,
    the statement's verb.
    """
    words = (statement or "").lstrip().split(None, 1)
    verb = words[0].upper() if words else ""
    m = _DENIED_FOR.search(message)
    if m:
        kind, name = m.group(1), m.group(2).strip('"')
        if kind == "schema":
            return f"{'CREATE' if verb in ('CREATE', 'ALTER') else 'USAGE'} on schema {name}"
        if kind == "database":
            return f"CREATE on database {name}"
        privilege = verb if verb in _VERBS else "the needed privilege"
        return f"{privilege} on {kind} {name}"
    m = _MUST_OWN.search(message)
    if m:
        return f"owner of {m.group(1)} {m.group(2).strip(chr(34))}"
    return message.strip().splitlines()[0] if message.strip() else "a privilege"
