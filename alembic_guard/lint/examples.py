"""Run a rule's examples: the bridge between a rule's declaration and its tests.

Pure: parses the example text it is given.  ``setup`` SQL stands for earlier
revisions: it is replayed into the model the example runs against, so its
tables count as existing tables with data.
"""

from __future__ import annotations

from alembic_guard.lint.base import Example, Finding, lint
from alembic_guard.lint.scope import LintContext, Scope
from alembic_guard.model import SchemaModel
from alembic_guard.sql.parse import parse_text

__all__ = ["EXAMPLE_PATH", "expected_line", "model_from_sql", "run_example"]

EXAMPLE_PATH = "example.sql"


def model_from_sql(sql: str, start: SchemaModel | None = None) -> SchemaModel:
    """The model ``sql`` leaves behind (only the facts the lint rules read)."""
    scope = Scope(LintContext(model=start))
    for st in parse_text(sql, path="<setup>"):
        scope.advance(st)
    return scope.model


def context_of(example: Example) -> LintContext:
    return LintContext(
        model=model_from_sql(example.setup) if example.setup else None,
        in_transaction=example.in_transaction,
        server_version=example.server_version,
    )


def run_example(example: Example) -> list[Finding]:
    """Every finding of every rule on the example, as ``lint`` reports them."""
    return lint(parse_text(example.sql, path=EXAMPLE_PATH), context_of(example))


def expected_line(example: Example) -> int:
    """The line a bad example's finding belongs on: its ``line``, else the last statement's."""
    if example.line is not None:
        return example.line
    return parse_text(example.sql, path=EXAMPLE_PATH)[-1].line
