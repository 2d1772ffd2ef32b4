"""0001_core_tables_idempotent.sql statements 1–3, 5 of 5

Imported from raw SQL by `alembic guard-import`; the source's checksum is
recorded below.  Do not edit the source file: write a new migration instead.

Revision ID: 4d24c06c0e0c
Revises: None
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "4d24c06c0e0c"
down_revision = None
branch_labels = None
depends_on = None

# where this revision comes from; read back by guard-import and guard-adopt
source_file = "0001_core_tables_idempotent.sql"
source_checksum = "sha256:dbb662b4c8ede24cd2191624ac9bf16f20eaddb1dc4b2e75e005663d145a7d32"
source_statements = (1, 2, 3, 5)
source_statement_count = 5
# what the statements leave behind / remove (kind, schema, name, owning table)
guard_provides = (
    ("relation", "public", "users", None),
    ("column", "public", "id", "users"),
    ("column", "public", "email", "users"),
    ("column", "public", "full_name", "users"),
    ("column", "public", "created_at", "users"),
    ("constraint", "public", "users_pkey", "users"),
    ("constraint", "public", "users_email_key", "users"),
    ("sequence", "public", "users_id_seq", None),
    ("index", "public", "users_pkey", None),
    ("index", "public", "users_email_key", None),
    ("relation", "public", "projects", None),
    ("column", "public", "id", "projects"),
    ("column", "public", "owner_id", "projects"),
    ("column", "public", "name", "projects"),
    ("column", "public", "created_at", "projects"),
    ("constraint", "public", "projects_pkey", "projects"),
    ("constraint", "public", "projects_owner_id_fkey", "projects"),
    ("sequence", "public", "projects_id_seq", None),
    ("index", "public", "projects_pkey", None),
    ("relation", "public", "tasks", None),
    ("column", "public", "id", "tasks"),
    ("column", "public", "title", "tasks"),
    ("column", "public", "status", "tasks"),
    ("column", "public", "assignee_id", "tasks"),
    ("column", "public", "created_at", "tasks"),
    ("constraint", "public", "tasks_pkey", "tasks"),
    ("constraint", "public", "tasks_assignee_id_fkey", "tasks"),
    ("sequence", "public", "tasks_id_seq", None),
    ("index", "public", "tasks_pkey", None),
    ("index", "public", "idx_tasks_assignee_id", None),
)
guard_drops: tuple[tuple[str, str, str, str | None], ...] = ()


def upgrade() -> None:
    # 0001_core_tables_idempotent.sql:7:1
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("full_name", sa.Text()),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
        if_not_exists=True,
    )

    # 0001_core_tables_idempotent.sql:14:1
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"]),
        if_not_exists=True,
    )

    # 0001_core_tables_idempotent.sql:21:1
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), server_default=sa.text("'todo'"), nullable=False),
        sa.Column("assignee_id", sa.Integer()),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"]),
        if_not_exists=True,
    )

    # 0001_core_tables_idempotent.sql:30:1
    op.create_index("idx_tasks_assignee_id", "tasks", ["assignee_id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("idx_tasks_assignee_id", table_name="tasks")

    op.drop_table("tasks")

    op.drop_table("projects")

    op.drop_table("users")
