"""0003_tasks_project.sql statements 2–3 of 3

Imported from raw SQL by `alembic guard-import`; the source's checksum is
recorded below.  Do not edit the source file: write a new migration instead.

Revision ID: 1cbda37c153b
Revises: cc8bccab4143
"""

from alembic import op

revision = "1cbda37c153b"
down_revision = "cc8bccab4143"
branch_labels = None
depends_on = None

# where this revision comes from; read back by guard-import and guard-adopt
source_file = "0003_tasks_project.sql"
source_checksum = "sha256:64345d3f26587afaf4cc01b4c9f82510842dfd2a0280e3cc89cfabe387af487d"
source_statements = (2, 3)
source_statement_count = 3
# what the statements leave behind / remove (kind, schema, name, owning table)
guard_provides = (
    ("constraint", "public", "fk_tasks_project_id", "tasks"),
    ("constraint", "public", "ck_tasks_status", "tasks"),
)
guard_drops: tuple[tuple[str, str, str, str | None], ...] = ()


def upgrade() -> None:
    # 0003_tasks_project.sql:4:1
    op.create_foreign_key("fk_tasks_project_id", "tasks", "projects", ["project_id"], ["id"])

    # 0003_tasks_project.sql:7:1
    op.create_check_constraint("ck_tasks_status", "tasks", "status IN ('todo', 'doing', 'done')")


def downgrade() -> None:
    op.drop_constraint("ck_tasks_status", "tasks", type_="check")

    op.drop_constraint("fk_tasks_project_id", "tasks", type_="foreignkey")
