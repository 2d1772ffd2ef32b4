"""AG302 ban-drop-table: dropping a table the running code may still use."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import body, name_qname
from alembic_guard.model import format_qname
from alembic_guard.sql.statement import Statement


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    stmt = body(statement.node, "DropStmt")
    if stmt is None or stmt.get("removeType") != "OBJECT_TABLE":
        return
    for obj in stmt.get("objects") or ():
        table = name_qname(obj.get("List", {}).get("items"))
        if table is not None and scope.is_existing(table):
            yield f"table {format_qname(table)}"


RULE = register(
    Rule(
        code="AG302",
        problem=(
            "The release still running during a deploy queries the table and fails once it is "
            "gone; a downgrade recreates an empty table, not the data."
        ),
        solution=(
            "Remove every use of the table and deploy that first; drop it later in a revision marked "
            "`-- alembic-guard: ignore[ban-drop-table]` (or `AG302`)."
        ),
        bad=(Example("DROP TABLE IF EXISTS legacy_tasks;", setup="CREATE TABLE legacy_tasks (id int);"),),
        good=(
            Example(
                "CREATE TABLE IF NOT EXISTS scratch (id int);\nDROP TABLE IF EXISTS scratch;",
                note="created and dropped in the same revision",
            ),
            Example("DROP VIEW IF EXISTS v_tasks;", note="views hold no data"),
        ),
        check=check,
        kinds=("DropStmt",),
    )
)
