"""Alembic plugin entry point (``alembic.plugins``).

``setup()`` runs *during* ``import alembic``: importing ``alembic.config`` or
``alembic.command`` here would be a circular import, and any exception would
break ``import alembic`` for every project in the environment.  So it only
installs a tiny import hook; when ``alembic.config`` has finished loading,
the hook wraps ``CommandLine._generate_args`` so the stock ``alembic``
executable also offers the ``guard-*`` subcommands.  Every step swallows its
own errors: at worst the subcommands are missing, Alembic itself still works.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

_TARGET = "alembic.config"


def _patch_config_module(module: ModuleType) -> None:
    try:
        from alembic_guard.cli import install_into_alembic

        install_into_alembic(module)
    except Exception:  # never break Alembic's own CLI
        pass


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        _patch_config_module(module)


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps the loader of ``alembic.config`` once, then steps aside."""

    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TARGET:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        try:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        except Exception:
            return None
        if spec is None or spec.loader is None:
            return None
        spec.loader = _Loader(spec.loader)
        return spec


def setup(plugin: Any) -> None:
    """Called by Alembic with its ``Plugin`` object; must never raise."""
    try:
        module = sys.modules.get(_TARGET)
        if module is not None and hasattr(module, "CommandLine"):
            _patch_config_module(module)
        elif not any(isinstance(f, _Finder) for f in sys.meta_path):
            sys.meta_path.insert(0, _Finder())
    except Exception:
        pass
    with contextlib.suppress(Exception):  # autogenerate comparators (INVALID / NOT VALID); see autogen.py
        __import__("alembic_guard.autogen", fromlist=["setup"]).setup(plugin)
