"""What an extension provides, asked of PostgreSQL: a scratch database where it is created.

``CREATE EXTENSION "uuid-ossp"`` provides ``uuid_generate_v4()`` and more, in
the schema it is created in.  No hand-kept list can follow every extension and
version, so the objects are read from the catalog of a server that has the
extension: a throwaway database is created on the server of the URL given,
each extension is created there (``CASCADE``, with the version asked for), its
member objects are read from ``pg_depend`` (``deptype = 'e'``) joined to
``pg_proc``, ``pg_type`` and ``pg_class``, and the database is dropped.

Results are cached per (server, extension, version) for the process.  Needs
``CREATEDB`` on that server; when the server cannot do it (no privilege, the
extension is not installed there), the extension is left out of the answer
and planning treats its objects as unknown (a warning, never a false error).
Writes: creates and drops one database named ``alembic_guard_ext_<random>``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from alembic_guard.model import ObjRef

log = logging.getLogger(__name__)

_CACHE: dict[tuple[str, str, str | None], tuple[ObjRef, ...]] = {}

# members of an extension; an object in the extension's own schema gets schema "" (where the
# set creates it), one in a fixed schema keeps it
_MEMBERS = """
SELECT 'function', n.nspname, p.proname, n.oid = e.extnamespace
FROM pg_extension e
JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e'
JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE e.extname = :name
UNION ALL
SELECT 'type', n.nspname, t.typname, n.oid = e.extnamespace
FROM pg_extension e
JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e'
JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE e.extname = :name
UNION ALL
SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'relation' END, n.nspname, c.relname,
       n.oid = e.extnamespace
FROM pg_extension e
JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e'
JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE e.extname = :name AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
"""


def _server_key(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return f"{u.host}:{u.port}"


def extension_objects(url: str, wanted: Sequence[tuple[str, str | None]]) -> dict[str, tuple[ObjRef, ...]]:
    """The member objects of each (name, version) in ``wanted``, read from a scratch database on
    the server of ``url``; extensions the server cannot create are left out."""
    server = _server_key(url)
    out: dict[str, tuple[ObjRef, ...]] = {}
    todo = []
    for name, version in wanted:
        hit = _CACHE.get((server, name, version))
        if hit is not None:
            out[name] = hit
        else:
            todo.append((name, version))
    if todo:
        out.update(_read(url, server, todo))
    return out


def _read(url: str, server: str, todo: list[tuple[str, str | None]]) -> dict[str, tuple[ObjRef, ...]]:
    import sqlalchemy as sa

    from alembic_guard.quoting import quote_ident

    scratch = f"alembic_guard_ext_{uuid.uuid4().hex[:12]}"
    out: dict[str, tuple[ObjRef, ...]] = {}
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {quote_ident(scratch)}")
    except sa.exc.DBAPIError as exc:
        log.info("extension objects: no scratch database on %s (%s)", server, type(exc.orig).__name__)
        admin.dispose()
        return out
    try:
        engine = sa.create_engine(
            sa.engine.make_url(url).set(database=scratch),
            isolation_level="AUTOCOMMIT",
            poolclass=sa.pool.NullPool,
        )
        try:
            with engine.connect() as conn:
                for name, version in todo:
                    version_sql = f" VERSION {quote_ident(version)}" if version else ""
                    try:
                        conn.exec_driver_sql(
                            f"CREATE EXTENSION IF NOT EXISTS {quote_ident(name)}{version_sql} CASCADE"
                        )
                    except sa.exc.DBAPIError as exc:
                        log.info(
                            "extension objects: %s cannot be created on %s (%s)",
                            name,
                            server,
                            type(exc.orig).__name__,
                        )
                        continue
                    rows = conn.execute(sa.text(_MEMBERS), {"name": name}).all()
                    refs = tuple(
                        sorted({ObjRef(kind, "" if own else schema, obj) for kind, schema, obj, own in rows})
                    )
                    _CACHE[(server, name, version)] = refs
                    out[name] = refs
        finally:
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote_ident(scratch)} WITH (FORCE)")
        admin.dispose()
    return out
