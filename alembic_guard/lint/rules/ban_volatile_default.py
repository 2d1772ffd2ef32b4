"""AG205 ban-volatile-default: ADD COLUMN that makes PostgreSQL rewrite the whole table."""

from __future__ import annotations

from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import alter_cmds, body, column_constraints, function_names, rel_qname, strings
from alembic_guard.model import SERIAL_TYPES, format_qname
from alembic_guard.sql.statement import Statement

# Volatile built-ins (and the common extension ones) seen in column defaults.
# now() / current_timestamp are STABLE: PostgreSQL 11+ stores their value once.
VOLATILE_FUNCTIONS = frozenset(
    {
        "random",
        "clock_timestamp",
        "timeofday",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "gen_random_bytes",
        "nextval",
        "setseed",
        "txid_current",
        "pg_current_xact_id",
    }
)


def _why(coldef: dict, version: int) -> str | None:
    """Why adding this column rewrites the table, or ``None`` when it does not."""
    names = strings((coldef.get("typeName") or {}).get("names"))
    if names and names[-1] in SERIAL_TYPES:
        return f"{names[-1]} fills every row from a sequence"
    for con in column_constraints(coldef):
        kind = con.get("contype")
        if kind == "CONSTR_GENERATED" and con.get("generated_kind", "s") == "s":
            return "a stored generated column is computed for every row"
        if kind == "CONSTR_IDENTITY":
            return "an identity column fills every row from a sequence"
        if kind == "CONSTR_DEFAULT":
            expr = con.get("raw_expr")
            called = [f for f in function_names(expr) if f in VOLATILE_FUNCTIONS]
            if called:
                return f"default calls volatile {called[0]}()"
            is_null = (expr or {}).get("A_Const", {}).get("isnull")
            if version < 11 and not is_null:
                return f"PostgreSQL {version} rewrites the table for any default"
    return None


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
        why = _why(coldef, scope.server_version)
        if why:
            yield f"column {format_qname(table)}.{coldef.get('colname', '')} ({why})"


RULE = register(
    Rule(
        code="AG205",
        problem=(
            "Since PostgreSQL 11 a new column with a constant or STABLE default (`now()`) is instant: "
            "the value is stored once in the catalog. A VOLATILE default (`random()`, "
            "`clock_timestamp()`, `gen_random_uuid()`, `nextval()`), a `serial` or identity column, or "
            "a stored generated column must be computed for each row, so PostgreSQL rewrites the table "
            "and its indexes while holding ACCESS EXCLUSIVE. Before PostgreSQL 11 any default rewrites."
        ),
        solution=(
            "Add the column without the default, set the default afterwards (it applies to new rows "
            "only, instantly), and backfill existing rows in small batches outside the migration's "
            "transaction."
        ),
        bad=(
            Example(
                "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS public_id uuid DEFAULT gen_random_uuid();",
                setup="CREATE TABLE tasks (id int);",
            ),
            Example(
                "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS seq bigserial;",
                setup="CREATE TABLE tasks (id int);",
            ),
            Example(
                "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS archived boolean DEFAULT false;",
                setup="CREATE TABLE tasks (id int);",
                server_version=10,
                note="before PostgreSQL 11 every default rewrites",
            ),
        ),
        good=(
            Example(
                "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS created_at timestamptz DEFAULT now();",
                setup="CREATE TABLE tasks (id int);",
                note="now() is STABLE: evaluated once, no rewrite",
            ),
            Example(
                "ALTER TABLE tasks ADD COLUMN IF NOT EXISTS public_id uuid;\n"
                "ALTER TABLE tasks ALTER COLUMN public_id SET DEFAULT gen_random_uuid();",
                setup="CREATE TABLE tasks (id int);",
            ),
            Example(
                "CREATE TABLE IF NOT EXISTS events (id int);\n"
                "ALTER TABLE events ADD COLUMN IF NOT EXISTS token uuid DEFAULT gen_random_uuid();",
                note="the table is new in this revision",
            ),
        ),
        check=check,
        kinds=("AlterTableStmt",),
    )
)
