"""AG203 require-not-valid-check: a CHECK constraint validated under ACCESS EXCLUSIVE."""

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
        is_check = cmd.get("subtype") == "AT_AddConstraint" and con.get("contype") == "CONSTR_CHECK"
        if is_check and not con.get("skip_validation"):
            yield f"check constraint {con.get('conname') or '(unnamed)'} on table {format_qname(table)}"


RULE = register(
    Rule(
        code="AG203",
        problem=(
            "`ALTER TABLE ... ADD CHECK` takes ACCESS EXCLUSIVE and checks every existing row before "
            "it commits: the table is unreadable for the whole scan."
        ),
        solution=(
            "Add the constraint `NOT VALID` (a brief lock; new rows are checked at once), then "
            "`VALIDATE CONSTRAINT`, which takes only SHARE UPDATE EXCLUSIVE while it scans."
        ),
        bad=(
            Example(
                "ALTER TABLE tasks ADD CONSTRAINT ck_tasks_priority CHECK (priority BETWEEN 1 AND 5);",
                setup="CREATE TABLE tasks (id int, priority int);",
            ),
        ),
        good=(
            Example(
                "ALTER TABLE tasks ADD CONSTRAINT ck_tasks_priority CHECK (priority BETWEEN 1 "
                "AND 5) NOT VALID;\n"
                "ALTER TABLE tasks VALIDATE CONSTRAINT ck_tasks_priority;",
                setup="CREATE TABLE tasks (id int, priority int);",
            ),
        ),
        check=check,
        kinds=("AlterTableStmt",),
    )
)
