"""Database URLs: one normalisation and one engine factory for every command, the runtime and env.py.

What users put in ``DATABASE_URL`` / ``sqlalchemy.url`` is normalised once,
here, wherever alembic_guard connects (the ``guard-*`` commands, the guarded
``env.py`` through :func:`alembic_guard.runtime.run_migrations`,
``upgrade_on_startup``, the snapshot, lock and ledger):

- ``postgres://`` (what many hosting platforms hand out) becomes
  ``postgresql://``; SQLAlchemy rejects the short form.
- A bare ``postgresql://`` gets the driver that is installed: **psycopg 3**
  when it can be imported, else **psycopg2**.  SQLAlchemy 2.1 maps a bare URL
  to psycopg 3 and 2.0 to psycopg2, so without this a bare URL works only when
  the one SQLAlchemy picks happens to be installed.
- ``postgresql+psycopg://`` and ``postgresql+psycopg2://`` are kept as written.
- Any other dialect (``mysql://``, ``sqlite://``) or driver (``asyncpg``,
  ``pg8000``), an unparsable URL or a driver that is not installed is a
  :class:`UsageError` (exit 2) naming the masked URL and what to do.

:func:`create_engine` also turns a failure to connect — closed port, unknown
host, missing database, wrong password — into one :class:`ConnectionFailed`
(exit 2) with the masked URL and a hint matched to the cause.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from alembic_guard.errors import ConnectionFailed, UsageError
from alembic_guard.redact import error_line, mask_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

DRIVERS = ("psycopg", "psycopg2")
"""The supported DBAPI drivers, in the order a bare ``postgresql://`` URL tries them."""

_INSTALL = {"psycopg": "pip install 'psycopg[binary]'", "psycopg2": "pip install psycopg2-binary"}
_URL_FORM = "postgresql://user@host:port/dbname (a password goes after the user: user:password@)"


@functools.cache
def driver_installed(driver: str) -> bool:
    """Whether the DBAPI module ``driver`` can be imported (cached: checked once per process)."""
    try:
        importlib.import_module(driver)
    except Exception:  # not installed, psycopg without a libpq to load, a broken installation
        return False
    return True


def installed_driver() -> str | None:
    """The driver a bare ``postgresql://`` URL uses: the first of :data:`DRIVERS` that imports."""
    return next((d for d in DRIVERS if driver_installed(d)), None)


def _parse(url: str | URL) -> URL:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise UsageError(
            f"bad database URL {mask_url(str(url))!r}: it cannot be parsed", hint=f"write it as {_URL_FORM}"
        ) from None


def normalize_url(url: str | URL, *, need_driver: bool = True) -> str:
    """``url`` as alembic_guard connects with it: ``postgresql+<driver>://...`` (password kept).

    ``need_driver=False`` (offline ``--sql`` rendering, which needs the
    dialect but no connection) leaves a bare URL bare and does not require an
    installed driver.  Raises :class:`UsageError` for anything but a PostgreSQL
    URL with a supported, installed driver.  Pure apart from importing drivers.
    """
    parsed = _parse(url)
    shown = mask_url(parsed)
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend != "postgresql":
        raise UsageError(
            f"{shown}: alembic_guard migrates PostgreSQL only, not {backend!r}",
            hint=f"point DATABASE_URL / sqlalchemy.url at a PostgreSQL database: {_URL_FORM}",
        )
    if driver and driver not in DRIVERS:
        raise UsageError(
            f"{shown}: the driver {driver!r} is not supported",
            hint="use postgresql+psycopg:// (psycopg 3) or postgresql+psycopg2://, or a bare postgresql://",
        )
    if need_driver:
        if not driver:
            found = installed_driver()
            if found is None:
                raise UsageError(
                    f"{shown}: no PostgreSQL driver is installed (neither psycopg nor psycopg2)",
                    hint=_INSTALL["psycopg"],
                )
            driver = found
        elif not driver_installed(driver):
            other = next((d for d in DRIVERS if d != driver and driver_installed(d)), None)
            also = f", or use postgresql+{other}:// (installed)" if other else ""
            raise UsageError(
                f"{shown}: the driver {driver!r} is not installed", hint=f"{_INSTALL[driver]}{also}"
            )
    name = f"{backend}+{driver}" if driver else backend
    return parsed.set(drivername=name).render_as_string(hide_password=False)


def connection_failed(url: str | URL, exc: BaseException) -> ConnectionFailed:
    """One line for a failure to connect: what failed, the masked URL, what to do."""
    orig = getattr(exc, "orig", None) or exc
    low = str(orig).lower()
    first = error_line(exc, known=url)
    shown = mask_url(url)
    if "password authentication failed" in low or "no password supplied" in low:
        hint = "check the user name and password in the URL (or PGPASSWORD / ~/.pgpass)"
    elif "database" in low and "does not exist" in low:
        hint = "create the database (createdb NAME) or fix the database name in the URL"
    elif "role" in low and "does not exist" in low:
        hint = "check the user name in the URL"
    elif "pg_hba.conf" in low:
        hint = "the server refuses this host/user/database: ask its administrator to allow it in pg_hba.conf"
    elif "translate host name" in low or "name or service not known" in low:
        hint = "check the host name in the URL"
    else:
        hint = "check the host and port in the URL, and that PostgreSQL runs there and accepts connections"
    return ConnectionFailed(f"cannot connect to {shown}: {first}", hint=hint)


def create_engine(url: str | URL, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine for ``url`` after :func:`normalize_url` (``NullPool`` unless given).

    Connecting through it raises :class:`ConnectionFailed` instead of the
    driver's ``OperationalError`` when the connection cannot be opened; errors
    of statements on an open connection are left alone.
    """
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    normalized = normalize_url(url)
    kwargs.setdefault("poolclass", NullPool)
    try:
        engine = sa.create_engine(normalized, **kwargs)
    except ImportError as exc:  # a driver that imported once but not now: be plain about it
        raise UsageError(f"{mask_url(normalized)}: cannot load the driver: {exc}", hint=_INSTALL["psycopg"])
    except sa.exc.ArgumentError as exc:
        raise UsageError(
            f"bad database URL {mask_url(normalized)}: {error_line(exc, known=normalized)}",
            hint=f"write it as {_URL_FORM}",
        )

    def on_error(ctx: Any) -> None:
        # no Connection yet: the DBAPI connect itself failed (refused, auth, missing database)
        if ctx.connection is None and not isinstance(ctx.original_exception, (KeyboardInterrupt, SystemExit)):
            raise connection_failed(normalized, ctx.original_exception) from None

    sa.event.listen(engine, "handle_error", on_error)
    return engine
