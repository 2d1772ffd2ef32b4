"""AG401 ban-concurrently-in-transaction: a CONCURRENTLY statement that cannot run in a transaction."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import alter_cmds, body
from alembic_guard.sql.statement import Statement


def _concurrent_what(node: dict) -> str | None:
    if (s := body(node, "IndexStmt")) is not None and s.get("concurrent"):
        return "CREATE INDEX CONCURRENTLY"
    if (s := body(node, "DropStmt")) is not None and s.get("concurrent"):
        return "DROP INDEX CONCURRENTLY"
    if (s := body(node, "ReindexStmt")) is not None and any(
        p.get("DefElem", {}).get("defname") == "concurrently" for p in s.get("params") or ()
    ):
        return "REINDEX CONCURRENTLY"
    if (s := body(node, "AlterTableStmt")) is not None:
        for cmd in alter_cmds(s):
            part = (cmd.get("def") or {}).get("PartitionCmd", {})
            if cmd.get("subtype") == "AT_DetachPartition" and part.get("concurrent"):
                return "DETACH PARTITION CONCURRENTLY"
    return None


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    if not scope.in_transaction:
        return
    what = _concurrent_what(statement.node)
    if what:
        yield what


RULE = register(
    Rule(
        code="AG401",
        problem=(
            "`CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX CONCURRENTLY` and "
            "`DETACH PARTITION CONCURRENTLY` refuse to run in a transaction block (`ERROR: ... cannot "
            "run inside a transaction block`), and Alembic runs every revision inside one."
        ),
        solution=(
            "Run the statement in `op.get_context().autocommit_block()`. The block commits the work "
            "before it, so keep such a revision small: a failure after the block leaves it half "
            "applied (and a failed concurrent build leaves an INVALID index to drop)."
        ),
        bad=(
            Example("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_tasks_state ON tasks (state);"),
            Example(
                "BEGIN;\nDROP INDEX CONCURRENTLY IF EXISTS ix_tasks_old;\nCOMMIT;",
                in_transaction=False,
                line=2,
                note="a raw SQL file that opens its own transaction",
            ),
        ),
        good=(
            Example(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_tasks_state ON tasks (state);",
                in_transaction=False,
                note="inside autocommit_block()",
            ),
            Example(
                "COMMIT;\nREINDEX INDEX CONCURRENTLY ix_tasks_state;\nBEGIN;",
                line=2,
                note="Alembic's offline SQL for an autocommit block",
            ),
        ),
        check=check,
        kinds=("IndexStmt", "DropStmt", "ReindexStmt", "AlterTableStmt"),
    )
)
