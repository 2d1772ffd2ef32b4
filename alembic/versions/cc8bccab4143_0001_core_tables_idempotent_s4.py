"""0001_core_tables_idempotent.sql statement 4 of 5

Imported from raw SQL by `alembic guard-import`; the source's checksum is
recorded below.  Do not edit the source file: write a new migration instead.

Revision ID: cc8bccab4143
Revises: 90562e92ca06
"""

from alembic import op

revision = "cc8bccab4143"
down_revision = "90562e92ca06"
branch_labels = None
depends_on = None

# where this revision comes from; read back by guard-import and guard-adopt
source_file = "0001_core_tables_idempotent.sql"
source_checksum = "sha256:dbb662b4c8ede24cd2191624ac9bf16f20eaddb1dc4b2e75e005663d145a7d32"
source_statements = (4,)
source_statement_count = 5
# what the statements leave behind / remove (kind, schema, name, owning table)
guard_provides = (
    ("index", "public", "idx_tasks_project_id", None),
)
guard_drops: tuple[tuple[str, str, str, str | None], ...] = ()


def upgrade() -> None:
    # 0001_core_tables_idempotent.sql:29:1
    # moved: needs column tasks.project_id from 0003_tasks_project.sql:2:1
    op.create_index("idx_tasks_project_id", "tasks", ["project_id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("idx_tasks_project_id", table_name="tasks")
