"""Re-running a history on a database its later revisions changed (issue 10, "guards refuse an
object that a later revision evolved").

``stamp base`` then ``upgrade head`` replays every revision on the database they built.
The first revision's table has, by then, the shape the second gave it (a wider type,
NOT NULL); the runner hands the guards the later revisions' changes, so the first is
recognised as this history's table, evolved, and skipped with a note — before, the run
stopped with "the table exists, and some of its columns have another definition".
"""

from __future__ import annotations

import pytest

from alembic_guard.testing import GuardedProject


@pytest.mark.db
def test_stamp_base_then_upgrade_head_skips_objects_later_revisions_evolved(tmp_path, pg_url):
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "h1",
        None,
        'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.String(10)))\n'
        "op.execute(\"CREATE TYPE mood AS ENUM ('sad', 'ok')\")",
    )
    project.add_revision(
        "h2",
        "h1",
        'op.alter_column("t", "a", type_=sa.String(20), nullable=False)\n'
        "with op.get_context().autocommit_block():\n"
        "    op.execute(\"ALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy'\")",
    )
    env = project.env(ALEMBIC_GUARD_POLICY="strict")
    first = project.run("upgrade", "head", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert project.run("stamp", "base", env=env).returncode == 0
    again = project.run("upgrade", "head", env=env)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out
    assert "evolved since by later revisions: column(s) a" in out
    # the enum a later revision added a value to: judged against what the whole history leaves
    assert "re-running the history: type mood there as the later revisions leave it" in out


@pytest.mark.db
@pytest.mark.parametrize("profile", ["ci", "prod"])
def test_a_rerun_under_the_strict_and_the_production_profiles_leaves_the_database_as_it_is(
    tmp_path, pg_url, profile
):
    """``ci`` refuses, before any statement, a revision whose requirement is missing; ``prod``
    refuses drops.  Re-running a history meets both where the database moved on: a view a later
    revision dropped (needed by a copy), a column dropped and made again in one revision.  What
    the whole history leaves is there, so neither refuses: each is skipped with the reason."""
    import sqlalchemy as sa

    from alembic_guard.testing import row_checksums, schema_fingerprint

    def state() -> tuple[object, object]:
        engine = sa.create_engine(pg_url)
        try:
            with engine.connect() as conn:
                return schema_fingerprint(conn), row_checksums(conn, exclude_tables=("alembic_guard_log",))
        finally:
            engine.dispose()

    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "m1",
        None,
        'op.create_table("item", sa.Column("id", sa.Integer, primary_key=True), sa.Column("code", sa.Text))\n'
        'op.execute("CREATE VIEW item_view AS SELECT id, code FROM item")\n'
        'op.execute("CREATE TABLE item_copy AS SELECT * FROM item_view")',
    )
    project.add_revision("m2", "m1", 'op.execute("DROP TABLE item_copy")\nop.execute("DROP VIEW item_view")')
    project.add_revision(
        "m3",
        "m2",
        'op.drop_column("item", "code")\nop.add_column("item", sa.Column("code", sa.Integer))',
    )
    first = project.run("upgrade", "head", env=project.env())
    assert first.returncode == 0, first.stdout + first.stderr
    before = state()
    assert project.run("stamp", "base", env=project.env()).returncode == 0
    again = project.run("upgrade", "head", env=project.env(ALEMBIC_GUARD_PROFILE=profile))
    out = again.stdout + again.stderr
    assert again.returncode == 0, out
    assert "skip drop_column item.code: re-running the history: column item.code there" in out
    assert "CREATE TABLE item_copy AS SELECT * FROM item_view: re-running the history" in out
    assert "requirement(s) missing" not in out
    assert state() == before


@pytest.mark.db
def test_a_rerun_does_not_add_back_what_later_revisions_took_from_a_table(tmp_path, pg_url):
    """``create_table`` of a table that is there reconciles it through the guarded operations:
    on a re-run, the column a later revision dropped is not added back (then dropped again),
    the ``alter_column`` of a column a later revision renamed is skipped, not a debt, and the
    table's operation says nothing was done."""
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision(
        "r1",
        None,
        'op.create_table("ra", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("ap_id", sa.Text, nullable=False), sa.Column("published", sa.DateTime))',
    )
    project.add_revision(
        "r2",
        "r1",
        'op.execute("ALTER TABLE ra DROP COLUMN id, ADD PRIMARY KEY (ap_id)")\n'
        'op.alter_column("ra", "published", nullable=False)\n'
        'op.execute("ALTER TABLE ra RENAME COLUMN published TO published_at")',
    )
    assert project.run("upgrade", "head").returncode == 0
    assert project.run("stamp", "base").returncode == 0
    again = project.run("upgrade", "head")
    out = again.stdout + again.stderr
    assert again.returncode == 0, out
    assert "skip add_column ra.id: re-running the history: column ra.id gone" in out
    assert "skip create_table ra: already as it should be" in out
    assert "skip alter_column ra.published: re-running the history: it needs column ra.published, gone" in out
    assert "applied r1 in" in out and "(0 op(s), 2 skipped)" in out
    assert "debt" not in out
