"""AG201 require-concurrent-index: CREATE INDEX without CONCURRENTLY on a table in use."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import body, rel_qname
from alembic_guard.model import format_qname
from alembic_guard.sql.statement import Statement


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    stmt = body(statement.node, "IndexStmt")
    if stmt is None or stmt.get("concurrent"):
        return
    table = rel_qname(stmt.get("relation"))
    if scope.is_existing(table) and table is not None:
        yield f"index {stmt.get('idxname') or '(unnamed)'} on table {format_qname(table)}"


RULE = register(
    Rule(
        code="AG201",
        problem=(
            "`CREATE INDEX` takes a SHARE lock on the table for the whole build: reads go on, but "
            "every INSERT, UPDATE and DELETE waits, for minutes on a large table."
        ),
        solution=(
            "Build the index with `CREATE INDEX CONCURRENTLY`, which takes SHARE UPDATE EXCLUSIVE and "
            "lets writes continue. It cannot run inside a transaction, so in Alembic put it in an "
            "autocommit block:\n\n"
            "```python\n"
            "with op.get_context().autocommit_block():\n"
            '    op.create_index("ix_tasks_project_id", "tasks", ["project_id"], '
            "postgresql_concurrently=True)\n"
            "```\n\n"
            "A concurrent build that fails leaves an INVALID index behind; drop it before retrying. "
            "Indexes on tables created in the same revision need no CONCURRENTLY."
        ),
        bad=(
            Example(
                "CREATE INDEX IF NOT EXISTS ix_tasks_project_id ON tasks (project_id);",
                setup="CREATE TABLE tasks (id int, project_id int);",
            ),
            Example("CREATE UNIQUE INDEX IF NOT EXISTS ix_users_email ON app.users (email);"),
        ),
        good=(
            Example(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_tasks_project_id ON tasks (project_id);",
                setup="CREATE TABLE tasks (id int, project_id int);",
                in_transaction=False,
            ),
            Example(
                "CREATE TABLE IF NOT EXISTS projects (id int, owner_id int);\n"
                "CREATE INDEX IF NOT EXISTS ix_projects_owner_id ON projects (owner_id);",
                note="the table is new in this revision: nobody uses it yet",
            ),
        ),
        check=check,
        kinds=("IndexStmt",),
    )
)
