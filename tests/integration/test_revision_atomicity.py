"""A revision that creates a table and constrains it stays one transaction: a failure leaves nothing.

NOT VALID + VALIDATE in a transaction of its own keeps an *existing* table
readable during the validating scan, at the price of committing the
revision's work before it.  A table created by the same revision is empty
and seen by nobody, so its constraints are added in the revision's own
transaction and a later failure rolls everything back (seed property 3).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db


@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_constraints_of_a_new_table_roll_back_with_the_failing_revision(
    tmp_path, pg_url: str, profile
) -> None:  # type: ignore[no-untyped-def]
    p = GuardedProject(tmp_path, pg_url)
    p.add_revision("r0", None, 'op.create_table("parent", sa.Column("id", sa.Integer, primary_key=True))')
    p.add_revision(
        "r1",
        "r0",
        """
        op.create_table(
            "child",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("parent_id", sa.Integer),
            sa.Column("note", sa.Text),
        )
        op.create_check_constraint("ck_child_note", "child", "note <> 'x:1'")
        op.create_foreign_key("fk_child_parent", "child", "parent", ["parent_id"], ["id"])
        op.execute("SELECT 1 / 0")
    """,
    )
    env = p.env(ALEMBIC_GUARD_PROFILE=profile)
    assert p.run("upgrade", "r0", env=env).returncode == 0
    done = p.run("upgrade", "head", env=env)
    assert done.returncode != 0
    assert "SQLSTATE 22012" in done.stderr
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        left = conn.execute(sa.text("SELECT to_regclass('child')")).scalar()
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    assert (left, version) == (None, "r0")
