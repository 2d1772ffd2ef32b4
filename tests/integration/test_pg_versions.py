"""The version matrix runs on the server it says it runs on.

`scripts/test.sh --pg N` points PG_BINDIR at PostgreSQL N's binaries; if the
suite silently fell back to the machine's own server, the matrix would test
nothing new.  These tests read the version from the server itself.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from alembic_guard.testing import PostgresServer, find_bindir

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]


def _binary_major(bindir: str) -> int:
    out = subprocess.run([os.path.join(bindir, "postgres"), "--version"], capture_output=True, text=True)
    m = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    assert m, out.stdout
    return int(m.group(1))


def test_the_server_is_the_one_the_binaries_name(pg_server: PostgresServer, pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            num = int(conn.exec_driver_sql("SHOW server_version_num").scalar_one())
    finally:
        engine.dispose()
    assert num // 10000 == _binary_major(pg_server.bindir or find_bindir())
    if os.environ.get("PG_BINDIR"):
        assert _binary_major(os.environ["PG_BINDIR"]) == num // 10000


def test_pgbin_refuses_a_version_it_does_not_pin() -> None:
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "pgbin.sh"), "13"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == "pgbin: no pinned PostgreSQL release for major version '13' (use 14 to 18)"
