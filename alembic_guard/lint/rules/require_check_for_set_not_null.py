"""AG204 require-check-for-set-not-null: SET NOT NULL scanning the table under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import alter_cmds, body, rel_qname
from alembic_guard.model import format_qname
from alembic_guard.sql.statement import Statement


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    stmt = body(statement.node, "AlterTableStmt")
    if stmt is None:
        return
    table = rel_qname(stmt.get("relation"))
    if table is None or not scope.is_existing(table):
        return
    for cmd in alter_cmds(stmt):
        if cmd.get("subtype") != "AT_SetNotNull":
            continue
        column = cmd.get("name", "")
        # PostgreSQL 12+ skips the scan when a validated CHECK proves it; older servers always scan
        if scope.server_version < 12 or not scope.has_not_null_check(table, column):
            yield f"column {format_qname(table)}.{column}"


RULE = register(
    Rule(
        code="AG204",
        problem=(
            "`ALTER COLUMN ... SET NOT NULL` takes ACCESS EXCLUSIVE and reads every row to prove there "
            "is no NULL: the table is unreadable for the whole scan."
        ),
        solution=(
            "On PostgreSQL 12 and later, a validated `CHECK (col IS NOT NULL)` lets `SET NOT NULL` "
            "skip the scan. Add the check `NOT VALID`, `VALIDATE CONSTRAINT` it (SHARE UPDATE "
            "EXCLUSIVE, traffic continues), then `SET NOT NULL` (instant) and drop the check."
        ),
        bad=(
            Example(
                "ALTER TABLE tasks ALTER COLUMN project_id SET NOT NULL;",
                setup="CREATE TABLE tasks (id int, project_id int);",
            ),
            Example(
                "ALTER TABLE tasks ADD CONSTRAINT ck_project_nn CHECK (project_id IS NOT NULL) NOT VALID;\n"
                "ALTER TABLE tasks ALTER COLUMN project_id SET NOT NULL;",
                setup="CREATE TABLE tasks (id int, project_id int);",
                note="the check was never validated, so it proves nothing",
            ),
            Example(
                "ALTER TABLE tasks ALTER COLUMN project_id SET NOT NULL;",
                setup=(
                    "CREATE TABLE tasks (id int, project_id int);\n"
                    "ALTER TABLE tasks ADD CONSTRAINT ck_project_nn CHECK (project_id IS NOT NULL);"
                ),
                server_version=11,
                note="the check is ignored there: SET NOT NULL scans anyway",
            ),
        ),
        good=(
            Example(
                "ALTER TABLE tasks VALIDATE CONSTRAINT ck_project_nn;\n"
                "ALTER TABLE tasks ALTER COLUMN project_id SET NOT NULL;",
                setup=(
                    "CREATE TABLE tasks (id int, project_id int);\n"
                    "ALTER TABLE tasks ADD CONSTRAINT ck_project_nn CHECK (project_id IS NOT NULL) NOT VALID;"
                ),
            ),
            Example(
                "CREATE TABLE IF NOT EXISTS labels (id int, name text);\n"
                "ALTER TABLE labels ALTER COLUMN name SET NOT NULL;",
                note="the table is new in this revision",
            ),
        ),
        check=check,
        kinds=("AlterTableStmt",),
    )
)
