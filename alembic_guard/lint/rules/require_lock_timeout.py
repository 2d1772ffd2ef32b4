"""AG208 require-lock-timeout: a lock request that can queue forever and block everyone behind it."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.locks import lock_targets, strength
from alembic_guard.model import format_qname
from alembic_guard.sql.statement import Statement

# SHARE and stronger conflict with ordinary writes; ACCESS EXCLUSIVE with reads too
_THRESHOLD = strength("SHARE")


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    if scope.lock_timeout_set:
        return
    # CREATE OR REPLACE VIEW locks only a view that is already there
    replacing_view = statement.kind == "ViewStmt"
    for table, level in lock_targets(statement.node):
        if replacing_view and not scope.model.relation_exists(*table):
            continue
        if strength(level) >= _THRESHOLD and scope.is_existing(table):
            yield f"{level} lock on {format_qname(table)}"
            return


RULE = register(
    Rule(
        code="AG208",
        problem=(
            "A lock request waits behind any long transaction holding a conflicting lock, and while "
            "it waits every new query that conflicts with *it* queues behind it: one `ALTER TABLE` "
            "waiting on a long report blocks all reads of the table and the service stalls."
        ),
        solution=(
            "Set `lock_timeout` (a few seconds) before lock-taking statements so the migration gives "
            "up instead of stalling traffic, and retry it later. `SET LOCAL` lasts until the end of "
            "the revision's transaction."
        ),
        bad=(
            Example(
                "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS due_at timestamptz;",
                setup="CREATE TABLE tasks (id int);",
            ),
            Example(
                "SET LOCAL lock_timeout = '5s';\n"
                "COMMIT;\n"
                "DROP INDEX CONCURRENTLY IF EXISTS ix_old;\n"
                "ALTER TABLE tasks DROP CONSTRAINT IF EXISTS ck_old;",
                setup="CREATE TABLE tasks (id int);",
                note="SET LOCAL ended with the transaction",
            ),
        ),
        good=(
            Example(
                "SET lock_timeout = '5s';\nALTER TABLE tasks ADD COLUMN IF NOT EXISTS due_at timestamptz;",
                setup="CREATE TABLE tasks (id int);",
            ),
            Example(
                "CREATE TABLE IF NOT EXISTS labels (id int);\nALTER TABLE labels ADD COLUMN IF "
                "NOT EXISTS name text;",
                note="nobody else can hold a lock on a table created in this revision",
            ),
        ),
        check=check,
    )
)
