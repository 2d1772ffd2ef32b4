"""Offline ``--sql`` through the guarded env.py: no database, one transaction per revision, ``%`` intact."""

from __future__ import annotations

from alembic_guard.testing import GuardedProject


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


def test_offline_sql_shows_what_the_guards_would_send_under_the_profile(tmp_path):
    """Issue 12 item 11: docs/operations.md showed ``-- alembic_guard: online:`` comments and the
    guarded SQL in ``upgrade --sql`` output, which the guarded env.py did not produce."""
    project = GuardedProject(tmp_path, "postgresql://nobody:secret@127.0.0.1:1/none")
    project.add_revision(
        "o1",
        None,
        """
        op.create_table("projects", sa.Column("id", sa.Integer, primary_key=True))
        op.create_table("tasks", sa.Column("id", sa.Integer), sa.Column("project_id", sa.Integer))
        """,
    )
    project.add_revision(
        "o2",
        "o1",
        """
        op.create_foreign_key("fk_p", "tasks", "projects", ["project_id"], ["id"])
        op.create_index("ix_tasks_project_id", "tasks", ["project_id"])
        """,
    )
    dev = project.run("upgrade", "o1:head", "--sql")
    assert dev.returncode == 0, dev.stderr
    assert "-- alembic_guard: online: skipped when tasks.fk_p exists" in dev.stdout
    assert "REFERENCES projects (id) NOT VALID;" in dev.stdout
    assert "ALTER TABLE tasks VALIDATE CONSTRAINT fk_p;" in dev.stdout
    assert "CREATE INDEX ix_tasks_project_id ON tasks (project_id);" in dev.stdout
    prod = project.run("upgrade", "o1:head", "--sql", env=project.env(ALEMBIC_GUARD_PROFILE="prod"))
    assert prod.returncode == 0, prod.stderr
    assert "CREATE INDEX CONCURRENTLY ix_tasks_project_id ON tasks (project_id);" in prod.stdout


def test_offline_sql_resolves_names_through_the_declared_search_path(tmp_path):
    """With ``search_path = app, public`` an unqualified table is app's (the guards' notes name
    app.tasks, the SQL stays unqualified); one put in public explicitly is written out."""
    project = GuardedProject(tmp_path, "postgresql://nobody:secret@127.0.0.1:1/none")
    project.add_revision(
        "o1",
        None,
        """
        op.create_table("tasks", sa.Column("id", sa.Integer, primary_key=True))
        op.create_index("ix_audit_id", "audit", ["id"], schema="public")
        """,
    )
    plain = project.run("upgrade", "head", "--sql")
    declared = project.run(
        "upgrade", "head", "--sql", env=project.env(ALEMBIC_GUARD_SEARCH_PATH="app, public")
    )
    assert plain.returncode == 0 and declared.returncode == 0, plain.stderr + declared.stderr
    assert "online: when tasks exists" in plain.stdout
    assert "online: when app.tasks exists" in declared.stdout
    assert "CREATE TABLE tasks (" in declared.stdout
    assert "CREATE INDEX ix_audit_id ON public.audit (id);" in declared.stdout
