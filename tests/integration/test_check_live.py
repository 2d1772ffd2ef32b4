"""``alembic guard-check`` against a real PostgreSQL: pre-flight, ledger, checksums, sizes, exit codes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db


def _check(p: GuardedProject, *args: str) -> tuple[int, dict]:
    done = p.run("guard-check", "--format", "json", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def _sql(url: str, statement: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def test_pending_revision_preflight_against_the_live_schema_and_table_sizes(tmp_path, pg_url):
    p = GuardedProject(tmp_path, pg_url)
    p.add_revision(
        "r1",
        None,
        """
        op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer))
        op.create_table("u", sa.Column("id", sa.Integer, primary_key=True))
    """,
    )
    p.add_revision(
        "r2",
        "r1",
        """
        op.execute("UPDATE u SET id = id")
        with op.get_context().autocommit_block():
            op.create_index("ix_t_a", "t", ["a"], postgresql_concurrently=True)
        op.create_index("ix_t_id_a", "t", ["id", "a"])
    """,
    )
    assert p.run("upgrade", "r1").returncode == 0
    _sql(pg_url, "INSERT INTO t SELECT g, g FROM generate_series(1, 5000) g; ANALYZE t; DROP TABLE u")
    code, doc = _check(p)
    assert code == 1
    pre = [f for f in doc["findings"] if f["code"] == "AG611"]
    assert [(f["revision"], f["sql"]) for f in pre] == [("r2", "UPDATE u SET id = id")]
    assert "relation u" in pre[0]["message"]
    assert doc["database"].startswith("postgresql") and doc["database_heads"] == ["r1"]
    states = {r["revision"]: r["state"] for r in doc["revisions"]}
    assert states == {"r1": "applied", "r2": "pending"}
    plain = next(
        s for s in doc["revisions"][1]["statements"] if s["sql"].startswith("CREATE INDEX ix_t_id_a")
    )
    assert plain["lock"] == "SHARE"
    assert [z["table"] for z in plain["sizes"]] == ["t"]
    assert plain["sizes"][0]["row_estimate"] == 5000 and plain["sizes"][0]["total_bytes"] > 100_000
    concurrent = next(s for s in doc["revisions"][1]["statements"] if "CONCURRENTLY" in s["sql"])
    assert concurrent["sizes"] == []  # SHARE UPDATE EXCLUSIVE does not block writes
    # the table dropped behind the revisions' back is drift, with the drift kind's own code
    assert doc["drift"]["status"] == "ok"
    drift = [(f["code"], f["rule_id"], f["severity"]) for f in doc["findings"] if f["source"] == "drift"]
    assert drift == [
        ("AG510", "missing-table", "error"),
        ("AG522", "missing-sequence", "error"),
    ]  # u's serial
    assert [i["object"] for i in doc["drift"]["items"]] == ["relation u", "sequence u_id_seq"]
    md = p.run("guard-check", "--format", "markdown").stdout
    assert "t: " in md and "~5,000 rows" in md


def test_ledger_failure_is_reported_with_its_error(tmp_path, pg_url):
    p = GuardedProject(tmp_path, pg_url)
    p.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    p.add_revision("r2", "r1", 'op.execute("INSERT INTO t (id) VALUES (1), (1)")')
    assert p.run("upgrade", "head").returncode != 0
    code, doc = _check(p)
    assert code == 1
    failed = [f for f in doc["findings"] if f["code"] == "AG621"]
    assert len(failed) == 1 and failed[0]["revision"] == "r2"
    assert "SQLSTATE 23505" in failed[0]["message"] and "duplicate key" in failed[0]["message"]
    assert failed[0]["sql"] == "INSERT INTO t (id) VALUES (1), (1)"
    assert failed[0]["location"]["file"] == "migrations/versions/0002_r2.py"


def test_revision_file_changed_after_apply_is_an_error(tmp_path, pg_url):
    p = GuardedProject(tmp_path, pg_url)
    path = p.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    assert p.run("upgrade", "head").returncode == 0
    code, doc = _check(p)
    assert code == 0, doc["findings"]
    path.write_text(path.read_text().replace('"t"', '"t2"'))
    code, doc = _check(p)
    assert code == 1
    assert [(f["code"], f["revision"]) for f in doc["findings"] if f["code"] == "AG603"] == [("AG603", "r1")]


def test_exit_codes_and_masked_connection_error(tmp_path, pg_url):
    p = GuardedProject(tmp_path, pg_url)
    p.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    assert p.run("upgrade", "head").returncode == 0
    clean = p.run("guard-check")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    bad = p.run("guard-check", env=p.env(DATABASE_URL="postgresql://app:s3cret@127.0.0.1:1/x"))
    assert bad.returncode == 2
    assert "s3cret" not in bad.stdout + bad.stderr
    expected = "FAILED: cannot connect to postgresql+psycopg://app:***@127.0.0.1:1/x"
    assert bad.stderr.startswith(expected), bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 2  # the message and its hint
    garbage = p.run("guard-check", "--database", "nonsense://")
    assert garbage.returncode == 2 and "Traceback" not in garbage.stderr


def test_a_custom_version_table_and_the_ledger_next_to_it_are_read(tmp_path, pg_url):
    from alembic.config import Config

    from alembic_guard.check import static
    from alembic_guard.check.live import check_live

    p = GuardedProject(tmp_path, pg_url)
    env_py = p.script_dir / "env.py"
    default_call = "run_migrations(context, target_metadata=target_metadata)"
    custom_call = default_call[:-1] + ', version_table="deploy_versions", version_table_schema="ops")'
    env_py.write_text(env_py.read_text().replace(default_call, custom_call))
    p.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    p.add_revision("r2", "r1", 'op.execute("INSERT INTO t (id) VALUES (1), (1)")')
    _sql(pg_url, "CREATE SCHEMA ops")
    assert p.run("upgrade", "head").returncode != 0

    script_dir = static.load_script_directory(Config(str(p.ini)))
    runs = static.render_all(static.ordered_scripts(script_dir), p.root)
    models = static.check_static(runs, ["r2"], keep_models=True).models
    engine = create_engine(pg_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            blind = check_live(conn, script_dir, runs, models)
            seen = check_live(
                conn, script_dir, runs, models, version_table="deploy_versions", version_table_schema="ops"
            )
    finally:
        engine.dispose()
    # the defaults find neither the version row nor the ledger: r1 looks pending, r2's failure unseen
    assert blind.heads == () and not [f for f in blind.findings if f.code == "AG621"]
    assert seen.heads == ("r1",) and seen.applied == {"r1"}
    failed = [f for f in seen.findings if f.code == "AG621"]
    assert len(failed) == 1 and failed[0].revision == "r2" and "SQLSTATE 23505" in failed[0].message
    assert not [i for i in seen.drift_items if "deploy_versions" in str(i)]

    # the same through the command line
    code, report = _check(p, "--version-table", "deploy_versions", "--version-table-schema", "ops")
    assert code == 1
    assert [f["revision"] for f in report["findings"] if f["code"] == "AG621"] == ["r2"]


def test_rows_of_a_never_analyzed_table_are_counted_and_drift_is_listed_once(tmp_path, pg_url):
    """Issue 12 item 11: "~0 rows" for a table with rows that was never analyzed (reltuples -1), and
    each drift printed twice (under ``project:`` and ``drift:``)."""
    p = GuardedProject(tmp_path, pg_url)
    table = 'op.create_table("t", sa.Column("id", sa.Integer), sa.Column("a", sa.Integer))'
    p.add_revision("r1", None, table)
    p.add_revision("r2", "r1", 'op.create_index("ix_t_a", "t", ["a"])')
    assert p.run("upgrade", "r1").returncode == 0
    # autovacuum is far too slow to analyze the table before the check reads pg_class
    _sql(pg_url, "INSERT INTO t SELECT g, g FROM generate_series(1, 37) g; CREATE TABLE stray (x int)")
    _, doc = _check(p)
    sizes = [z for r in doc["revisions"] for st in r["statements"] for z in st["sizes"]]
    assert [(z["table"], z["row_estimate"], z["rows"]) for z in sizes] == [("t", 37, "count")]
    text_out = p.run("guard-check").stdout
    assert "(8192 bytes, 37 rows)" in text_out or "37 rows)" in text_out, text_out
    assert "~0 rows" not in text_out
    assert text_out.count("relation stray") == 1, text_out
    assert "project:" not in text_out  # the only project-wide finding is the drift
    drift_part = text_out.split("\ndrift:", 1)[1]
    assert "relation stray" in drift_part and "help: keep it and add a revision" in drift_part
    md = p.run("guard-check", "--format", "markdown").stdout
    assert md.count("relation stray") == 1, md


def test_no_false_drift_on_a_database_the_revisions_built(tmp_path, pg_url):
    """Issue 10: ``REFERENCES t`` without a column list (AG518), the foreign key a ``DROP TABLE ...
    CASCADE`` removed (AG508), and a function created unqualified under a database-level
    ``search_path`` (AG513) were reported as drift on a database the revisions themselves built."""
    dbname = pg_url.rsplit("/", 1)[1]
    _sql(pg_url, f'ALTER DATABASE "{dbname}" SET search_path = app, public; CREATE SCHEMA app')
    p = GuardedProject(tmp_path, pg_url)
    p.add_revision(
        "r1",
        None,
        """
        op.execute("CREATE TABLE public.t (id int PRIMARY KEY)")
        op.execute("CREATE TABLE public.c (id int, t_id int REFERENCES public.t)")
        op.execute("CREATE TABLE public.gone (id int PRIMARY KEY)")
        op.execute("CREATE TABLE public.k (id int, g int REFERENCES public.gone (id))")
        op.execute("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    """,
    )
    p.add_revision("r2", "r1", 'op.execute("DROP TABLE public.gone CASCADE")')
    done = p.run("upgrade", "head")
    assert done.returncode == 0, done.stderr
    engine = create_engine(pg_url, poolclass=NullPool)
    with engine.connect() as conn:  # PostgreSQL says where things went
        schema = conn.execute(
            text("SELECT pronamespace::regnamespace::text FROM pg_proc WHERE proname = 'f'")
        )
        assert schema.scalar() == "app"
        fks = conn.execute(text("SELECT conname FROM pg_constraint WHERE contype = 'f' ORDER BY 1")).scalars()
        assert list(fks) == ["c_t_id_fkey"]
    engine.dispose()
    code, doc = _check(p)
    assert doc["drift"]["items"] == [] and code == 0, doc["drift"]
    repair = p.run("guard-repair")
    assert repair.returncode == 0, repair.stdout + repair.stderr
