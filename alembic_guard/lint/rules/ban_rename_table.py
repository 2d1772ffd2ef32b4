"""AG304 ban-rename-table: renaming a table under the running code."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import body, rel_qname
from alembic_guard.model import format_qname
from alembic_guard.sql.statement import Statement


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    stmt = body(statement.node, "RenameStmt")
    if stmt is None or stmt.get("renameType") != "OBJECT_TABLE":
        return
    table = rel_qname(stmt.get("relation"))
    if table is not None and scope.is_existing(table):
        yield f"table {format_qname(table)} → {stmt.get('newname', '')}"


RULE = register(
    Rule(
        code="AG304",
        problem=(
            "The release still running during the deploy queries the old table name and fails from "
            "the moment of the rename until it is replaced."
        ),
        solution=(
            "Rename and leave a simple view under the old name (simple views are updatable), or keep "
            "the name and change only the ORM class; drop the view once no code uses the old name."
        ),
        bad=(Example("ALTER TABLE tasks RENAME TO todo_items;", setup="CREATE TABLE tasks (id int);"),),
        good=(
            Example(
                "CREATE TABLE IF NOT EXISTS tmp_items (id int);\nALTER TABLE tmp_items RENAME TO items;",
                note="the table is new in this revision",
            ),
        ),
        check=check,
        kinds=("RenameStmt",),
    )
)
