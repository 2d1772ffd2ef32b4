"""AG305 require-default-for-not-null-column: ADD COLUMN ... NOT NULL that fails on a table with rows."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import alter_cmds, body, column_constraints, rel_qname, strings
from alembic_guard.model import SERIAL_TYPES, format_qname
from alembic_guard.sql.statement import Statement

# constraints that give existing rows a value
_FILLED = {"CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED"}


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    stmt = body(statement.node, "AlterTableStmt")
    if stmt is None:
        return
    table = rel_qname(stmt.get("relation"))
    if table is None or not scope.is_existing(table):
        return
    for cmd in alter_cmds(stmt):
        coldef = (cmd.get("def") or {}).get("ColumnDef")
        if cmd.get("subtype") != "AT_AddColumn" or not coldef:
            continue
        kinds = {c.get("contype") for c in column_constraints(coldef)}
        type_names = strings((coldef.get("typeName") or {}).get("names"))
        if type_names and type_names[-1] in SERIAL_TYPES:
            continue
        if kinds & {"CONSTR_NOTNULL", "CONSTR_PRIMARY"} and not kinds & _FILLED:
            yield f"column {format_qname(table)}.{coldef.get('colname', '')}"


RULE = register(
    Rule(
        code="AG305",
        problem=(
            "Existing rows get NULL in a new column unless it has a default, so `ADD COLUMN ... NOT "
            "NULL` aborts with `column ... contains null values` on any table that is not empty: "
            "it passes on the developer's empty database and fails in production."
        ),
        solution=(
            "Give the column a constant default (instant since PostgreSQL 11), or add it nullable, "
            "backfill it, and set NOT NULL afterwards (see `require-check-for-set-not-null`)."
        ),
        bad=(
            Example(
                "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS project_id int NOT NULL;",
                setup="CREATE TABLE tasks (id int);",
            ),
        ),
        good=(
            Example(
                "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS priority int NOT NULL DEFAULT 3;",
                setup="CREATE TABLE tasks (id int);",
            ),
            Example(
                "CREATE TABLE IF NOT EXISTS labels (id int);\n"
                "ALTER TABLE labels ADD COLUMN IF NOT EXISTS name text NOT NULL;",
                note="the table is new in this revision: it has no rows",
            ),
        ),
        check=check,
        kinds=("AlterTableStmt",),
    )
)
