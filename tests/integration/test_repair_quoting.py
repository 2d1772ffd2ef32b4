"""guard-repair with names that need quoting, and with a version table of another name.

Index keys mix column names and expression text; a column called
``Weird; Name`` or ``Up`` must come back as that column, not end the
statement or turn into ``up``.  A project whose env.py names its own
version table (and schema) must be repaired under that table's lock, with
its ledger where the runtime writes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db

WEIRD = """
op.create_table(
    "Order Items",
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("Weird; Name", sa.Text),
    sa.Column("Up", sa.Text),
    sa.Column("user", sa.Text),
)
op.execute('CREATE INDEX ix_weird ON "Order Items" ("Weird; Name", "Up", lower("Up"::text), (id + 1))')
op.execute('CREATE UNIQUE INDEX ux_user ON "Order Items" ("user")')
"""


def sql(url: str, *statements: str) -> list[object]:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            results = [conn.exec_driver_sql(s) for s in statements]
            return [r.scalar() if r.returns_rows else None for r in results]
    finally:
        engine.dispose()


def index_def(url: str, name: str) -> object:
    return sql(url, f"SELECT pg_get_indexdef(to_regclass('{name}'))")[0]


@pytest.fixture
def weird(tmp_path: Path, pg_url: str) -> GuardedProject:
    p = GuardedProject(tmp_path, pg_url)
    p.add_revision("w1", None, WEIRD, message="weird names")
    done = p.run("upgrade", "head")
    assert done.returncode == 0, done.stderr
    sql(pg_url, """INSERT INTO "Order Items" VALUES (1, 'a;b', 'Up', 'u1'), (2, 'c', 'UP', 'u2')""")
    return p


def test_an_index_on_columns_needing_quotes_is_rebuilt_identical(weird: GuardedProject, pg_url: str) -> None:
    original = index_def(pg_url, "ix_weird")
    assert original == (
        'CREATE INDEX ix_weird ON public."Order Items" USING btree '
        '("Weird; Name", "Up", lower("Up"), ((id + 1)))'
    )
    sql(pg_url, "DROP INDEX ix_weird")
    out = weird.run("guard-repair")
    assert out.returncode == 1
    assert "missing-index index ix_weird" in out.stdout or "ix_weird" in out.stdout
    assert 'ON "Order Items" ("Weird; Name", "Up", (lower("Up")), (id + 1))' in out.stdout

    out = weird.run("guard-repair", "--apply")
    assert out.returncode == 0, out.stdout + out.stderr
    assert index_def(pg_url, "ix_weird") == original
    assert weird.run("guard-repair").returncode == 0


def test_a_unique_index_with_duplicates_is_refused_by_the_guards_own_check(
    weird: GuardedProject, pg_url: str
) -> None:
    sql(pg_url, "DROP INDEX ux_user", """UPDATE "Order Items" SET "user" = 'u1'""")
    out = weird.run("guard-repair", "--apply")
    assert out.returncode == 1
    assert (
        "1 value group(s) of (user) occur more than once in Order Items; unique index ux_user would fail"
        in out.stdout
    )
    # refused before the build: no INVALID index left behind
    assert index_def(pg_url, "ux_user") is None
    sql(pg_url, """UPDATE "Order Items" SET "user" = 'u' || id""")
    out = weird.run("guard-repair", "--apply")
    assert out.returncode == 0, out.stdout + out.stderr
    assert (
        index_def(pg_url, "ux_user")
        == 'CREATE UNIQUE INDEX ux_user ON public."Order Items" USING btree ("user")'
    )


CUSTOM_ENV = 'run_migrations(context, target_metadata=target_metadata, version_table="deploy_versions", ' + (
    'version_table_schema="ops")'
)


def test_a_custom_version_table_and_its_ledger_are_the_ones_repair_uses(tmp_path: Path, pg_url: str) -> None:
    p = GuardedProject(tmp_path, pg_url)
    env_py = p.script_dir / "env.py"
    text = env_py.read_text(encoding="utf-8")
    assert "run_migrations(context, target_metadata=target_metadata)" in text
    env_py.write_text(
        text.replace("run_migrations(context, target_metadata=target_metadata)", CUSTOM_ENV), encoding="utf-8"
    )
    p.add_revision(
        "c1",
        None,
        'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("n", sa.Integer))\n'
        'op.create_index("ix_t_n", "t", ["n"])',
    )
    p.add_revision("c2", "c1", 'op.add_column("t", sa.Column("m", sa.Integer))')
    sql(pg_url, "CREATE SCHEMA ops")
    done = p.run("upgrade", "c1")
    assert done.returncode == 0, done.stderr
    assert sql(pg_url, "SELECT version_num FROM ops.deploy_versions") == ["c1"]
    sql(pg_url, "DROP INDEX ix_t_n")

    # without the options no version row is found: c2, still pending, reads as drift, and
    # "repairing" it would make `alembic upgrade head` fail on the column it adds
    wrong = p.run("guard-repair", "--replay")
    assert wrong.returncode == 1
    assert "ALTER TABLE t ADD COLUMN m integer" in wrong.stdout

    opts = ("--replay", "--version-table", "deploy_versions", "--version-table-schema", "ops")
    plan = p.run("guard-repair", *opts)
    assert plan.returncode == 1, plan.stdout + plan.stderr
    assert "deploy_versions" not in plan.stdout and "ADD COLUMN m" not in plan.stdout
    assert "CREATE INDEX CONCURRENTLY ix_t_n ON t (n)" in plan.stdout

    done = p.run("guard-repair", "--apply", *opts)
    assert done.returncode == 0, done.stdout + done.stderr
    # the ledger the runtime writes (ops, next to the version table), not public's
    assert sql(pg_url, "SELECT to_regclass('public.alembic_guard_log')") == [None]
    assert sql(pg_url, "SELECT count(*) FROM ops.alembic_guard_log WHERE direction = 'repair'") == [1]
    assert p.run("upgrade", "head").returncode == 0
    assert p.run("guard-repair", *opts).returncode == 0
