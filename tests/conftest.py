"""Shared fixtures: one throwaway PostgreSQL server per test session.

Database tests take ``pg_url`` (a fresh, empty database per test) or
``pg_server`` (the :class:`PostgresServer` itself).  The server is started by
the suite (see alembic_guard.testing); set ALEMBIC_GUARD_TEST_URL to reuse a
running server instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from alembic_guard.testing import PostgresServer, shared_server

# Property tests: bounded by default; HYPOTHESIS_PROFILE=long for longer runs.
settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("db", max_examples=15, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    yield shared_server()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    with pg_server.database() as url:
        yield url
