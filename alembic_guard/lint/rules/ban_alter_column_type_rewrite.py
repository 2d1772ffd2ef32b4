"""AG206 ban-alter-column-type-rewrite: a column type change that rewrites the table."""

from __future__ import annotations

import re
from collections.abc import Iterator

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import alter_cmds, body, rel_qname, type_spec
from alembic_guard.model import format_qname
from alembic_guard.sql.statement import Statement

_SPEC = re.compile(r"^(?P<base>[^(\[]+?)(?:\((?P<mods>[^)]*)\))?(?P<arr>(?:\[\])*)$")
# binary-coercible conversions PostgreSQL performs without touching rows
_FREE_CASTS = {
    ("character varying", "text"),
    ("text", "character varying"),
    ("cidr", "inet"),
    ("bit varying", "bit varying"),
    ("character varying", "character varying"),
    ("numeric", "numeric"),
    ("text", "text"),
}


def _split(spec: str) -> tuple[str, list[int] | None, str]:
    m = _SPEC.match(spec)
    if not m:
        return spec, None, ""
    mods = m.group("mods")
    nums: list[int] | None = None
    if mods is not None:
        try:
            nums = [int(x) for x in mods.split(",")]
        except ValueError:
            nums = None
    return m.group("base").strip(), nums, m.group("arr")


def rewrites(old: str, new: str) -> bool:
    """Does changing a column from type ``old`` to ``new`` rewrite the table (PostgreSQL 9.2+)?"""
    if old == new:
        return False
    ob, om, oa = _split(old)
    nb, nm, na = _split(new)
    if oa or na or (ob, nb) not in _FREE_CASTS:
        # arrays are rewritten even when only the element's length limit grows
        return True
    if nb == "text" or nm is None:
        return False  # dropping a length limit never rewrites
    if ob == "text" or om is None:
        return True  # text -> varchar(n) must check every value
    if nb == "numeric":
        # numeric(p,s) -> numeric(p2,s): more digits, same scale, is free
        o_scale = om[1] if len(om) > 1 else 0
        n_scale = nm[1] if len(nm) > 1 else 0
        return not (nm[0] >= om[0] and n_scale == o_scale)
    return nm[0] < om[0]


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    stmt = body(statement.node, "AlterTableStmt")
    if stmt is None:
        return
    table = rel_qname(stmt.get("relation"))
    if table is None or not scope.is_existing(table):
        return
    for cmd in alter_cmds(stmt):
        coldef = (cmd.get("def") or {}).get("ColumnDef")
        if cmd.get("subtype") != "AT_AlterColumnType" or not coldef:
            continue
        name = cmd.get("name", "")
        new = type_spec(coldef.get("typeName")) or "?"
        col = scope.column(table, name)
        subject = f"column {format_qname(table)}.{name}"
        if col is None:
            yield f"{subject} (unknown type → {new})"
        elif coldef.get("raw_default") or rewrites(col.type, new):
            yield f"{subject} ({col.type} → {new})"


RULE = register(
    Rule(
        code="AG206",
        problem=(
            "`ALTER COLUMN ... TYPE` takes ACCESS EXCLUSIVE and, unless the old values are already "
            "valid in the new type, rewrites every row and rebuilds every index of the table. Free "
            "changes: `varchar(n)` → `varchar(m)` with m ≥ n, `varchar` → `text`, dropping a length "
            "limit, `numeric(p,s)` → `numeric(q,s)` with q ≥ p, `cidr` → `inet`. Everything else "
            "rewrites: `int` → `bigint`, `text` → `varchar(n)`, any `USING`, any change of an array "
            "column, and `timestamp` → `timestamptz` unless the session time zone is UTC. When the "
            "old type is unknown (no model given), the change is flagged."
        ),
        solution=(
            "Add a new column, keep both in sync (trigger or application), backfill in batches, move "
            "reads to the new column, and drop the old one in a later release."
        ),
        bad=(
            Example(
                "ALTER TABLE tasks ALTER COLUMN id TYPE bigint;",
                setup="CREATE TABLE tasks (id int, title varchar(100));",
            ),
            Example(
                "ALTER TABLE tasks ALTER COLUMN title TYPE varchar(50);",
                setup="CREATE TABLE tasks (id int, title varchar(100));",
                note="shrinking a limit checks and rewrites",
            ),
        ),
        good=(
            Example(
                "ALTER TABLE tasks ALTER COLUMN title TYPE varchar(200);",
                setup="CREATE TABLE tasks (id int, title varchar(100));",
            ),
            Example(
                "ALTER TABLE tasks ALTER COLUMN title TYPE text;",
                setup="CREATE TABLE tasks (id int, title varchar(100));",
            ),
            Example(
                "ALTER TABLE invoices ALTER COLUMN amount TYPE numeric(14,2);",
                setup="CREATE TABLE invoices (id int, amount numeric(10,2));",
            ),
        ),
        check=check,
        kinds=("AlterTableStmt",),
    )
)
