"""AG001 unused-suppression: a suppression comment that hides nothing.

The check itself lives in :func:`alembic_guard.lint.base.lint`, which is
the only place that sees findings and suppressions together.
"""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.sql.statement import Statement


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    return iter(())


RULE = register(
    Rule(
        code="AG001",
        problem=(
            "Suppressions outlive the statements they were written for: a statement is fixed or "
            "moved, the comment stays, and one day it silences a new problem on the statement "
            "that took its place."
        ),
        solution="Remove suppressions that match nothing; name rules by their exact code (`AG201`) or id.",
        bad=(
            Example(
                "-- alembic-guard: ignore[AG201]\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON tasks (a);",
                in_transaction=False,
                line=1,
                note="the index is built concurrently already: nothing to suppress",
            ),
            Example(
                "SET lock_timeout = '2s';\n"
                "ALTER TABLE tasks DROP COLUMN IF EXISTS legacy; -- alembic-guard: ignore[ban-drop-colum]",
                line=2,
                note="a misspelt rule id suppresses nothing",
            ),
        ),
        good=(
            Example(
                "SET lock_timeout = '2s';\n"
                "-- alembic-guard: ignore[AG201]\nCREATE INDEX IF NOT EXISTS ix ON tasks (a);",
                note="the suppression is used by the finding it hides",
            ),
        ),
        check=check,
        kinds=(),
    )
)
