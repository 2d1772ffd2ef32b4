"""Every Alembic part alembic_guard relies on beyond Alembic's public API, in one place.

Everything else goes through what Alembic documents: the plugin entry point
(``alembic.plugins``, ``setup(plugin)``, ``plugin.add_autogenerate_comparator``),
``CommandLine.register_command`` / ``main`` / ``run_cmd`` and ``CommandLine.parser``
(Alembic's "custom command line" recipe), ``context.configure(...)`` options
(``on_version_apply``, ``transaction_per_migration``, ``process_revision_directives``),
``context.begin_transaction()``, ``MigrationContext.autocommit_block()``,
``Operations.implementation_for(..., replace=True)``, ``command.*`` and ``ScriptDirectory``.

Five needs have no public API in Alembic 1.x.  Each is met here and nowhere
else, and ``tests/integration/test_alembic_internals.py`` checks on every run that the
installed Alembic is within the tested range pinned in ``setup.cfg``
(``install_requires``: ``alembic>=1.18,<1.21``) and that each part below still
exists and behaves as relied on, so an Alembic release that changes one fails
in CI, not at a user's start-up.  docs/install.md, "Alembic versions", says the
same for users.

1. **Subcommands of the stock ``alembic`` executable** (sqlalchemy/alembic#1610: no
   hook).  A plugin's ``setup()`` runs *during* ``import alembic``, before
   ``alembic.config`` can be imported (a circular import), and the executable
   builds its ``CommandLine`` inside ``alembic.config.main``.  So
   :func:`when_config_imported` puts a one-shot finder on ``sys.meta_path`` (a
   public Python hook) that calls back once ``alembic.config`` has loaded; the
   callback wraps the *public* methods ``CommandLine.main`` (to register the
   ``guard-*`` commands with the public ``register_command`` before the command
   line is parsed) and ``CommandLine.run_cmd`` (one ``FAILED:`` line instead of a
   traceback).  The private part: the options of a registered command are added
   to the subparser ``register_command`` created, found through the
   undocumented attribute ``CommandLine.subparsers`` (:func:`subcommand_parser`,
   :func:`command_names`) — ``register_command`` gives a flag only to keyword
   names in the private ``CommandLine._KWARGS_OPTS``.
2. **Whether Alembic began the revision's transaction**
   (:func:`alembic_transaction_open`: ``MigrationContext._transaction``).
   ``autocommit_block()`` commits that transaction (and asserts it exists); a
   connection handed in inside the caller's own transaction has none, and
   ``Connection.in_transaction()`` cannot tell the two apart.
3. **Whether the running command is ``alembic upgrade``** (:func:`is_upgrade_command`:
   the migration function ``command.upgrade`` passes in ``context_opts["fn"]``
   is its local ``upgrade``).  The runtime lets a replica whose database is
   already at the upgrade's target skip the lock; ``downgrade`` and ``stamp``
   hand the same options to ``env.py`` and must not be short-cut that way.
4. **A nested ``Operations.context``** (:func:`keeping_op_proxy`: the module
   proxy ``alembic.op._proxy`` and its ``_install_proxy()``).  Pre-flight and
   guard-check render a revision offline *while* an online run (or nothing) owns
   ``op``; ``Operations.context()`` removes the global proxy on exit instead of
   restoring the outer one, so the outer one is put back by hand.
   The same for ``alembic.context``: :func:`environment_context` reaches the
   ``EnvironmentContext`` behind the module proxy (``alembic.context._proxy``),
   whose ``context_opts``, ``config`` and ``script`` the runtime reads.
5. **Chaining a replaced operation implementation** (:func:`current_implementation`:
   ``Operations._to_impl.dispatch``).  ``implementation_for(..., replace=True)``
   does not return the implementation it replaces; a guarded op calls the
   original wherever the environment did not ask for guards (``--sql``, a plain
   env.py).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

CONFIG_MODULE = "alembic.config"

UPGRADE_FN_QUALNAME = "upgrade.<locals>.upgrade"
"""``__qualname__`` of the migration function ``alembic.command.upgrade`` gives ``env.py``."""


# -- 1. the stock ``alembic`` executable ------------------------------------------------------------


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader, then: Callable[[ModuleType], None]) -> None:
        self._inner, self._then = inner, then

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        with contextlib.suppress(Exception):  # never break Alembic's own CLI
            self._then(module)


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps the loader of ``alembic.config`` once, then steps aside."""

    def __init__(self, then: Callable[[ModuleType], None]) -> None:
        self._then = then

    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != CONFIG_MODULE:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        try:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        except Exception:
            return None
        if spec is None or spec.loader is None:
            return None
        spec.loader = _Loader(spec.loader, self._then)
        return spec


def when_config_imported(then: Callable[[ModuleType], None]) -> None:
    """Call ``then(alembic.config)`` now if it is loaded, else as soon as it is.  Never raises."""
    try:
        module = sys.modules.get(CONFIG_MODULE)
        if module is not None and hasattr(module, "CommandLine"):
            then(module)
        elif not any(isinstance(f, _Finder) for f in sys.meta_path):
            sys.meta_path.insert(0, _Finder(then))
    except Exception:  # at worst the subcommands are missing; Alembic itself still works
        pass


def command_names(cli: Any) -> frozenset[str]:
    """The subcommands a ``CommandLine`` offers so far."""
    return frozenset(cli.subparsers.choices)


def subcommand_parser(cli: Any, name: str) -> Any:
    """The ``argparse`` parser of the subcommand ``name`` (after ``register_command``)."""
    return cli.subparsers.choices[name]


# -- 2. the revision's transaction ------------------------------------------------------------------


def alembic_transaction_open(mc: Any) -> bool:
    """Is the transaction Alembic began (``begin_transaction``) open on ``mc``?

    False inside ``autocommit_block()`` (Alembic committed it) and for a
    connection that came in the caller's own transaction.
    """
    return getattr(mc, "_transaction", None) is not None


# -- 3. the command ---------------------------------------------------------------------------------


def is_upgrade_command(fn: Any) -> bool:
    """Is ``fn`` (``EnvironmentContext.context_opts["fn"]``) the one ``alembic.command.upgrade`` passes?"""
    return getattr(fn, "__qualname__", "") == UPGRADE_FN_QUALNAME


# -- 4. module proxies ------------------------------------------------------------------------------


def environment_context(context: Any) -> Any:
    """The ``EnvironmentContext`` behind ``alembic.context`` (or ``context`` itself when it is one)."""
    return getattr(context, "_proxy", None) or context


@contextlib.contextmanager
def keeping_op_proxy() -> Iterator[None]:
    """Around a nested ``Operations.context(...)``: the outer ``op`` proxy is in place again after it."""
    from alembic import op as op_module

    outer = getattr(op_module, "_proxy", None)
    try:
        yield
    finally:
        if outer is not None:
            outer._install_proxy()


# -- 5. operation implementations -------------------------------------------------------------------


def current_implementation(op_cls: type) -> Callable[[Any, Any], Any]:
    """The implementation ``Operations`` dispatches ``op_cls`` to now (Alembic's, or a replacement)."""
    from alembic.operations import Operations

    impl: Callable[[Any, Any], Any] = Operations._to_impl.dispatch(op_cls)
    return impl
