"""AG402 require-idempotent-ddl: a statement that fails when it runs a second time."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import alter_cmds, object_name, rel_qname, strings, top
from alembic_guard.model import format_qname
from alembic_guard.sql.statement import Statement

_IF_NOT_EXISTS = {
    "CreateStmt": "CREATE TABLE",
    "CreateTableAsStmt": "CREATE TABLE AS",
    "IndexStmt": "CREATE INDEX",
    "CreateSeqStmt": "CREATE SEQUENCE",
    "CreateSchemaStmt": "CREATE SCHEMA",
    "CreateExtensionStmt": "CREATE EXTENSION",
}
_OR_REPLACE = {
    "ViewStmt": "CREATE VIEW",
    "CreateFunctionStmt": "CREATE FUNCTION",
    "CreateTrigStmt": "CREATE TRIGGER",
}
_ALTER = {
    "AT_AddColumn": "ADD COLUMN without IF NOT EXISTS",
    "AT_DropColumn": "DROP COLUMN without IF EXISTS",
    "AT_DropConstraint": "DROP CONSTRAINT without IF EXISTS",
}


def _name(kind: str, stmt: dict) -> str:
    if kind == "CreateTrigStmt":
        return str(stmt.get("trigname", "?"))
    rel = (
        stmt.get("relation")
        or stmt.get("view")
        or stmt.get("sequence")
        or (stmt.get("into") or {}).get("rel")
    )
    q = rel_qname(rel) if rel else None
    if kind == "IndexStmt":
        return stmt.get("idxname") or f"(unnamed) on {format_qname(q) if q else '?'}"
    if q is not None:
        return format_qname(q)
    for key in ("schemaname", "extname"):
        if stmt.get(key):
            return str(stmt[key])
    return ".".join(strings(stmt.get("funcname"))) or "?"


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    found = top(statement.node)
    if found is None:
        return
    kind, stmt = found
    if kind in _IF_NOT_EXISTS and not stmt.get("if_not_exists"):
        yield f"{_IF_NOT_EXISTS[kind]} {_name(kind, stmt)} without IF NOT EXISTS"
    elif kind in _OR_REPLACE and not stmt.get("replace"):
        # CREATE OR REPLACE TRIGGER exists since PostgreSQL 14
        if kind != "CreateTrigStmt" or scope.server_version >= 14:
            yield f"{_OR_REPLACE[kind]} {_name(kind, stmt)} without OR REPLACE"
    elif kind == "DropStmt" and not stmt.get("missing_ok"):
        what = stmt.get("removeType", "OBJECT_?").removeprefix("OBJECT_").replace("_", " ")
        names = ", ".join(object_name(o) for o in stmt.get("objects") or ())
        yield f"DROP {what} {names or '?'} without IF EXISTS"
    elif kind == "AlterTableStmt":
        q = rel_qname(stmt.get("relation"))
        for cmd in alter_cmds(stmt):
            sub = cmd.get("subtype", "")
            if sub in _ALTER and not cmd.get("missing_ok"):
                col = (cmd.get("def") or {}).get("ColumnDef", {}).get("colname") or cmd.get("name", "")
                verb, _, rest = _ALTER[sub].partition(" without ")
                yield f"{verb} {format_qname(q) if q else '?'}.{col} without {rest}"
    elif kind == "AlterEnumStmt" and stmt.get("newVal") and not stmt.get("skipIfNewValExists"):
        yield f"ADD VALUE '{stmt['newVal']}' without IF NOT EXISTS"


RULE = register(
    Rule(
        code="AG402",
        problem=(
            "Migrations run on start-up meet databases in every state: half-applied non-transactional "
            "revisions, objects created by hand, replicas racing. A plain `CREATE TABLE`, `ADD "
            "COLUMN` or `DROP` that finds the object already there (or already gone) aborts the "
            "whole revision and the service does not start."
        ),
        solution=(
            "Use the guarded operations, which look at the schema and skip what is already done, or "
            "the idempotent SQL forms: `IF NOT EXISTS`, `IF EXISTS`, `CREATE OR REPLACE`. Note that "
            "`CREATE INDEX IF NOT EXISTS` also skips a leftover INVALID index of the same name; the "
            "guarded `create_index` rebuilds it."
        ),
        bad=(
            Example("CREATE TABLE projects (id int PRIMARY KEY);"),
            Example("ALTER TABLE tasks ADD COLUMN project_id int;", setup="CREATE TABLE tasks (id int);"),
            Example("DROP INDEX ix_tasks_old;"),
            Example("CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;"),
        ),
        good=(
            Example("CREATE TABLE IF NOT EXISTS projects (id int PRIMARY KEY);"),
            Example(
                "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS project_id int;",
                setup="CREATE TABLE tasks (id int);",
            ),
            Example(
                "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS "
                "$$BEGIN RETURN NEW; END$$;"
            ),
        ),
        check=check,
        kinds=(*_IF_NOT_EXISTS, *_OR_REPLACE, "DropStmt", "AlterTableStmt", "AlterEnumStmt"),
    )
)
