"""AG404 ban-new-enum-value-use: using an enum value in the transaction that added it."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import string_constants
from alembic_guard.model import format_qname
from alembic_guard.sql.statement import Statement


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    if not scope.in_transaction or not scope.enum_values_added or scope.server_version < 12:
        return
    if statement.kind == "AlterEnumStmt":
        return
    # a string literal equal to a value added in this transaction: the one
    # way the value reaches a statement (e.g. UPDATE ... SET state = 'archived')
    for value in dict.fromkeys(string_constants(statement.node)):
        enum = scope.enum_values_added.get(value)
        if enum is not None:
            yield f"value '{value}' of enum {format_qname(enum)}"


RULE = register(
    Rule(
        code="AG404",
        problem=(
            "Since PostgreSQL 12 `ALTER TYPE ... ADD VALUE` may run in a transaction, but the new "
            "value cannot be used until that transaction commits: a backfill or default naming it "
            "in the same revision fails."
        ),
        solution="Commit the new value first: add it in one revision and use it in the next.",
        bad=(
            Example(
                "ALTER TYPE task_state ADD VALUE IF NOT EXISTS 'archived';\n"
                "UPDATE tasks SET state = 'archived' WHERE done_at < now() - interval '1 year';",
            ),
        ),
        good=(
            Example(
                "ALTER TYPE task_state ADD VALUE IF NOT EXISTS 'archived';\n"
                "COMMIT;\n"
                "UPDATE tasks SET state = 'archived' WHERE done_at < now() - interval '1 year';",
                note="the value was committed first",
            ),
        ),
        check=check,
    )
)
