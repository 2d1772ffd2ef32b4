"""AG207 require-index-for-unique-constraint: UNIQUE / PRIMARY KEY built under ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import alter_cmds, body, column_constraints, rel_qname
from alembic_guard.model import format_qname
from alembic_guard.sql.statement import Statement

_KINDS = {"CONSTR_UNIQUE": "unique constraint", "CONSTR_PRIMARY": "primary key"}


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    stmt = body(statement.node, "AlterTableStmt")
    if stmt is None:
        return
    table = rel_qname(stmt.get("relation"))
    if table is None or not scope.is_existing(table):
        return
    for cmd in alter_cmds(stmt):
        d = cmd.get("def") or {}
        if cmd.get("subtype") == "AT_AddConstraint":
            con = d.get("Constraint", {})
            kind = _KINDS.get(con.get("contype", ""))
            if kind and not con.get("indexname"):
                yield f"{kind} {con.get('conname') or '(unnamed)'} on table {format_qname(table)}"
        elif cmd.get("subtype") == "AT_AddColumn" and "ColumnDef" in d:
            for con in column_constraints(d["ColumnDef"]):
                kind = _KINDS.get(con.get("contype", ""))
                if kind:
                    yield f"{kind} on new column {format_qname(table)}.{d['ColumnDef'].get('colname', '')}"


RULE = register(
    Rule(
        code="AG207",
        problem=(
            "`ADD CONSTRAINT ... UNIQUE` / `PRIMARY KEY` builds a unique index as part of the "
            "`ALTER TABLE`, which holds ACCESS EXCLUSIVE for the whole build."
        ),
        solution=(
            "Build the unique index first with `CREATE UNIQUE INDEX CONCURRENTLY` (writes go on), "
            "then attach it: `ALTER TABLE t ADD CONSTRAINT c UNIQUE USING INDEX ix` (or `PRIMARY KEY "
            "USING INDEX`), which only takes the lock for a moment."
        ),
        bad=(
            Example(
                "ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE (email);",
                setup="CREATE TABLE users (id int, email text);",
            ),
            Example(
                "ALTER TABLE users ADD PRIMARY KEY (id);", setup="CREATE TABLE users (id int, email text);"
            ),
        ),
        good=(
            Example(
                "ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE USING INDEX ix_users_email;",
                setup=(
                    "CREATE TABLE users (id int, email text);\n"
                    "CREATE UNIQUE INDEX ix_users_email ON users (email);"
                ),
            ),
            Example(
                "CREATE TABLE IF NOT EXISTS teams (id int, slug text);\n"
                "ALTER TABLE teams ADD CONSTRAINT uq_teams_slug UNIQUE (slug);",
                note="the table is new in this revision",
            ),
        ),
        check=check,
        kinds=("AlterTableStmt",),
    )
)
