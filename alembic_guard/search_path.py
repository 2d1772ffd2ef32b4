"""Where unqualified names live: the ``search_path`` a run resolves them through.

PostgreSQL creates and finds an unqualified name in the first schema of the
session's ``search_path`` that exists (``current_schema()``).  Managed
platforms often give the application's role its own schema first
(``ALTER ROLE app IN DATABASE db SET search_path = app``, no CREATE on
``public``): there ``op.create_table("t")`` creates ``app.t``, and a guard that
looked for ``public.t`` would miss it and fail with SQLSTATE 42P07.

So every part that turns an unqualified name into a model key (the guards,
pre-flight, data pre-flight, the analysis of ``op.execute`` text, guard-check's
replay, guard-repair) asks :func:`unqualified_schema` / :func:`search_path`
here.  The edge that holds the connection reads the live path once
(:func:`search_path_of`) and runs the work inside :func:`resolving_in`; without
a connection, a declared ``search_path`` setting (``[tool.alembic_guard]``)
or PostgreSQL's default, ``public``, applies.  A context variable carries it,
so the ~40 places that name a table need no extra argument and parallel runs
(threads, tasks) never see each other's path.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any

from alembic_guard.model import DEFAULT_SCHEMA

__all__ = [
    "LIVE_SEARCH_PATH",
    "as_search_path",
    "op_schema",
    "resolving_in",
    "search_path",
    "search_path_of",
    "split_search_path",
    "unqualified_schema",
]

_PATH: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "alembic_guard_search_path", default=(DEFAULT_SCHEMA,)
)


def search_path() -> tuple[str, ...]:
    """The schemas unqualified names resolve through now, first one first (never empty)."""
    return _PATH.get()


def unqualified_schema() -> str:
    """The schema an unqualified name is created in and looked for: ``current_schema()``."""
    return _PATH.get()[0]


def op_schema(schema: str) -> str | None:
    """An Alembic op's ``schema=`` for an object in ``schema``: ``None`` where unqualified names resolve."""
    return None if schema == unqualified_schema() else schema


@contextlib.contextmanager
def resolving_in(path: Sequence[str] | None) -> Iterator[tuple[str, ...]]:
    """Resolve unqualified names through ``path`` inside the block (``None``/empty: keep the current one)."""
    wanted = tuple(path) if path else _PATH.get()
    token = _PATH.set(wanted)
    try:
        yield wanted
    finally:
        _PATH.reset(token)


# the session's search_path setting, its user, and the schemas of it that exist now (three
# columns: select them beside others and give them to as_search_path)
LIVE_SEARCH_PATH = "current_setting('search_path'), current_user, current_schemas(false)"


def as_search_path(setting: str | None, user: str | None, existing: Sequence[str] | None) -> tuple[str, ...]:
    """``LIVE_SEARCH_PATH``'s columns as a search path; ``(public,)`` when it names no schema.

    The schemas as *set*, not only those that exist now: a runner that sets
    ``search_path = storage, public`` and whose first migration creates
    ``storage`` puts every later unqualified name there, and PostgreSQL
    resolves each statement against the schemas existing when it runs.
    ``$user`` counts only where that schema exists (the default path
    ``"$user", public`` is ``public`` for a role without one).
    """
    exists = {str(s) for s in existing or ()}
    path: list[str] = []
    for schema in split_search_path(setting or ""):
        if schema == "$user":
            schema = str(user or "")
            if schema not in exists:
                continue
        if schema in ("pg_catalog", "pg_temp") or schema in path:
            continue
        path.append(schema)
    return tuple(path) or (DEFAULT_SCHEMA,)


def split_search_path(text: str) -> tuple[str, ...]:
    """A ``search_path`` value's schemas as PostgreSQL reads them (``"Quoted"`` kept, others lower-cased)."""
    out = []
    for part in text.split(","):
        p = part.strip()
        if not p:
            continue
        out.append(p[1:-1].replace('""', '"') if len(p) > 1 and p[0] == p[-1] == '"' else p.lower())
    return tuple(out)


def search_path_of(conn: Any) -> tuple[str, ...]:
    """The schemas an unqualified name on this connection resolves through, first one first.  Read-only.

    The session's ``search_path``, so a database- or role-level setting
    (``ALTER ROLE ... SET search_path = app``) counts; see :func:`as_search_path`.
    """
    from sqlalchemy import text

    return as_search_path(*conn.execute(text(f"SELECT {LIVE_SEARCH_PATH}")).one())
