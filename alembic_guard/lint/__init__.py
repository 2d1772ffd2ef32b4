"""Lint rules for lock-heavy, destructive and non-idempotent DDL.

``lint(statements, context)`` checks parsed statements (pure) and returns
:class:`Finding` values sorted by position; :func:`lock_level` says which
table lock a statement takes.  Rules live one per module in
:mod:`alembic_guard.lint.rules`; their docs are generated into
``docs/rules/`` by ``python -m alembic_guard.lint.docs``.
"""

from __future__ import annotations

from alembic_guard.lint.base import Example, Finding, Rule, all_rules, get_rule, lint
from alembic_guard.lint.locks import lock_level, lock_targets
from alembic_guard.lint.scope import LintContext, Scope

__all__ = [
    "Example",
    "Finding",
    "LintContext",
    "Rule",
    "Scope",
    "all_rules",
    "get_rule",
    "lint",
    "lock_level",
    "lock_targets",
]
