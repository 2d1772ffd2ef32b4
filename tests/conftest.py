"""Shared fixtures: one throwaway PostgreSQL server per test session.

Database tests take ``pg_url`` (a fresh, empty database per test) or
``pg_server`` (the :class:`PostgresServer` itself).  The server is started by
the suite (see alembic_guard.testing); set ALEMBIC_GUARD_TEST_URL to reuse a
running server instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from alembic_guard.testing import PostgresServer, shared_server

# The suite's databases use psycopg2 unless ALEMBIC_GUARD_TEST_DRIVER says otherwise (many tests
# open raw psycopg2 connections from pg_url); the `driver` fixture below runs the driver-dependent
# part under both, and `ALEMBIC_GUARD_TEST_DRIVER=psycopg bash scripts/test.sh` runs all of it under 3.
os.environ.setdefault("ALEMBIC_GUARD_TEST_DRIVER", "psycopg2")

# Property tests: bounded by default; HYPOTHESIS_PROFILE=long for longer runs.
settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("db", max_examples=15, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _alembic_guard_loggers_enabled() -> None:
    """Undo what an in-process ``fileConfig()`` of a plain Alembic env.py did.

    Stock env.py calls ``logging.config.fileConfig(ini)`` with
    ``disable_existing_loggers=True``: every logger not named in the ini —
    ``alembic_guard.*`` included — is disabled for the rest of the process, so
    a later test's caplog would see nothing.  Tests must not depend on order.
    """
    for name, obj in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(obj, logging.Logger) and (name == "alembic_guard" or name.startswith("alembic_guard.")):
            obj.disabled = False
            obj.propagate = True


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    yield shared_server()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    with pg_server.database() as url:
        yield url


# The named subset that runs on every PostgreSQL version of the matrix
# (`bash scripts/test.sh --pg 18 -m pgmatrix`; .ci/run runs it on 18): the lock,
# the ledger, the snapshot, every guarded op, guard-import of the example app,
# guard-check live, repair and adoption.  Listed by module, in one place, so a
# test file joins the matrix without editing it.
PG_MATRIX_MODULES = frozenset(
    {
        "test_snapshot",
        "test_runtime_lock",
        "test_runtime_failure",
        "test_runtime_kill",
        "test_ops_guards",
        "test_ops_behaviour",
        "test_ops_execute",
        "test_import",
        "test_example_app",
        "test_check_live",
        "test_drift_repair",
        "test_repair_quoting",
        "test_adopt",
        "test_pg_versions",
        "test_server_features",
        "test_check_server_version",
        "test_index_progress",
        "test_drivers",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in PG_MATRIX_MODULES:
            item.add_marker(pytest.mark.pgmatrix)


def pytest_report_header(config: pytest.Config) -> str:
    where = os.environ.get("PG_BINDIR") or "found on this machine (find_bindir)"
    return f"PostgreSQL server binaries: {where}"


DRIVERS = ("psycopg", "psycopg2")


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    """Each supported DBAPI driver in turn: psycopg (3) and psycopg2."""
    return str(request.param)


@pytest.fixture
def driver_url(pg_server: PostgresServer, driver: str) -> Iterator[str]:
    """A fresh, empty database, its URL naming ``driver`` (``postgresql+<driver>://``)."""
    with pg_server.database() as url:
        yield url.replace(url.split("://", 1)[0], f"postgresql+{driver}", 1)
