"""AG301 ban-drop-column: dropping a column the running code may still use."""

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
        if cmd.get("subtype") == "AT_DropColumn":
            yield f"column {format_qname(table)}.{cmd.get('name', '')}"


RULE = register(
    Rule(
        code="AG301",
        problem=(
            "During a rolling deploy the old release keeps running while the migration runs. Its "
            "queries name the column (an ORM selects every mapped column), so they fail as soon as "
            "the column is gone; the data cannot be brought back by a downgrade."
        ),
        solution=(
            "Expand and contract: remove every use of the column and deploy that; only then drop it, "
            "in a revision that says so with `-- alembic-guard: ignore[ban-drop-column]` (or "
            "`AG301`)."
        ),
        bad=(
            Example(
                "ALTER TABLE tasks DROP COLUMN IF EXISTS legacy_status;",
                setup="CREATE TABLE tasks (id int, legacy_status text);",
            ),
        ),
        good=(
            Example(
                "-- alembic-guard: ignore[ban-drop-column] -- unused since release 42\n"
                "ALTER TABLE tasks DROP COLUMN IF EXISTS legacy_status;",
                setup="CREATE TABLE tasks (id int, legacy_status text);",
            ),
            Example(
                "CREATE TABLE IF NOT EXISTS drafts (id int, tmp text);\nALTER TABLE drafts "
                "DROP COLUMN IF EXISTS tmp;",
                note="the table is new in this revision",
            ),
        ),
        check=check,
        kinds=("AlterTableStmt",),
    )
)
