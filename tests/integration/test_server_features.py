"""PostgreSQL decides which version runs which syntax: AG701's table checked against the real server.

Runs on every server of the version matrix (`scripts/test.sh --pg N -m
pgmatrix`): on PostgreSQL N, exactly the features whose ``since`` is at most N
must be accepted, and AG701 with target N must flag exactly the others.
"""

from __future__ import annotations

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from alembic_guard.lint.base import get_rule, lint
from alembic_guard.lint.rules.ban_syntax_newer_than_server import FEATURES, SAMPLE_SETUP, Feature
from alembic_guard.lint.scope import LintContext
from alembic_guard.sql.parse import parse_text

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def server(pg_server):  # type: ignore[no-untyped-def]
    url = make_url(pg_server.create_database())
    conn = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname=url.database)
    with conn.cursor() as cur:
        cur.execute("SHOW server_version_num")
        major = int(cur.fetchone()[0]) // 10000
        cur.execute(SAMPLE_SETUP)
    conn.commit()
    yield conn, major
    conn.close()


@pytest.mark.parametrize("feature", FEATURES, ids=lambda f: f.name)
def test_the_server_accepts_exactly_the_features_of_its_version(server, feature: Feature) -> None:  # type: ignore[no-untyped-def]
    conn, major = server
    try:
        with conn.cursor() as cur:
            cur.execute(feature.sample)
        accepted, error = True, ""
    except psycopg2.Error as exc:
        accepted, error = False, f"{exc.pgcode} {str(exc).splitlines()[0]}"
    finally:
        conn.rollback()
    assert accepted == (feature.since <= major), (
        f"PostgreSQL {major} {'accepted' if accepted else 'rejected'} {feature.name} "
        f"(declared since {feature.since}): {error}"
    )
    rule = get_rule("AG701")
    assert rule is not None
    findings = lint(parse_text(feature.sample, path="f.sql"), LintContext(server_version=major), rules=[rule])
    assert bool(findings) == (not accepted)
