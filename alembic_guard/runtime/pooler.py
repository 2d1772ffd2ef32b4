"""Is there a connection pooler between us and PostgreSQL?  Decides which migration lock is safe.

A session-level advisory lock is only as good as the session: through
PgBouncer in ``transaction`` (or ``statement``) pool mode, consecutive
transactions of one client connection run on whatever server connection is
free, so a session lock is orphaned on a pooled backend and the unlock lands
elsewhere.  The pool mode cannot be read from the server, so any proxy is
treated as one that may pool by transaction: the run then uses the lease
lock of :mod:`alembic_guard.runtime.lease`, unless ``direct_url`` names the
server itself (the usual setup on managed platforms).

How a proxy shows: the backend reports the address it accepted the
connection on (``inet_server_port()``).  A client that reached port 6432 over
TCP while the backend accepted on 5432, or on a Unix socket (NULL), talked
to something in between.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.url import make_url

from alembic_guard.runtime.lock import AdvisoryLock

__all__ = ["migration_lock", "proxy_between"]

log = logging.getLogger("alembic_guard")

DEFAULT_PORT = 5432


def _dialed(conn: Connection, url: str) -> tuple[str, int]:
    """The host and port libpq really dialled: after PGHOST / PGPORT, ``?host=`` and defaults.

    psycopg2 and psycopg 3 both expose them as ``connection.info``; the URL is
    the fallback for a driver that does not.
    """
    info = getattr(getattr(conn.connection, "dbapi_connection", None), "info", None)
    host, port = getattr(info, "host", None), getattr(info, "port", None)
    if host is not None and port:
        return str(host), int(port)
    u = make_url(url)
    return u.host or "", u.port or DEFAULT_PORT


def proxy_between(conn: Connection, url: str) -> str | None:
    """Why we believe a proxy sits between ``url`` and the server, or ``None``.  One read-only query."""
    host, client_port = _dialed(conn, url)
    # a Unix-socket client (no host, or a directory as host) talks to the server it names
    if not host or host.startswith("/"):
        return None
    server_port = conn.execute(text("SELECT inet_server_port()")).scalar()
    if server_port is None:
        return f"the client reached {host}:{client_port} over TCP, the server accepted it on a Unix socket"
    if int(server_port) != client_port:
        return f"the client reached port {client_port}, the server accepted it on port {server_port}"
    return None


def migration_lock(
    admin: Connection,
    engine: Engine,
    key: int,
    *,
    wait_s: float,
    lease_s: float,
    schema: str | None,
    version_table: str = "alembic_version",
    direct: bool = False,
) -> AdvisoryLock:
    """The migration lock that is safe on ``admin``'s path to the server, and says which it is.

    ``direct``: the URL was configured as the server itself (``direct_url``),
    so no probe is made.  Otherwise a proxy (see :func:`proxy_between`) gets the
    lease lock, in the ledger's schema; a direct connection the advisory lock.
    """
    from alembic_guard.runtime.lease import LOCK_TABLE, LeaseLock
    from alembic_guard.runtime.ledger import Ledger

    reason = None if direct else proxy_between(admin, engine.url.render_as_string(hide_password=False))
    if reason is None:
        if direct:
            log.info("migrating through direct_url: session advisory lock on the server itself")
        return AdvisoryLock(admin, key, wait_s=wait_s)
    home = Ledger(admin, schema=schema, version_table=version_table).schema or "public"
    log.info(
        "a connection pooler sits in between (%s): the migration lock is a lease row in %s.%s "
        "(renewed every %.0fs, free %.0fs after its holder dies); set direct_url to lock on the server",
        reason,
        home,
        LOCK_TABLE,
        lease_s / 3,
        lease_s,
    )
    return LeaseLock(admin, key, engine=engine, schema=home, lease_s=lease_s, wait_s=wait_s)
