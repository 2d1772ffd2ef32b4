"""pytest plugin: a throwaway PostgreSQL, an Alembic runner on it, and standard migration tests.

Installed with alembic_guard (entry point ``pytest11``), so every pytest run
loads it: importing it costs nothing beyond pytest itself, and no server
starts unless a test asks for one of these fixtures.

Fixtures
    ``alembic_guard_server``  (session) the :class:`~alembic_guard.testing.PostgresServer`:
        started on first use, or the one at ``ALEMBIC_GUARD_TEST_URL`` (a superuser URL).
    ``alembic_guard_db``      a fresh, empty database URL per test (dropped after).
    ``alembic_guard_runner``  :class:`AlembicGuardRunner` on that database, with the project's
        Alembic configuration: ``--alembic-guard-config PATH``, else the ini key
        ``alembic_guard_config``, else ``alembic.ini`` (relative to pytest's rootdir).
    ``alembic_guard_metadata`` the application's ``MetaData`` (``None``: not given).  Set the
        ini key ``alembic_guard_metadata = package.module:metadata`` or override the fixture.

Standard tests (``test_alembic_guard_*``): enable them with
``from alembic_guard.pytest_plugin import *`` in a test module, or with the ini
key ``alembic_guard_standard_tests = true`` (collected under
``alembic_guard_tests_path``, default ``tests/conftest.py``).  They check:
a single head; upgrade from empty to head; a second ``upgrade head`` is a
no-op (no DDL); each revision's downgrade/upgrade round trip (revisions whose
downgrade raises ``NotImplementedError`` are skipped, with the reason); the
models match head (autogenerate finds no difference).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import types
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import Script

    from alembic_guard.model import SchemaModel
    from alembic_guard.runtime.runner import RunResult
    from alembic_guard.testing import PostgresServer

__all__ = [
    "test_alembic_guard_models_match_head",
    "test_alembic_guard_roundtrip",
    "test_alembic_guard_single_head",
    "test_alembic_guard_upgrade_from_empty",
    "test_alembic_guard_upgrade_twice_is_noop",
]

_CONFIG_OPTION = "alembic_guard_config"
_METADATA_INI = "alembic_guard_metadata"
_STANDARD_INI = "alembic_guard_standard_tests"
_TESTS_PATH_INI = "alembic_guard_tests_path"
_MARKER = "alembic_guard"
_TEST_URL_VAR = "ALEMBIC_GUARD_TEST_URL"

# Catalog rows a DDL statement creates or rewrites.  A committed DDL gives them
# a new xmin; row inserts (the ledger, alembic_version) and VACUUM/ANALYZE's
# in-place updates do not.  So equal fingerprints mean "no DDL committed".
_CATALOG_FINGERPRINT = """
WITH ns AS (
    SELECT oid FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND nspname NOT LIKE 'pg_temp_%' AND nspname NOT LIKE 'pg_toast_temp_%'
), rows AS (
    SELECT 'ns:' || n.oid || ':' || n.xmin AS r FROM pg_namespace n JOIN ns USING (oid)
    UNION ALL SELECT 'class:' || c.oid || ':' || c.xmin FROM pg_class c JOIN ns ON c.relnamespace = ns.oid
    UNION ALL SELECT 'att:' || a.attrelid || '.' || a.attnum || ':' || a.xmin
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN ns ON c.relnamespace = ns.oid
    UNION ALL SELECT 'con:' || k.oid || ':' || k.xmin FROM pg_constraint k JOIN ns ON k.connamespace = ns.oid
    UNION ALL SELECT 'idx:' || i.indexrelid || ':' || i.xmin
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN ns ON c.relnamespace = ns.oid
    UNION ALL SELECT 'proc:' || p.oid || ':' || p.xmin FROM pg_proc p JOIN ns ON p.pronamespace = ns.oid
    UNION ALL SELECT 'type:' || t.oid || ':' || t.xmin FROM pg_type t JOIN ns ON t.typnamespace = ns.oid
    UNION ALL SELECT 'trg:' || g.oid || ':' || g.xmin
        FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN ns ON c.relnamespace = ns.oid
    UNION ALL SELECT 'def:' || d.oid || ':' || d.xmin
        FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid JOIN ns ON c.relnamespace = ns.oid
    UNION ALL SELECT 'rule:' || w.oid || ':' || w.xmin
        FROM pg_rewrite w JOIN pg_class c ON c.oid = w.ev_class JOIN ns ON c.relnamespace = ns.oid
    UNION ALL SELECT 'enum:' || e.oid || ':' || e.xmin
        FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN ns ON t.typnamespace = ns.oid
    UNION ALL SELECT 'ext:' || x.oid || ':' || x.xmin FROM pg_extension x
)
SELECT md5(coalesce(string_agg(r, ',' ORDER BY r), '')) FROM rows
"""


# -- hooks --------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("alembic_guard", "alembic_guard migration tests")
    group.addoption(
        "--alembic-guard-config",
        dest=_CONFIG_OPTION,
        default=None,
        metavar="PATH",
        help="Alembic configuration file for alembic_guard_runner (default: ini alembic_guard_config, "
        "else alembic.ini in the rootdir)",
    )
    parser.addini(
        _CONFIG_OPTION, "Alembic configuration file for alembic_guard_runner", default="alembic.ini"
    )
    parser.addini(
        _METADATA_INI, "the application's MetaData for the models-match-head test: package.module:name"
    )
    parser.addini(
        _STANDARD_INI, "collect alembic_guard's standard migration tests", type="bool", default=False
    )
    parser.addini(
        _TESTS_PATH_INI,
        "file (relative to the rootdir) the standard tests are collected under",
        default="tests/conftest.py",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{_MARKER}: alembic_guard's standard migration tests")


def _tests_path(config: pytest.Config) -> Path:
    target = Path(str(config.getini(_TESTS_PATH_INI)))
    return target if target.is_absolute() else config.rootpath / target


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """With ``alembic_guard_standard_tests = true``: the standard tests, under one chosen file."""
    config = parent.config
    if not config.getini(_STANDARD_INI) or getattr(config, "_alembic_guard_collected", False):
        return None
    if file_path != _tests_path(config):
        return None
    config._alembic_guard_collected = True  # type: ignore[attr-defined]
    return StandardTests.from_parent(parent, path=file_path)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[Any]) -> None:
    """The switch is on but ``alembic_guard_tests_path`` does not exist (no ``tests/conftest.py``):
    collect the standard tests under the configuration file that turned them on.

    Without this the run silently collected nothing (exit 5).  When the file exists but this run
    did not visit it (``pytest tests/test_one.py``), the selection left them out on purpose.
    Runs before ``-k`` / ``-m`` deselect, so those select among them as usual.
    """
    if not config.getini(_STANDARD_INI) or getattr(config, "_alembic_guard_collected", False):
        return
    if _tests_path(config).exists():
        return
    config._alembic_guard_collected = True  # type: ignore[attr-defined]
    anchor = config.inipath or _tests_path(config)
    node = StandardTests.from_parent(session, path=anchor)
    items.extend(session.genitems(node))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One round-trip test per revision, base first, named by the revision id."""
    if "alembic_guard_revision" not in metafunc.fixturenames:
        return
    try:
        revisions: list[Any] = [s.revision for s in _history(_config_path(metafunc.config))]
    except Exception as exc:  # reported by the test itself, not as a collection crash
        revisions = [_Unloadable(f"{type(exc).__name__}: {exc}")]
    metafunc.parametrize(
        "alembic_guard_revision", revisions, ids=[str(r) for r in revisions] or None, scope="function"
    )


class StandardTests(pytest.Module):
    """The standard tests as a module node bound to a project file (see ``pytest_collect_file``)."""

    def _getobj(self) -> types.ModuleType:
        # Only the test functions: a module node holding the plugin's fixtures too would
        # shadow the user's conftest overrides of them (the closest definition wins).
        module = types.ModuleType("alembic_guard_standard_tests")
        for name in __all__:
            setattr(module, name, globals()[name])
        return module


class _Unloadable:
    """Stands for the revision list when the Alembic configuration cannot be read at collection."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __str__(self) -> str:
        return "unloadable"


# -- the runner ---------------------------------------------------------------------------------


def _config_path(config: pytest.Config) -> Path:
    raw = config.getoption(_CONFIG_OPTION) or config.getini(_CONFIG_OPTION) or "alembic.ini"
    path = Path(str(raw))
    if not path.is_absolute():
        path = config.rootpath / path
    return path


def _history(config_path: Path) -> list[Script]:
    """The revisions, base first (reads the revision files; no database)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from alembic_guard.errors import UsageError

    if not config_path.is_file():
        raise UsageError(
            f"{config_path}: no such Alembic configuration file",
            hint="pass --alembic-guard-config PATH or set the ini key alembic_guard_config",
        )
    script = ScriptDirectory.from_config(Config(str(config_path)))
    return list(reversed(list(script.walk_revisions())))


class AlembicGuardRunner:
    """Alembic commands, in this process, against one database (``url``) with the project's config.

    Every command gets a fresh ``Config`` whose database is ``url``: set as
    ``sqlalchemy.url``, as the guarded runtime's explicit URL, and as
    ``DATABASE_URL`` while the command runs, so a guarded or a stock
    ``env.py`` both use it.
    """

    def __init__(self, config_path: str | os.PathLike[str], url: str) -> None:
        self.config_path = Path(config_path)
        self.url = url

    # -- commands ----------------------------------------------------------------------------

    def config(self) -> Config:
        from alembic.config import Config

        from alembic_guard.dburl import normalize_url
        from alembic_guard.runtime.runner import URL_ATTR

        if not self.config_path.is_file():
            from alembic_guard.errors import UsageError

            raise UsageError(
                f"{self.config_path}: no such Alembic configuration file",
                hint="pass --alembic-guard-config PATH or set the ini key alembic_guard_config",
            )
        cfg = Config(str(self.config_path))
        # normalised (``postgres://`` accepted, the installed driver named) for a stock env.py,
        # which hands ``sqlalchemy.url`` to SQLAlchemy as it is; the guarded one normalises itself
        url = normalize_url(self.url)
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        cfg.attributes[URL_ATTR] = url
        return cfg

    @contextlib.contextmanager
    def _command_env(self) -> Iterator[None]:
        """``DATABASE_URL`` is this database while a command runs.

        ``ALEMBIC_GUARD_TEST_URL`` (read once, by the server fixture) is hidden meanwhile: the
        runtime reads every ``ALEMBIC_GUARD_*`` variable as a setting and rejects unknown ones.
        """
        saved = {k: os.environ.get(k) for k in ("DATABASE_URL", _TEST_URL_VAR)}
        from alembic_guard.dburl import normalize_url

        os.environ["DATABASE_URL"] = normalize_url(self.url)
        os.environ.pop(_TEST_URL_VAR, None)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def upgrade(self, target: str = "head") -> RunResult | None:
        """``alembic upgrade target``; the guarded run's result (``None`` for a stock env.py)."""
        from alembic import command

        return self._run(command.upgrade, target)

    def downgrade(self, target: str) -> RunResult | None:
        """``alembic downgrade target``."""
        from alembic import command

        return self._run(command.downgrade, target)

    def _run(self, fn: Any, target: str) -> RunResult | None:
        from alembic_guard.runtime.runner import RESULT_ATTR, RunResult

        cfg = self.config()
        with self._command_env():
            fn(cfg, target)
        result = cfg.attributes.get(RESULT_ATTR)
        return result if isinstance(result, RunResult) else None

    def history(self) -> list[Script]:
        """The revisions, base first."""
        return _history(self.config_path)

    def heads(self) -> tuple[str, ...]:
        """The heads of the revision history (sorted)."""
        from alembic.script import ScriptDirectory

        return tuple(sorted(ScriptDirectory.from_config(self.config()).get_heads()))

    # -- the database ------------------------------------------------------------------------

    def _connect(self) -> Any:
        # the one URL normaliser and engine factory: postgres://, a bare URL with either driver,
        # a connection failure as one ConnectionFailed line
        from alembic_guard.dburl import create_engine

        return create_engine(self.url)

    def current(self) -> tuple[str, ...]:
        """The revisions in ``alembic_version`` (sorted; empty before the first upgrade).  Read-only."""
        from alembic.runtime.migration import MigrationContext

        engine = self._connect()
        try:
            with engine.connect() as conn:
                return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
        finally:
            engine.dispose()

    def snapshot(self, *exclude: str) -> SchemaModel:
        """The live schema without Alembic's and alembic_guard's tables (and ``exclude``).  Read-only."""
        from alembic_guard.live.snapshot import BOOKKEEPING_TABLES, snapshot

        left_out = (*BOOKKEEPING_TABLES, *exclude)
        engine = self._connect()
        try:
            with engine.connect() as conn:
                model = snapshot(conn, exclude=left_out)
        finally:
            engine.dispose()
        # ``exclude`` leaves out the tables, not the sequences their serial columns own
        # (the ledger's id sequence appears with the ledger, after the first run)
        for q, seq in list(model.sequences.items()):
            if seq.owned_by is not None and seq.owned_by[1] in left_out:
                del model.sequences[q]
        return model

    def catalog_fingerprint(self) -> str:
        """A digest of the catalog rows of user schemas; it changes when DDL commits.  Read-only."""
        import sqlalchemy as sa

        engine = self._connect()
        try:
            with engine.connect() as conn:
                return str(conn.execute(sa.text(_CATALOG_FINGERPRINT)).scalar_one())
        finally:
            engine.dispose()

    def ledger(self) -> list[dict[str, Any]]:
        """Rows of ``alembic_guard_log`` (revision, direction, status, ...), oldest first.  Read-only."""
        import sqlalchemy as sa

        engine = self._connect()
        try:
            with engine.connect() as conn:
                if not sa.inspect(conn).has_table("alembic_guard_log"):
                    return []
                rows = conn.execute(sa.text("SELECT * FROM alembic_guard_log ORDER BY id")).mappings()
                return [dict(r) for r in rows]
        finally:
            engine.dispose()

    def compare_metadata(self, metadata: Any) -> list[str]:
        """Autogenerate's differences between ``metadata`` and the database, one line each.  Read-only.

        Alembic's and alembic_guard's bookkeeping tables are left out.
        """
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        from alembic_guard.check.review import describe_diff
        from alembic_guard.live.snapshot import BOOKKEEPING_TABLES

        def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
            return not (type_ == "table" and name in BOOKKEEPING_TABLES)

        engine = self._connect()
        try:
            with engine.connect() as conn:
                mc = MigrationContext.configure(
                    conn,
                    opts={"target_metadata": metadata, "compare_type": True, "include_name": include_name},
                )
                diffs = compare_metadata(mc, metadata)
        finally:
            engine.dispose()
        return [line for entry in diffs for line in describe_diff(entry)]


def schema_difference(expected: SchemaModel, actual: SchemaModel) -> str:
    """How ``actual`` differs from ``expected``, one line each (for assertion messages)."""
    from alembic_guard.diff import compare

    lines = [f"  {d.render()}" for d in compare(expected, actual, ignore_tables=(), compare_expressions=True)]
    # what ``actual`` has and ``expected`` lacks shows up as "missing" the other way round
    lines += [
        f"  extra {d.ref.describe()}: left in the database"
        for d in compare(actual, expected, ignore_tables=(), compare_expressions=True)
        if d.id.startswith("missing-")
    ]
    return "\n".join(lines) or "  (a difference the drift report does not describe)"


def load_metadata(spec: str) -> Any:
    """``package.module:name`` → that object's ``MetaData`` (a ``MetaData``, or a declarative base)."""
    from sqlalchemy import MetaData

    from alembic_guard.errors import UsageError

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageError(
            f"{_METADATA_INI} = {spec!r}: expected package.module:name",
            hint="e.g. alembic_guard_metadata = myapp.models:Base.metadata",
        )
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    obj = getattr(obj, "metadata", obj)
    if not isinstance(obj, MetaData):
        raise UsageError(
            f"{_METADATA_INI} = {spec!r} is a {type(obj).__name__}, not a MetaData",
            hint="point it at a MetaData or a declarative base class",
        )
    return obj


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def alembic_guard_server() -> PostgresServer:
    """The throwaway PostgreSQL server (or ``ALEMBIC_GUARD_TEST_URL``'s), started on first use.

    One per process, shared with anything else that uses
    :func:`alembic_guard.testing.shared_server`; stopped when the process exits.
    """
    from alembic_guard.testing import shared_server

    return shared_server()


@pytest.fixture
def alembic_guard_db(alembic_guard_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database's SQLAlchemy URL; dropped after the test."""
    with alembic_guard_server.database() as url:
        yield url


@pytest.fixture
def alembic_guard_runner(request: pytest.FixtureRequest, alembic_guard_db: str) -> AlembicGuardRunner:
    """An :class:`AlembicGuardRunner` with the project's Alembic configuration on ``alembic_guard_db``."""
    return AlembicGuardRunner(_config_path(request.config), alembic_guard_db)


@pytest.fixture
def alembic_guard_metadata(request: pytest.FixtureRequest) -> Any:
    """The application's ``MetaData`` from the ini key ``alembic_guard_metadata``; override to give it."""
    spec = str(request.config.getini(_METADATA_INI) or "").strip()
    return load_metadata(spec) if spec else None


# -- the standard tests -------------------------------------------------------------------------


@pytest.mark.alembic_guard
def test_alembic_guard_single_head(alembic_guard_runner: AlembicGuardRunner) -> None:
    """The history has exactly one head (two heads mean an unmerged branch)."""
    heads = alembic_guard_runner.heads()
    fix = "merge them with `alembic merge heads`" if heads else "the history has no revisions"
    assert len(heads) == 1, f"{len(heads)} heads ({', '.join(heads) or 'none'}): {fix}"


@pytest.mark.alembic_guard
def test_alembic_guard_upgrade_from_empty(alembic_guard_runner: AlembicGuardRunner) -> None:
    """``upgrade head`` on an empty database succeeds and ends at the heads."""
    runner = alembic_guard_runner
    runner.upgrade("head")
    assert runner.current() == runner.heads()


@pytest.mark.alembic_guard
def test_alembic_guard_upgrade_twice_is_noop(alembic_guard_runner: AlembicGuardRunner) -> None:
    """A second ``upgrade head`` applies nothing and commits no DDL."""
    runner = alembic_guard_runner
    runner.upgrade("head")
    schema, fingerprint, version = runner.snapshot(), runner.catalog_fingerprint(), runner.current()
    result = runner.upgrade("head")
    if result is not None:
        assert result.applied == (), f"applied again: {', '.join(result.applied)}"
    assert runner.current() == version
    after = runner.snapshot()
    assert after == schema, "the schema changed:\n" + schema_difference(schema, after)
    assert runner.catalog_fingerprint() == fingerprint, "DDL was committed by the second upgrade"


@pytest.mark.alembic_guard
def test_alembic_guard_roundtrip(
    alembic_guard_runner: AlembicGuardRunner, alembic_guard_revision: Any
) -> None:
    """Upgrade to the revision, downgrade it, upgrade it again: the schema goes there and back."""
    if isinstance(alembic_guard_revision, _Unloadable):
        pytest.fail(f"cannot read the revisions: {alembic_guard_revision.reason}", pytrace=False)
    from alembic.util import to_tuple

    runner = alembic_guard_runner
    script = next(s for s in runner.history() if s.revision == alembic_guard_revision)
    for parent in to_tuple(script.down_revision, default=()):
        runner.upgrade(parent)
    before = runner.snapshot()
    runner.upgrade(script.revision)
    after = runner.snapshot()
    try:
        runner.downgrade("-1")
    except Exception as exc:
        reason = _irreversible(exc)
        if reason is None:
            raise
        pytest.skip(f"{script.revision} is irreversible: {reason}")
    undone = runner.snapshot()
    assert undone == before, (
        f"downgrade of {script.revision} does not undo its upgrade:\n" + schema_difference(before, undone)
    )
    runner.upgrade(script.revision)
    redone = runner.snapshot()
    why = f"upgrading {script.revision} again builds another schema:\n"
    assert redone == after, why + schema_difference(after, redone)


@pytest.mark.alembic_guard
def test_alembic_guard_models_match_head(
    alembic_guard_runner: AlembicGuardRunner, alembic_guard_metadata: Any
) -> None:
    """Autogenerate finds no difference between the application's models and the database at head."""
    if alembic_guard_metadata is None:
        pytest.skip("no MetaData: set the ini key alembic_guard_metadata or override alembic_guard_metadata")
    alembic_guard_runner.upgrade("head")
    diffs = alembic_guard_runner.compare_metadata(alembic_guard_metadata)
    assert not diffs, "the models differ from the schema at head (write a revision):\n" + "\n".join(diffs)


def _irreversible(exc: BaseException) -> str | None:
    """The reason when ``exc`` (or its cause) is the ``NotImplementedError`` of an irreversible downgrade."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, NotImplementedError):
            return str(cur) or "downgrade() raises NotImplementedError"
        cur = cur.__cause__ or cur.__context__
    return None
