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
