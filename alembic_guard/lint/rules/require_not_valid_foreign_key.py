"""AG202 require-not-valid-foreign-key: a foreign key validated while both tables are locked."""

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
        con = (cmd.get("def") or {}).get("Constraint", {})
        is_fk = cmd.get("subtype") == "AT_AddConstraint" and con.get("contype") == "CONSTR_FOREIGN"
        if is_fk and not con.get("skip_validation"):
            yield f"foreign key {con.get('conname') or '(unnamed)'} on table {format_qname(table)}"


RULE = register(
    Rule(
        code="AG202",
        problem=(
            "`ALTER TABLE ... ADD FOREIGN KEY` takes SHARE ROW EXCLUSIVE on both tables and checks "
            "every existing row before it commits; writes to both tables wait for the whole scan."
        ),
        solution=(
            "Add the constraint `NOT VALID` (new rows are checked at once, the lock is brief), then "
            "`VALIDATE CONSTRAINT` separately: validation takes only SHARE UPDATE EXCLUSIVE, so reads "
            "and writes continue while it scans.\n\n"
            "```python\n"
            'op.create_foreign_key("fk_tasks_project", "tasks", "projects", ["project_id"], ["id"],\n'
            "                      postgresql_not_valid=True)\n"
            'op.execute("ALTER TABLE tasks VALIDATE CONSTRAINT fk_tasks_project")  # next revision\n'
            "```"
        ),
        bad=(
            Example(
                "ALTER TABLE tasks ADD CONSTRAINT fk_tasks_project\n"
                "    FOREIGN KEY (project_id) REFERENCES projects (id);",
                setup=(
                    "CREATE TABLE projects (id int PRIMARY KEY); CREATE TABLE tasks (id int, project_id int);"
                ),
            ),
        ),
        good=(
            Example(
                "ALTER TABLE tasks ADD CONSTRAINT fk_tasks_project\n"
                "    FOREIGN KEY (project_id) REFERENCES projects (id) NOT VALID;\n"
                "ALTER TABLE tasks VALIDATE CONSTRAINT fk_tasks_project;",
                setup=(
                    "CREATE TABLE projects (id int PRIMARY KEY); CREATE TABLE tasks (id int, project_id int);"
                ),
            ),
            Example(
                "CREATE TABLE comments (id int, task_id int);\n"
                "ALTER TABLE comments ADD CONSTRAINT fk_comments_task FOREIGN KEY (task_id) "
                "REFERENCES tasks (id);",
                note="the table is new in this revision",
            ),
        ),
        check=check,
        kinds=("AlterTableStmt",),
    )
)
