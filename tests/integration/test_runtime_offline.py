"""Offline ``--sql`` through the guarded env.py: no database, one transaction per revision, ``%`` intact."""

from __future__ import annotations

from alembic_guard.runtime.sandbox import GuardedProject


def test_offline_sql_renders_each_revision_in_its_own_transaction(tmp_path):
    # An unreachable URL: offline mode must not connect.
    project = GuardedProject(tmp_path, "postgresql://nobody:secret@127.0.0.1:1/none")
    project.add_revision("o1", None, 'op.create_table("a", sa.Column("id", sa.Integer))')
    project.add_revision("o2", "o1", "op.execute(\"UPDATE a SET id = id WHERE 'x' LIKE '10%'\")")
    done = project.run("upgrade", "head", "--sql")
    assert done.returncode == 0, done.stderr
    sql = done.stdout
    assert sql.count("BEGIN;") == 2 and sql.count("COMMIT;") == 2
    assert sql.index("CREATE TABLE a") < sql.index("COMMIT;") < sql.index("UPDATE a SET id")
    assert "LIKE '10%'" in sql and "10%%" not in sql
    assert "alembic_guard_log" not in sql
