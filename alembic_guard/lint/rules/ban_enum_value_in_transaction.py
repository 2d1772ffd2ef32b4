"""AG403 ban-enum-value-in-transaction: ALTER TYPE ... ADD VALUE in a transaction before PostgreSQL 12."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import body, name_qname
from alembic_guard.model import format_qname
from alembic_guard.sql.statement import Statement


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    stmt = body(statement.node, "AlterEnumStmt")
    if stmt is None or not stmt.get("newVal") or not scope.in_transaction or scope.server_version >= 12:
        return
    q = name_qname(stmt.get("typeName"))
    yield f"value '{stmt['newVal']}' of enum {format_qname(q) if q else '?'}"


RULE = register(
    Rule(
        code="AG403",
        problem=(
            "PostgreSQL 11 and older reject `ALTER TYPE ... ADD VALUE` in a transaction block, and "
            "Alembic runs each revision in one."
        ),
        solution="Add the value in an autocommit block (or target PostgreSQL 12+, where it is allowed).",
        bad=(Example("ALTER TYPE task_state ADD VALUE IF NOT EXISTS 'archived';", server_version=11),),
        good=(
            Example("ALTER TYPE task_state ADD VALUE IF NOT EXISTS 'archived';", server_version=12),
            Example(
                "ALTER TYPE task_state ADD VALUE IF NOT EXISTS 'archived';",
                server_version=11,
                in_transaction=False,
                note="inside autocommit_block()",
            ),
        ),
        check=check,
        kinds=("AlterEnumStmt",),
    )
)
