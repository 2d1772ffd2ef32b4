"""0004_reporting.sql (2 statements)

Imported from raw SQL by `alembic guard-import`; the source's checksum is
recorded below.  Do not edit the source file: write a new migration instead.

Revision ID: 88c8a9515e0d
Revises: 1cbda37c153b
"""

from alembic import op

revision = "88c8a9515e0d"
down_revision = "1cbda37c153b"
branch_labels = None
depends_on = None

# where this revision comes from; read back by guard-import and guard-adopt
source_file = "0004_reporting.sql"
source_checksum = "sha256:a28c28a32f5c66f80bcb159e91e5fa7887844ac71b3c48f9c4f1725d214a3020"
source_statements = (1, 2)
source_statement_count = 2
# what the statements leave behind / remove (kind, schema, name, owning table)
guard_provides = (
    ("constraint", "public", "uq_projects_owner_name", "projects"),
    ("index", "public", "uq_projects_owner_name", None),
    ("relation", "public", "project_task_counts", None),
    ("column", "public", "project_id", "project_task_counts"),
    ("column", "public", "name", "project_task_counts"),
    ("column", "public", "open_tasks", "project_task_counts"),
)
guard_drops: tuple[tuple[str, str, str, str | None], ...] = ()


def upgrade() -> None:
    # 0004_reporting.sql:2:1
    op.create_unique_constraint("uq_projects_owner_name", "projects", ["owner_id", "name"])

    # 0004_reporting.sql:4:1
    op.execute(r"""CREATE OR REPLACE VIEW project_task_counts AS
SELECT p.id AS project_id,
       p.name,
       count(t.id) AS open_tasks
FROM projects p
LEFT JOIN tasks t ON t.project_id = p.id AND t.status <> 'done'
GROUP BY p.id, p.name""")


def downgrade() -> None:
    op.execute("DROP VIEW project_task_counts")

    op.drop_constraint("uq_projects_owner_name", "projects", type_="unique")
