"""Alembic plugin entry point (``alembic.plugins``).

``setup()`` runs *during* ``import alembic``: importing ``alembic.config`` or
``alembic.command`` here would be a circular import, and any exception would
break ``import alembic`` for every project in the environment.  So it only
asks to be called back once ``alembic.config`` has loaded
(:func:`alembic_guard.alembic_internals.when_config_imported`, which says why
that takes an import hook); the callback makes the stock ``alembic``
executable offer the ``guard-*`` subcommands
(:func:`alembic_guard.cli.install_into_alembic`).  Every step swallows its own
errors: at worst the subcommands are missing, Alembic itself still works.
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any


def _install(config_module: ModuleType) -> None:
    try:
        from alembic_guard.cli import install_into_alembic

        install_into_alembic(config_module)
    except Exception:  # never break Alembic's own CLI
        pass


def setup(plugin: Any) -> None:
    """Called by Alembic with its ``Plugin`` object; must never raise."""
    with contextlib.suppress(Exception):
        from alembic_guard.alembic_internals import when_config_imported

        when_config_imported(_install)
    with contextlib.suppress(Exception):  # autogenerate comparators (INVALID / NOT VALID); see autogen.py
        __import__("alembic_guard.autogen", fromlist=["setup"]).setup(plugin)
