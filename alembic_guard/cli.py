"""The command line: ``alembic guard-*`` subcommands and ``python -m alembic_guard``.

Each command is one module in :mod:`alembic_guard.commands` exposing
``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(config, args) -> int``.  This module registers them with Alembic's
``CommandLine`` (through the plugin) and turns :class:`GuardError` into one
line on stderr plus the error's exit code: 2 for usage, configuration and
connection errors, 1 for problems found, 3 for an unexpected internal error
(a bug: never confused with "problems found" in CI).  ``--raiseerr`` shows
the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Protocol

from alembic_guard.errors import GuardError, UsageError
from alembic_guard.redact import error_line, scrub
from alembic_guard.revision_files import graph_warnings_as_errors

INTERNAL_ERROR = 3
"""Exit code of an unexpected exception (a bug), distinct from 1 = problems found."""

COMMAND_MODULES = (
    "alembic_guard.commands.plan",
    "alembic_guard.commands.init",
    "alembic_guard.commands.status",
    "alembic_guard.commands.import_sql",
    "alembic_guard.commands.adopt",
    "alembic_guard.commands.check",
    "alembic_guard.commands.repair",
)


class CommandModule(Protocol):
    NAME: str
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, config: Any, args: argparse.Namespace) -> int: ...


def _commands() -> list[CommandModule]:
    mods: list[CommandModule] = []
    for name in COMMAND_MODULES:
        try:
            mods.append(importlib.import_module(name))
        except Exception as exc:
            # One broken command must not take the others (or Alembic's own
            # commands) down with it, but it must not vanish silently either.
            print(
                f"alembic_guard: command module {name} could not be loaded: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
    return mods


def _runner(mod: CommandModule) -> Callable[[Any], None]:
    def run(config: Any) -> None:
        args = config.cmd_opts
        code = execute(mod, config, args, raiseerr=bool(getattr(args, "raiseerr", False)))
        if code:
            sys.exit(code)

    run.__name__ = mod.NAME
    run.__doc__ = mod.HELP
    return run


def execute(mod: CommandModule, config: Any, args: argparse.Namespace, *, raiseerr: bool = False) -> int:
    """Run one command; map errors to (message on stderr, exit code)."""
    try:
        with graph_warnings_as_errors():
            code = int(mod.run(config, args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        return _pipe_closed()
    except GuardError as exc:
        if raiseerr:
            raise
        print(f"FAILED: {scrub(exc.render(), known=_url_of(config, args))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("FAILED: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an unexpected environment problem
        if raiseerr:
            raise
        translated = explain_failure(exc, config)
        if translated is not None:
            print(f"FAILED: {scrub(translated.render(), known=_url_of(config, args))}", file=sys.stderr)
            return translated.exit_code
        print(
            f"FAILED: {type(exc).__name__}: {scrub(str(exc), known=_url_of(config, args)).strip()}\n"
            "  hint: run again with --raiseerr for the traceback and report it if it is a bug",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


SIGPIPE_EXIT = 141
"""Exit code when the reader of our output went away (``| head``): 128 + SIGPIPE, as Unix tools."""


def _pipe_closed() -> int:
    """The reader closed stdout (``guard-status | head``): stop quietly, as Unix tools do.

    Whatever is still buffered can never be written; pointing stdout at /dev/null
    keeps the interpreter's final flush from printing a BrokenPipeError of its own.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (captured in-process)
        pass
    return SIGPIPE_EXIT


def explain_failure(exc: BaseException, config: Any) -> GuardError | None:
    """A failure a user can fix, as one clear :class:`GuardError`; ``None`` for what may be a bug.

    In order: configuration that cannot be read (``alembic.ini`` with a
    duplicate section or key, a ``pyproject.toml`` that is not TOML, bytes that
    are not UTF-8, a bad ``ALEMBIC_GUARD_*`` value: what
    :func:`alembic_guard.runtime.config.load_settings` refuses), a broken
    revision file (:func:`alembic_guard.revision_files.diagnose` reads them as
    text), a database / driver error (:func:`translate_exception`).  Read-only.
    """
    import configparser

    if isinstance(exc, GuardError):
        return exc
    if config is not None:
        from alembic_guard.runtime.config import load_settings

        try:
            load_settings(ini_path=getattr(config, "config_file_name", None))
        except UsageError as unreadable:
            return unreadable
        except Exception:  # not ours to explain
            pass
    if isinstance(exc, configparser.Error):
        path = getattr(config, "config_file_name", None) or "alembic.ini"
        return UsageError(f"{path}: {' '.join(str(exc).split())}", hint="fix the file")
    if config is not None:
        from alembic_guard.revision_files import diagnose

        broken = diagnose(config)
        if broken is not None:
            return broken
    return translate_exception(exc)


def translate_exception(exc: BaseException) -> GuardError | None:
    """Database / driver errors a user can meet → one clear GuardError, else None."""
    try:
        from sqlalchemy import exc as sa_exc
    except ImportError:  # pragma: no cover
        return None
    from alembic_guard.errors import ConnectionFailed, PrivilegeMissing, privilege_needed
    from alembic_guard.runtime.runner.results import sqlstate_of

    if isinstance(exc, sa_exc.DBAPIError) and sqlstate_of(exc) == "42501":
        first = error_line(exc)
        statement = str(exc.statement or "")
        needed = privilege_needed(first, statement)
        return PrivilegeMissing(
            f"the database role lacks {needed}: {first}",
            hint=f"grant it (GRANT ... TO the role in the URL), or run as a role that has it; the ledger "
            f"and version table go where env.py's version_table_schema points (else the role's current "
            f"schema). Statement: {' '.join(statement.split())[:120]}",
        )
    if isinstance(exc, sa_exc.ArgumentError):
        return UsageError(f"bad database URL: {exc}", hint="use postgresql://user:password@host:port/dbname")
    if isinstance(exc, sa_exc.OperationalError) and getattr(exc, "connection_invalidated", False) is False:
        first = error_line(exc)
        if "connect" in first.lower() or "password" in first.lower() or "does not exist" in first.lower():
            return ConnectionFailed(
                f"cannot connect to the database: {first}",
                hint="check DATABASE_URL / sqlalchemy.url, that the server runs, and the credentials",
            )
    return None


def install_into_alembic(config_module: ModuleType) -> None:
    """Make Alembic's ``CommandLine`` offer our commands and print our errors as one line.

    Wraps two public methods of Alembic's command line (its "custom command
    line" recipe uses both): ``main``, to register the ``guard-*`` commands with
    ``register_command`` before the command line is parsed, and ``run_cmd``. Why
    the stock ``alembic`` executable needs this at all, and the one private part
    it touches: :mod:`alembic_guard.alembic_internals`.
    """
    cls = config_module.CommandLine
    if getattr(cls, "_alembic_guard_installed", False):
        return
    original_main = cls.main
    original_run_cmd = cls.run_cmd

    def main(self: Any, argv: Sequence[str] | None = None) -> None:
        with contextlib.suppress(Exception):  # never break Alembic's own commands
            if needs_our_commands(self, sys.argv[1:] if argv is None else argv):
                add_subcommands(self)
        original_main(self, argv)

    def run_cmd(self: Any, config: Any, options: argparse.Namespace) -> None:
        # A guard refusing inside Alembic's own commands (upgrade, stamp...):
        # one line and our exit code, like our commands, not a traceback.
        try:
            with graph_warnings_as_errors():
                original_run_cmd(self, config, options)
        except GuardError as exc:
            if getattr(options, "raiseerr", False):
                raise
            print(f"FAILED: {scrub(exc.render(), known=_url_of(config, options))}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except Exception as exc:
            # a broken revision file or alembic.ini, a database error a user can meet (explain_failure
            # ends with translate_exception): one line, not a traceback
            problem = None if getattr(options, "raiseerr", False) else explain_failure(exc, config)
            if problem is None:
                raise
            print(f"FAILED: {scrub(problem.render(), known=_url_of(config, options))}", file=sys.stderr)
            sys.exit(problem.exit_code)

    cls.main = main
    cls.run_cmd = run_cmd
    cls._alembic_guard_installed = True
    cls._alembic_guard_wrapped = {"main": original_main, "run_cmd": original_run_cmd}  # for the pin test


def needs_our_commands(cli: Any, argv: Sequence[str]) -> bool:
    """Does this command line need our subcommands (and so the import of their modules)?

    Importing the command modules (and through them the SQL analyzer, pglast
    and the importer) costs about 0.1 s of CPU.  ``alembic upgrade head``, run
    by every replica of a service at start-up, needs none of it: a command line
    naming one of Alembic's own commands and no ``guard-*`` word skips it.
    Anything else (``--help``, no command, a typo) gets the full list.
    """
    from alembic_guard.alembic_internals import command_names

    own = command_names(cli)
    words = [str(a) for a in argv]
    return not (any(a in own for a in words) and not any(a.startswith("guard-") for a in words))


def add_subcommands(cli: Any) -> None:
    """Register every command module with ``cli`` (an Alembic ``CommandLine``), once."""
    from alembic_guard.alembic_internals import command_names, subcommand_parser

    for mod in _commands():
        if mod.NAME in command_names(cli):
            continue
        # register_command names the subcommand after the function and reads the help from its
        # docstring; the function takes only the config (Alembic's run_cmd calls fn(config)), and
        # reads its arguments from config.cmd_opts, added to the parser register_command created
        cli.register_command(_runner(mod))
        parser = subcommand_parser(cli, mod.NAME)
        parser.description = mod.HELP
        mod.add_arguments(parser)


DISTRIBUTION = "alembic-pg-guard"
"""The name on the package index (``pip install alembic-pg-guard``); the import package: ``alembic_guard``."""


def program_name(argv0: str | None = None) -> str:
    """How the user called us: ``alembic-guard`` (the console script) or ``python -m alembic_guard``."""
    name = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    return "python -m alembic_guard" if name in ("__main__.py", "", "-c") else name


def version_line(prog: str) -> str:
    """``--version``: our name and version first, then the Alembic it runs on."""
    import alembic
    from alembic_guard import __version__

    return f"{prog} {__version__} ({DISTRIBUTION}; alembic {alembic.__version__})"


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    """``python -m alembic_guard`` / ``alembic-guard``: Alembic's CLI with our commands."""
    import alembic.config

    install_into_alembic(alembic.config)
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = prog or program_name()
    # Alembic's own --version prints Alembic's version under our program name
    if "--version" in argv:
        print(version_line(prog))
        return
    try:
        alembic.config.main(argv=argv, prog=prog)
    except GuardError as exc:
        if "--raiseerr" in argv:
            raise
        print(f"FAILED: {scrub(exc.render())}", file=sys.stderr)
        sys.exit(exc.exit_code)


def _url_of(config: Any, args: Any) -> str | None:
    """The URL a command connects to, so an error message can be scrubbed of its literal secrets."""
    try:
        return database_url(config, getattr(args, "database", None))
    except Exception:  # an error message must still be printed
        return None


def database_url(config: Any, explicit: str | None = None) -> str | None:
    """``--database`` wins, then ``DATABASE_URL``, then ``sqlalchemy.url``; normalised.

    The URL is checked and given its driver here (:func:`alembic_guard.dburl.normalize_url`),
    so a ``mysql://`` URL or a missing driver is a usage error before anything runs.
    """
    from alembic_guard.dburl import normalize_url

    url = explicit or os.environ.get("DATABASE_URL")
    if not url:
        try:
            url = config.get_main_option("sqlalchemy.url")
        except Exception:
            return None
    return normalize_url(url) if url else None
