"""0002_comments.sql (2 statements)

Imported from raw SQL by `alembic guard-import`; the source's checksum is
recorded below.  Do not edit the source file: write a new migration instead.

Revision ID: 0efa5af6d155
Revises: 4d24c06c0e0c
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0efa5af6d155"
down_revision = "4d24c06c0e0c"
branch_labels = None
depends_on = None

# where this revision comes from; read back by guard-import and guard-adopt
source_file = "0002_comments.sql"
source_checksum = "sha256:0ae4d4fadad606261bed9c72a3e624117499d0be70191f3884a4703c21b0a21e"
source_statements = (1, 2)
source_statement_count = 2
# what the statements leave behind / remove (kind, schema, name, owning table)
guard_provides = (
    ("relation", "public", "comments", None),
    ("column", "public", "id", "comments"),
    ("column", "public", "task_id", "comments"),
    ("column", "public", "author_id", "comments"),
    ("column", "public", "body", "comments"),
    ("column", "public", "created_at", "comments"),
    ("constraint", "public", "comments_pkey", "comments"),
    ("constraint", "public", "comments_task_id_fkey", "comments"),
    ("constraint", "public", "comments_author_id_fkey", "comments"),
    ("sequence", "public", "comments_id_seq", None),
    ("index", "public", "comments_pkey", None),
    ("index", "public", "idx_comments_task_id", None),
)
guard_drops: tuple[tuple[str, str, str, str | None], ...] = ()


def upgrade() -> None:
    # 0002_comments.sql:2:1
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"]),
        if_not_exists=True,
    )

    # 0002_comments.sql:10:1
    op.create_index("idx_comments_task_id", "comments", ["task_id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("idx_comments_task_id", table_name="comments")

    op.drop_table("comments")
