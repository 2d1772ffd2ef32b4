"""The expected schema: what the revisions leave behind, read two ways.

Best: a scratch database (``<db>_guard_scratch_<pid>``) created next to the
real one, upgraded to head by the project's own ``env.py``, snapshotted and
dropped.  Both sides of the comparison are then ``pg_catalog`` snapshots, so
defaults, CHECK expressions and view bodies compare exactly, and the full
definitions of functions and triggers (``pg_get_functiondef``,
``pg_get_triggerdef``) are at hand for repair.  This needs a role allowed to
``CREATE DATABASE``.

Otherwise: the revisions are rendered offline (``--sql``), analysed and
replayed into a model (:func:`alembic_guard.changes.replay`).  Expressions are
then source text, so they are not compared, and functions and triggers cannot
be recreated.

The edge: creates and drops a database, runs ``alembic upgrade head`` on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, make_url

from alembic_guard.dburl import create_engine
from alembic_guard.errors import ConnectionFailed, UsageError
from alembic_guard.model import DEFAULT_SCHEMA, ObjRef, SchemaModel
from alembic_guard.quoting import quote_ident
from alembic_guard.redact import error_line, mask_url, scrub
from alembic_guard.search_path import search_path

log = logging.getLogger("alembic_guard")

Method = Literal["scratch-database", "replay"]

_FUNCTION_DEFS = sa.text(
    """
SELECT n.nspname AS schema, p.proname AS name, pg_catalog.pg_get_functiondef(p.oid) AS def
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY (CAST(:schemas AS text[])) AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1, 2, pg_catalog.pg_get_function_identity_arguments(p.oid)
"""
)
_TRIGGER_DEFS = sa.text(
    """
SELECT n.nspname AS schema, c.relname AS tname, t.tgname AS name, pg_catalog.pg_get_triggerdef(t.oid) AS def
FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND n.nspname = ANY (CAST(:schemas AS text[]))
"""
)


@dataclass
class Expected:
    """The expected model, how it was obtained, and definitions the model does not hold."""

    model: SchemaModel
    method: Method
    definitions: dict[ObjRef, str] = field(default_factory=dict)

    @property
    def catalog(self) -> bool:
        """Both sides of a comparison with this model are catalog snapshots: compare expressions."""
        return self.method == "scratch-database"


def expected_model(config: Any, connection_url: str) -> tuple[SchemaModel, str]:
    """``(model, method)``: see :func:`expected_schema`."""
    e = expected_schema(config, connection_url)
    return e.model, e.method


def expected_schema(
    config: Any,
    connection_url: str,
    *,
    scratch: bool | None = None,
    targets: tuple[str, ...] | None = None,
) -> Expected:
    """The schema the revisions of ``config`` leave at ``targets``.

    ``targets=None``: the revisions the database at ``connection_url`` is at
    (its ``alembic_version`` rows), or ``head`` when it has none — so
    revisions still pending are not mistaken for drift.  ``scratch=None``: a
    scratch database when the role may create one, else replay; ``True`` /
    ``False`` force one method.  Creates and drops the scratch database; the
    real database is only read.
    """
    url = make_url(connection_url)
    if targets is None:
        targets = current_revisions(url) or ("head",)
    if scratch is None:
        scratch = _may_create_database(url)
    if scratch:
        return _from_scratch_database(config, url, targets)
    return Expected(_replayed(config, targets), "replay")


def current_revisions(
    url: URL, version_table: str = "alembic_version", version_table_schema: str | None = None
) -> tuple[str, ...]:
    """The revisions in the database's version table; ``()`` when there is none (read-only).

    Alembic's own reader, so the table name and schema are quoted and found
    exactly as ``alembic upgrade`` finds them.
    """
    from alembic.runtime.migration import MigrationContext

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            mc = MigrationContext.configure(
                conn, opts={"version_table": version_table, "version_table_schema": version_table_schema}
            )
            return tuple(sorted(mc.get_current_heads()))
    except sa.exc.DBAPIError as exc:
        raise _connection_failed(url, exc) from None
    finally:
        engine.dispose()


def scratch_name(database: str, pid: int | None = None) -> str:
    """``<db>_guard_scratch_<pid>``, cut so it fits PostgreSQL's 63 bytes."""
    suffix = f"_guard_scratch_{os.getpid() if pid is None else pid}"
    return database[: 63 - len(suffix)] + suffix


def _engine(url: URL) -> sa.Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


def _may_create_database(url: URL) -> bool:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.exec_driver_sql(
                    "SELECT rolcreatedb OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user"
                ).scalar()
            )
    except sa.exc.DBAPIError as exc:
        raise _connection_failed(url, exc) from None
    finally:
        engine.dispose()


def _connection_failed(url: URL, exc: sa.exc.DBAPIError) -> ConnectionFailed:
    return ConnectionFailed(
        f"cannot connect to {mask_url(url)}: {error_line(exc, known=url)}",
        hint="check DATABASE_URL / sqlalchemy.url / --database, that the server runs, and the credentials",
    )


@contextlib.contextmanager
def scratch_database(url: URL) -> Iterator[URL]:
    """A fresh database next to ``url``'s, dropped afterwards (even after an error).

    Its sessions resolve unqualified names as the run's
    :func:`~alembic_guard.search_path.search_path` (a role's setting ``IN
    DATABASE`` does not follow it there): the schemas of a path other than
    ``public`` are created in it and set as its ``search_path``.
    """
    name = scratch_name(url.database or "postgres")
    engine = _engine(url)
    quoted = quote_ident(name)
    scratch = url.set(database=name)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")  # left by a killed run of this pid
            conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise _connection_failed(url, exc) from None
    try:
        _resolve_as_the_run(scratch, quoted)
        yield scratch
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        engine.dispose()


def _resolve_as_the_run(scratch: URL, quoted: str) -> None:
    """Give the scratch database the run's search path (and its schemas) when it is not ``public``."""
    path = search_path()
    if path == (DEFAULT_SCHEMA,):
        return
    engine = _engine(scratch)
    try:
        with engine.connect() as conn:
            for schema in path:
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
            listed = ", ".join(quote_ident(s) for s in path)
            conn.exec_driver_sql(f"ALTER DATABASE {quoted} SET search_path = {listed}")
    finally:
        engine.dispose()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """INFO logs off while the scratch database is upgraded.

    Its ``Running upgrade ...`` lines would read as if the user's database
    were being upgraded.  ``logging.disable`` because env.py's ``fileConfig``
    resets every logger's level, but not this process-wide threshold.
    """
    previous = logging.root.manager.disable
    logging.disable(max(previous, logging.INFO))
    try:
        yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def _pointed_at(config: Any, url: URL) -> Iterator[None]:
    """``DATABASE_URL`` and ``sqlalchemy.url`` set to ``url`` while the block runs."""
    text = url.render_as_string(hide_password=False)
    old_env = os.environ.get("DATABASE_URL")
    old_opt = config.get_main_option("sqlalchemy.url")
    os.environ["DATABASE_URL"] = text
    config.set_main_option("sqlalchemy.url", text.replace("%", "%%"))
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = old_env
        if old_opt is not None:
            config.set_main_option("sqlalchemy.url", old_opt.replace("%", "%%"))


def _from_scratch_database(config: Any, url: URL, targets: tuple[str, ...]) -> Expected:
    from alembic import command
    from alembic_guard.live.snapshot import BOOKKEEPING_TABLES, snapshot

    with scratch_database(url) as scratch:
        log.info("upgrading the scratch database %s to %s ...", scratch.database, ", ".join(targets))
        with _pointed_at(config, scratch), _quiet():
            try:
                for target in targets:
                    command.upgrade(config, target)
            except Exception as exc:
                why = scrub(str(exc), known=url)
                raise UsageError(
                    f"the revisions do not upgrade an empty scratch database to head: {why}",
                    hint="fix the failing revision (try `alembic upgrade head` on an empty database), "
                    "or run guard-repair with --replay",
                ) from exc
        engine = create_engine(scratch)
        try:
            with engine.connect() as conn:
                model = snapshot(conn, exclude=BOOKKEEPING_TABLES)
                definitions = _definitions(conn, sorted(model.schemas))
        finally:
            engine.dispose()
    return Expected(model, "scratch-database", definitions)


def _definitions(conn: Connection, schemas: list[str]) -> dict[ObjRef, str]:
    """Full ``CREATE`` statements of functions and triggers (read-only)."""
    out: dict[ObjRef, str] = {}
    for row in conn.execute(_FUNCTION_DEFS, {"schemas": schemas}).mappings():
        # overloads share one model key: keep the first, as the snapshot does
        out.setdefault(ObjRef("function", row["schema"], row["name"]), row["def"])
    for row in conn.execute(_TRIGGER_DEFS, {"schemas": schemas}).mappings():
        out[ObjRef("trigger", row["schema"], row["name"], row["tname"])] = row["def"]
    conn.rollback()
    return out


def _replayed(config: Any, targets: tuple[str, ...]) -> SchemaModel:
    """The revisions base → ``targets`` rendered offline, analysed and replayed (no database)."""
    from alembic.script import ScriptDirectory

    from alembic_guard.changes import replay
    from alembic_guard.runtime.preflight import analyze, render_revision_sql

    try:
        script = ScriptDirectory.from_config(config)
    except Exception as exc:
        raise UsageError(
            f"cannot read the migration scripts: {exc}", hint="check script_location in alembic.ini"
        )
    analyzed: list[Any] = []
    for sc in reversed(list(script.iterate_revisions(targets, "base"))):
        sql = render_revision_sql(sc.module.upgrade)
        stmts = analyze(sql, sc.path) if sql is not None else None
        if stmts is None:
            raise UsageError(
                f"revision {sc.revision} ({sc.path}) cannot be rendered offline and analysed, so the "
                "expected schema cannot be replayed",
                hint="connect as a role that may CREATE DATABASE so a scratch database can be used instead",
            )
        analyzed.extend(stmts)
    return replay(analyzed)
