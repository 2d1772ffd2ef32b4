"""The Alembic parts alembic_guard uses beyond the public API still are what it relies on.

Each need and why it has no public answer: alembic_guard/alembic_internals.py.
An Alembic release that renames, removes or changes one fails here, in CI,
instead of at a user's start-up; so does running on an Alembic outside the
range ``setup.cfg`` declares as tested.
"""

from __future__ import annotations

import configparser
import inspect
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.config import CommandLine, Config
from alembic.operations import Operations
from alembic.operations import ops as aops
from alembic.runtime.migration import MigrationContext
from packaging.requirements import Requirement
from packaging.version import Version

import alembic
from alembic import command
from alembic_guard import alembic_internals as internals
from alembic_guard.dburl import create_engine

ROOT = Path(__file__).resolve().parents[2]


def _params(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def test_the_installed_alembic_is_in_the_tested_range() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = [ln.strip() for ln in cfg["options"]["install_requires"].splitlines() if ln.strip()]
    (req,) = [Requirement(ln) for ln in lines if Requirement(ln).name == "alembic"]
    assert any(s.operator == "<" for s in req.specifier), f"{req}: the tested range needs an upper bound"
    assert Version(alembic.__version__) in req.specifier, (
        f"alembic {alembic.__version__} is outside the tested range {req.specifier}: run this file on it, "
        "check alembic_guard/alembic_internals.py, then move the bound in setup.cfg"
    )


def test_command_line_methods_we_wrap_and_register_with() -> None:
    """1. ``CommandLine.main`` / ``run_cmd`` (wrapped, public), ``register_command``, ``subparsers``."""
    assert getattr(CommandLine, "_alembic_guard_installed", False), "the plugin did not install"
    originals = CommandLine._alembic_guard_wrapped  # type: ignore[attr-defined]
    assert _params(originals["main"]) == ["self", "argv"]
    assert _params(originals["run_cmd"]) == ["self", "config", "options"]
    assert _params(CommandLine.register_command) == ["self", "fn"]

    cli = CommandLine(prog="alembic")
    assert {"upgrade", "downgrade", "stamp", "check"} <= internals.command_names(cli)

    def probe(config: object) -> None:
        """Probe help."""

    probe.__name__ = "guard-probe"
    cli.register_command(probe)
    assert "guard-probe" in internals.command_names(cli)
    parser = internals.subcommand_parser(cli, "guard-probe")
    parser.add_argument("--flag", action="store_true")
    options = cli.parser.parse_args(["guard-probe", "--flag"])
    # run_cmd calls fn(config, *positional, **kwargs): nothing but the config for ours
    assert options.cmd == (probe, [], []) and options.flag is True


def test_the_stock_executable_offers_our_commands_only_when_needed() -> None:
    """``alembic upgrade head`` does not import the guard-* command modules (start-up cost)."""
    cli = CommandLine(prog="alembic")
    from alembic_guard.cli import needs_our_commands

    assert not needs_our_commands(cli, ["upgrade", "head"])
    assert needs_our_commands(cli, ["guard-check", "--offline"])
    assert needs_our_commands(cli, ["--help"])
    assert needs_our_commands(cli, [])


@pytest.mark.db
def test_the_alembic_transaction_is_visible(pg_url: str) -> None:
    """2. ``MigrationContext._transaction``: open in ``begin_transaction``, gone in ``autocommit_block``."""
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            mc = MigrationContext.configure(conn)
            assert not internals.alembic_transaction_open(mc)
            with mc.begin_transaction():
                assert internals.alembic_transaction_open(mc)
                with mc.autocommit_block():
                    assert not internals.alembic_transaction_open(mc)
                assert internals.alembic_transaction_open(mc)
            assert not internals.alembic_transaction_open(mc)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")  # the caller's own transaction (autobegun)
            mc = MigrationContext.configure(conn)
            with mc.begin_transaction():
                assert not internals.alembic_transaction_open(mc)
    finally:
        engine.dispose()


ENV_PY = """\
from alembic import context

from alembic_guard.alembic_internals import environment_context, is_upgrade_command

env = environment_context(context)
context.config.attributes["seen"] = (type(env).__name__, is_upgrade_command(env.context_opts.get("fn")))
"""


@pytest.mark.parametrize(
    ("run", "upgrade"),
    [
        (lambda cfg: command.upgrade(cfg, "head"), True),
        (lambda cfg: command.upgrade(cfg, "head", sql=True), True),
        (lambda cfg: command.downgrade(cfg, "base"), False),
        (lambda cfg: command.stamp(cfg, "head"), False),
        (lambda cfg: command.current(cfg), False),
    ],
    ids=["upgrade", "upgrade-sql", "downgrade", "stamp", "current"],
)
def test_env_py_sees_the_environment_context_and_the_command(
    tmp_path: Path, run: Callable[[Config], object], upgrade: bool
) -> None:
    """3. the upgrade command's migration function; 4. ``alembic.context._proxy``."""
    (tmp_path / "versions").mkdir()
    (tmp_path / "env.py").write_text(ENV_PY)
    cfg = Config(stdout=io.StringIO())
    cfg.set_main_option("script_location", str(tmp_path))
    run(cfg)
    assert cfg.attributes["seen"] == ("EnvironmentContext", upgrade)


def test_a_nested_operations_context_keeps_the_outer_op_proxy() -> None:
    """4. ``alembic.op._proxy`` / ``_install_proxy``: Operations.context() removes, we put back."""
    from alembic import op as op_module

    def offline() -> MigrationContext:
        return MigrationContext.configure(
            dialect_name="postgresql", opts={"as_sql": True, "output_buffer": io.StringIO()}
        )

    with Operations.context(offline()) as outer:
        assert op_module._proxy is outer  # type: ignore[attr-defined]
        with internals.keeping_op_proxy(), Operations.context(offline()):
            pass
        assert op_module._proxy is outer  # type: ignore[attr-defined]
        with Operations.context(offline()):
            pass
        # what the workaround is for (if this starts to hold, keeping_op_proxy can go)
        assert op_module._proxy is None  # type: ignore[attr-defined]


def test_the_current_implementation_of_an_op() -> None:
    """5. ``Operations._to_impl.dispatch``: what ``implementation_for(..., replace=True)`` replaces."""

    class ProbeOp(aops.ExecuteSQLOp):
        pass

    assert internals.current_implementation(ProbeOp) is internals.current_implementation(aops.ExecuteSQLOp)

    def probe_impl(operations: object, operation: object) -> None:
        pass

    Operations.implementation_for(ProbeOp)(probe_impl)
    assert internals.current_implementation(ProbeOp) is probe_impl
