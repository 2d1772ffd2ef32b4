"""The golden revisions of every import fixture build, on PostgreSQL, the schema their SQL builds.

``tests/fixtures/import/<case>/expected`` (checked byte for byte by the unit
tests) are copied into a plain Alembic environment and upgraded to head on one
fresh database; ``<case>/sql`` is applied in the planned order on another; the
two live schemas must be equal.  So every op the renderer chooses is proven
to mean what the SQL means.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_import import apply_planned_sql, assert_same_schema, live, make_env

from alembic import command
from alembic_guard.testing import PostgresServer

pytestmark = pytest.mark.db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
EXAMPLE_APP = Path(__file__).resolve().parents[2] / "alembic"
# the example app (taskboard) is its own fixture: legacy SQL and committed revisions
DIRS = {p.name: (p / "sql", p / "expected") for p in FIXTURES.iterdir() if (p / "expected").is_dir()}
DIRS["taskboard"] = (EXAMPLE_APP / "legacy_sql", EXAMPLE_APP / "versions")
CASES = sorted(DIRS)


@pytest.mark.parametrize("case", CASES)
def test_golden_revisions_build_the_sql_schema(case: str, tmp_path: Path, pg_server: PostgresServer) -> None:
    with pg_server.database() as url_sql, pg_server.database() as url_alembic:
        sql, expected_revisions = DIRS[case]
        apply_planned_sql(url_sql, sql)
        cfg = make_env(tmp_path, url_alembic)
        for f in sorted(expected_revisions.glob("*.py")):
            shutil.copy(f, tmp_path / "env" / "versions" / f.name)
        command.upgrade(cfg, "head")
        expected = live(url_sql)
        assert expected.tables
        assert_same_schema(expected, live(url_alembic))
