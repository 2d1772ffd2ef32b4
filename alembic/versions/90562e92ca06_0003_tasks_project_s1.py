"""0003_tasks_project.sql statement 1 of 3

Imported from raw SQL by `alembic guard-import`; the source's checksum is
recorded below.  Do not edit the source file: write a new migration instead.

Revision ID: 90562e92ca06
Revises: 0efa5af6d155
"""

import sqlalchemy as sa
from alembic import op

revision = "90562e92ca06"
down_revision = "0efa5af6d155"
branch_labels = None
depends_on = None

# where this revision comes from; read back by guard-import and guard-adopt
source_file = "0003_tasks_project.sql"
source_checksum = "sha256:64345d3f26587afaf4cc01b4c9f82510842dfd2a0280e3cc89cfabe387af487d"
source_statements = (1,)
source_statement_count = 3
# what the statements leave behind / remove (kind, schema, name, owning table)
guard_provides = (
    ("column", "public", "project_id", "tasks"),
)
guard_drops: tuple[tuple[str, str, str, str | None], ...] = ()


def upgrade() -> None:
    # 0003_tasks_project.sql:2:1
    op.add_column("tasks", sa.Column("project_id", sa.Integer()), if_not_exists=True)


def downgrade() -> None:
    op.drop_column("tasks", "project_id")
