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
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected").is_dir())


@pytest.mark.parametrize("case", CASES)
def test_golden_revisions_build_the_sql_schema(case: str, tmp_path: Path, pg_server: PostgresServer) -> None:
    with pg_server.database() as url_sql, pg_server.database() as url_alembic:
        apply_planned_sql(url_sql, FIXTURES / case / "sql")
        cfg = make_env(tmp_path, url_alembic)
        for f in sorted((FIXTURES / case / "expected").glob("*.py")):
            shutil.copy(f, tmp_path / "env" / "versions" / f.name)
        command.upgrade(cfg, "head")
        expected = live(url_sql)
        assert expected.tables
        assert_same_schema(expected, live(url_alembic))
