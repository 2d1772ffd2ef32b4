"""The ``env.py`` entry: ``run_migrations(context)`` and the autogenerate defaults it applies."""

from __future__ import annotations

import os
from typing import Any

from alembic_guard.dburl import create_engine, normalize_url
from alembic_guard.ops.context import GUARD_OPTION
from alembic_guard.runtime.config import load_settings
from alembic_guard.runtime.log_level import follow_alembic_logger
from alembic_guard.runtime.runner.results import RunResult
from alembic_guard.runtime.runner.run import Runner
from alembic_guard.runtime.runner.session import resolve_url
from alembic_guard.search_path import resolving_in

SETTINGS_ATTR = "alembic_guard.settings"
RESULT_ATTR = "alembic_guard.result"
STARTUP_ATTR = "alembic_guard.startup"  # set by upgrade_on_startup: the application owns logging


AUTOGENERATE_PLUGINS = ("alembic.autogenerate.*", "alembic_guard.*")
"""Alembic's own comparators and alembic_guard's (INVALID indexes, NOT VALID constraints)."""


def _bookkeeping_names() -> frozenset[str]:
    from alembic_guard.runtime.lease import LOCK_TABLE
    from alembic_guard.runtime.ledger import LEDGER_TABLE

    return frozenset({LEDGER_TABLE, f"{LEDGER_TABLE}_id_seq", LOCK_TABLE})


def autogenerate_defaults(configure_kw: dict[str, Any]) -> dict[str, Any]:
    """``configure_kw`` with what autogenerate and ``alembic check`` need next to the ledger.

    Adds ``autogenerate_plugins`` (:data:`AUTOGENERATE_PLUGINS`) unless given,
    and wraps ``include_name`` / ``include_object`` (the user's own, if any, is
    still asked) so that the ledger table ``alembic_guard_log`` and its sequence
    are never compared: it is not in the application's metadata, and without
    this every ``alembic check`` would propose dropping it.  Pure.
    """
    kw = dict(configure_kw)
    kw.setdefault("autogenerate_plugins", list(AUTOGENERATE_PLUGINS))
    hidden = _bookkeeping_names()
    user_name = kw.get("include_name")
    user_object = kw.get("include_object")

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        if name in hidden:
            return False
        return True if user_name is None else bool(user_name(name, type_, parent_names))

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = getattr(obj, "table", None)
        if name in hidden or getattr(table, "name", None) in hidden:
            return False
        return True if user_object is None else bool(user_object(obj, name, type_, reflected, compare_to))

    kw["include_name"] = include_name
    kw["include_object"] = include_object
    return kw


def _offline_guard_context(config: Any) -> Any:
    """The guarded operations' context for ``--sql``: the configured profile's settings, no database."""
    from alembic_guard.ops.context import GuardContext

    settings = config.attributes.get(SETTINGS_ATTR) or load_settings(ini_path=config.config_file_name)
    return GuardContext(settings=settings)


def _no_server_side_prepares(url: str) -> dict[str, Any]:
    """psycopg 3 prepares a statement on the server after 5 executions (the lock's poll is one):
    through a transaction-mode pooler the next execution lands on a backend that never saw it
    (``prepared statement "_pg3_0" does not exist``).  A migration gains nothing from prepares."""
    from sqlalchemy.engine.url import make_url

    return {"prepare_threshold": None} if make_url(url).get_driver_name() == "psycopg" else {}


def run_migrations(context: Any, target_metadata: Any = None, **configure_kw: Any) -> RunResult | None:
    """Run the command's migrations with lock, ledger, pre-flight and guards: the whole ``env.py``.

    ``context`` is ``alembic.context``; extra keywords go to
    ``context.configure`` (e.g. ``version_table_schema``), with the defaults
    of :func:`autogenerate_defaults` (your ``include_name`` / ``include_object``
    are still called; the ledger table is hidden from autogenerate).  Offline mode
    renders SQL (one ``BEGIN``/``COMMIT`` per revision).  Online mode takes the
    migration lock, so it blocks while another run migrates this database.
    """
    # ``alembic.context`` is a module proxy; the EnvironmentContext behind it holds the command's options.
    from alembic_guard.alembic_internals import environment_context

    context = environment_context(context)
    configure_kw = autogenerate_defaults(configure_kw)
    config = context.config
    if not config.attributes.get(STARTUP_ATTR):
        follow_alembic_logger()
    if context.is_offline_mode():
        url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url") or "postgresql://"
        # the guarded operations render what they would send online under the profile
        # (CREATE INDEX CONCURRENTLY in prod, NOT VALID + VALIDATE...), each after an
        # "-- alembic_guard: online: ..." comment saying what they would check first
        guard_ctx = configure_kw.setdefault(GUARD_OPTION, _offline_guard_context(config))
        context.configure(
            url=normalize_url(url, need_driver=False),
            target_metadata=target_metadata,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            transaction_per_migration=True,
            **configure_kw,
        )
        # no session to ask: unqualified names resolve through the declared search_path
        declared = getattr(getattr(guard_ctx, "settings", None), "search_path", None)
        with resolving_in(declared), context.begin_transaction():
            context.run_migrations()
        return None
    settings = config.attributes.get(SETTINGS_ATTR)
    if settings is None:
        settings = load_settings(ini_path=config.config_file_name)
    # direct_url reaches the server itself: the lock and the DDL go there, not through a pooler
    url = normalize_url(settings.direct_url) if settings.direct_url else resolve_url(config)
    engine = create_engine(url, connect_args=_no_server_side_prepares(url))
    try:
        result = Runner(context, engine, settings, target_metadata, dict(configure_kw)).run()
    finally:
        engine.dispose()
    config.attributes[RESULT_ATTR] = result
    return result
