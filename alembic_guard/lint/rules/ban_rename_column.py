"""AG303 ban-rename-column: renaming a column under the running code."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import body, rel_qname
from alembic_guard.model import format_qname
from alembic_guard.sql.statement import Statement


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    stmt = body(statement.node, "RenameStmt")
    if stmt is None or stmt.get("renameType") != "OBJECT_COLUMN":
        return
    table = rel_qname(stmt.get("relation"))
    if table is not None and scope.is_existing(table):
        yield f"column {format_qname(table)}.{stmt.get('subname', '')} → {stmt.get('newname', '')}"


RULE = register(
    Rule(
        code="AG303",
        problem=(
            "The rename is instant, but the release still running during the deploy names the old "
            "column in every query and fails from that moment until it is replaced."
        ),
        solution=(
            "Expand and contract: add the new column, keep both in sync, switch the code, and drop "
            'the old column later. Or rename only in the ORM (`Column("old_name", key="new_name")`).'
        ),
        bad=(
            Example(
                "ALTER TABLE tasks RENAME COLUMN title TO name;",
                setup="CREATE TABLE tasks (id int, title text);",
            ),
        ),
        good=(
            Example(
                "CREATE TABLE IF NOT EXISTS notes (id int, body text);\nALTER TABLE notes "
                "RENAME COLUMN body TO text;",
                note="the table is new in this revision",
            ),
        ),
        check=check,
        kinds=("RenameStmt",),
    )
)
