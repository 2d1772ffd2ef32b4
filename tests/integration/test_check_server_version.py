"""guard-check judges each statement against the PostgreSQL version the revisions will meet (AG701).

With a database that version is the server's own; offline it is the
profile's ``server_version``; with neither nothing is guessed.
"""

from __future__ import annotations

import json

import pytest

from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db

MERGE_RETURNING = 'op.execute("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE RETURNING t.id")'


def _project(tmp_path, url: str) -> GuardedProject:  # type: ignore[no-untyped-def]
    p = GuardedProject(tmp_path, url)
    p.add_revision(
        "r1",
        None,
        """
        op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))
        op.create_table("s", sa.Column("id", sa.Integer, primary_key=True))
    """,
    )
    p.add_revision("r2", "r1", MERGE_RETURNING)
    return p


def _ag701(done) -> list[dict]:  # type: ignore[no-untyped-def]
    doc = json.loads(done.stdout)
    return [f for f in doc["findings"] if f["code"] == "AG701"]


def test_the_live_servers_version_decides(tmp_path, pg_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        major = int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000
    engine.dispose()
    p = _project(tmp_path, pg_url)
    done = p.run("guard-check", "--format", "json")
    found = _ag701(done)
    if major < 17:
        assert done.returncode == 1, done.stderr
        # one finding per feature the statement needs (on 14: MERGE itself too)
        assert {(f["revision"], f["severity"]) for f in found} == {("r2", "error")}
        assert (
            f"MERGE ... RETURNING needs PostgreSQL 17, the target is PostgreSQL {major}"
            in found[0]["message"]
        )
    else:
        assert found == []


@pytest.mark.parametrize(("declared", "flagged"), [("16", True), ("17", True), ("15.4", True), ("18", False)])
def test_offline_the_profiles_server_version_decides(tmp_path, declared: str, flagged: bool) -> None:
    p = _project(tmp_path, "postgresql://unused@127.0.0.1:1/none")
    # 17 accepts MERGE ... RETURNING; 18 is the newest and checks nothing
    flagged = flagged and float(declared) < 17
    done = p.run(
        "guard-check", "--offline", "--format", "json", env=p.env(ALEMBIC_GUARD_SERVER_VERSION=declared)
    )
    assert done.returncode in (0, 1), done.stderr
    assert bool(_ag701(done)) == flagged


def test_offline_without_a_declared_version_nothing_is_guessed(tmp_path) -> None:
    p = _project(tmp_path, "postgresql://unused@127.0.0.1:1/none")
    done = p.run("guard-check", "--offline", "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    assert _ag701(done) == []


def test_a_server_version_that_is_no_version_is_one_line_exit_2(tmp_path, pg_url: str) -> None:
    p = _project(tmp_path, pg_url)
    done = p.run("upgrade", "head", env=p.env(ALEMBIC_GUARD_SERVER_VERSION="fifteen"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "server_version = 'fifteen' is not a PostgreSQL major version" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_guarded_runtime_refuses_newer_syntax_before_any_statement_runs(tmp_path, pg_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        major = int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000
    p = GuardedProject(tmp_path, pg_url)
    p.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    # RETURNING old/new exists from 18 on: the newest feature, newer than every server but 18
    p.add_revision("r2", "r1", 'op.execute("UPDATE t SET id = id RETURNING old.id, new.id")')
    done = p.run("upgrade", "head")
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            ledger = conn.exec_driver_sql(
                "SELECT revision, status, events::text FROM alembic_guard_log ORDER BY id"
            ).all()
    finally:
        engine.dispose()
    if major >= 18:
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert (
        f"revision r2 refused before any statement ran: RETURNING old / new needs PostgreSQL 18, "
        f"the target is PostgreSQL {major} (this server is PostgreSQL {major})"
    ) in done.stderr
    # nothing ran: not even r1, which comes first
    assert "t" not in tables and "alembic_version" not in tables
    assert [(r, s) for r, s, _ in ledger] == [("r2", "failed")]
    assert "version_preflight" in ledger[0][2]
