"""The run's connections (named in ``pg_stat_activity``, timeouts per session); the version table's rows."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ProgrammingError

from alembic_guard.dburl import normalize_url
from alembic_guard.errors import UsageError
from alembic_guard.quoting import quote_ident
from alembic_guard.runtime.config import RuntimeSettings
from alembic_guard.runtime.ledger import application_name
from alembic_guard.search_path import LIVE_SEARCH_PATH, as_search_path

URL_ATTR = "alembic_guard.url"


def connect(engine: Engine, run_id: str, role: str, *, autocommit: bool = False) -> Connection:
    """A new connection named ``alembic_guard:<run>:<role>`` in ``pg_stat_activity``."""
    conn = engine.connect()
    if autocommit:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
    # The lock's session idles through every revision (and the migration session between
    # them): a server-wide idle_session_timeout (PostgreSQL 14+) must not end the run.
    conn.execute(
        text(
            "SELECT set_config('application_name', :n, false), "
            "CASE WHEN current_setting('server_version_num')::int >= 140000 "
            "THEN set_config('idle_session_timeout', '0', false) END"
        ),
        {"n": application_name(run_id, role)},
    )
    if not autocommit:
        conn.commit()
    return conn


def configure_session(conn: Connection, settings: RuntimeSettings) -> tuple[int, tuple[str, ...]]:
    """Session-level timeouts on the migration connection; returns its backend pid and search path.

    The search path (as :func:`alembic_guard.search_path.search_path_of` reads it) is where the
    revisions' unqualified names resolve: a role's ``ALTER ROLE ... SET
    search_path = app`` puts them in ``app``.  Read in the same round trip as the pid.

    Set per session, they hold inside transactions and autocommit blocks
    alike.  A timeout that is off is not set at all: the session keeps what
    the role or database gives it (``ALTER ROLE ... SET lock_timeout``), where
    ``SET ... = 0`` would override that.
    """
    for name, value in (
        ("lock_timeout", settings.lock_timeout),
        ("statement_timeout", settings.statement_timeout),
    ):
        if value is not None:
            conn.execute(text("SELECT set_config(:k, :v, false)"), {"k": name, "v": value})
    # PostgreSQL ≥ 14: a backend busy in a long statement notices its client died.
    conn.execute(
        text(
            "SELECT set_config('client_connection_check_interval', '1000', false) "
            "WHERE current_setting('server_version_num')::int >= 140000"
        )
    )
    backend_pid, *path = conn.execute(text(f"SELECT pg_backend_pid(), {LIVE_SEARCH_PATH}")).one()
    conn.commit()
    return int(backend_pid), as_search_path(*path)


def current_heads(
    conn: Connection, version_table: str, schema: str | None, *, known_to_exist: bool = False
) -> frozenset[str] | None:
    """The version table's rows on an autocommit connection (no transaction left open); read-only.

    ``None`` when there is no version table.  ``known_to_exist`` skips the
    existence check (a table dropped since is read as "no version table").
    """
    name = (quote_ident(schema) + "." if schema else "") + quote_ident(version_table)
    if (
        not known_to_exist
        and not conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar()
    ):
        return None
    try:
        rows = conn.execute(text(f"SELECT version_num FROM {name}")).scalars()
    except ProgrammingError:  # undefined_table: dropped under us (autocommit: nothing to roll back)
        return None
    return frozenset(str(v) for v in rows)


def resolve_url(config: Any) -> str:
    """The start-up API's explicit URL, else ``DATABASE_URL``, else ``sqlalchemy.url``."""
    url = (
        config.attributes.get(URL_ATTR)
        or os.environ.get("DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise UsageError(
            "no database URL: DATABASE_URL is not set and alembic.ini has no sqlalchemy.url",
            hint="export DATABASE_URL=postgresql://user:password@host/dbname",
        )
    return normalize_url(str(url))
