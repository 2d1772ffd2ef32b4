"""Split inline foreign keys out of a ``CREATE TABLE``.  Pure.

Two tables that reference each other inline (A's ``CREATE TABLE`` names B,
B's names A) cannot be created in any order.  PostgreSQL does not need the
keys at creation time, so the later ``CREATE TABLE`` is rewritten without
the keys that point into the cycle, and each key becomes an ``ALTER TABLE
... ADD CONSTRAINT ... FOREIGN KEY`` step that runs once both tables exist.

Only these few statements are re-parsed with pglast's Python AST (slow, but
it deparses with correct quoting); the rest of the analysis never builds it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from pglast import ast, parse_sql
from pglast.enums import ConstrType
from pglast.stream import RawStream

from alembic_guard.model import DEFAULT_SCHEMA, ObjRef
from alembic_guard.sql.statement import Effect, Requirement

__all__ = ["SplitResult", "split_foreign_keys"]


@dataclasses.dataclass(frozen=True, slots=True)
class SplitKey:
    """One foreign key taken out of a CREATE TABLE."""

    name: str
    sql: str  # ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ...
    columns: tuple[str, ...]
    ref_table: ObjRef
    ref_columns: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class SplitResult:
    create_sql: str
    keys: tuple[SplitKey, ...]


def _fk_name(table: str, columns: tuple[str, ...]) -> str:
    """The name PostgreSQL gives an unnamed foreign key (so the schema ends up identical)."""
    return f"{table}_{'_'.join(columns)}_fkey"[:63]


def split_foreign_keys(
    sql: str, targets: Collection[ObjRef], default_schema: str = DEFAULT_SCHEMA
) -> SplitResult | None:
    """Rewrite a CREATE TABLE without its foreign keys to ``targets`` (relations).

    ``None`` when the statement is not a CREATE TABLE or has no such key.
    """
    try:
        stmts = parse_sql(sql)
    except Exception:
        return None
    if len(stmts) != 1 or not isinstance(stmts[0].stmt, ast.CreateStmt):
        return None
    create = stmts[0].stmt
    table = create.relation
    if table is None or not table.relname:
        return None
    table_name: str = table.relname
    wanted = {(r.schema, r.name) for r in targets}
    table_schema = table.schemaname

    def points_into(c: ast.Constraint) -> ObjRef | None:
        if c.contype != ConstrType.CONSTR_FOREIGN or c.pktable is None:
            return None
        schema = c.pktable.schemaname or table_schema or default_schema
        key = (schema, c.pktable.relname)
        return ObjRef.relation(*key) if key in wanted else None

    keys: list[SplitKey] = []
    table_sql = RawStream()(table)
    elements = []
    for elt in create.tableElts or ():
        if isinstance(elt, ast.ColumnDef):
            kept = []
            for c in elt.constraints or ():
                ref = points_into(c) if isinstance(c, ast.Constraint) else None
                if ref is None:
                    kept.append(c)
                    continue
                cols: tuple[str, ...] = (str(elt.colname),)
                c.fk_attrs = (ast.String(sval=cols[0]),)
                keys.append(_key(c, ref, cols, table_name, table_sql))
            elt.constraints = tuple(kept) or None
            elements.append(elt)
        elif isinstance(elt, ast.Constraint) and (ref := points_into(elt)) is not None:
            cols = tuple(str(s.sval) for s in elt.fk_attrs or ())
            keys.append(_key(elt, ref, cols, table_name, table_sql))
        else:
            elements.append(elt)
    if not keys:
        return None
    create.tableElts = tuple(elements)
    return SplitResult(RawStream()(create), tuple(keys))


def _key(c: ast.Constraint, ref: ObjRef, cols: tuple[str, ...], table: str, table_sql: str) -> SplitKey:
    if not c.conname:
        c.conname = _fk_name(table, cols)
    ref_cols = tuple(str(s.sval) for s in c.pk_attrs or ())
    sql = f"ALTER TABLE {table_sql} ADD {RawStream()(c)}"
    return SplitKey(c.conname, sql, cols, ref, ref_cols)


def split_effects(effect: Effect, table: ObjRef, keys: tuple[SplitKey, ...]) -> tuple[Effect, list[Effect]]:
    """(the CREATE's effect without the split keys' needs, one effect per ALTER TABLE).

    Requirements of the CREATE on a referenced relation (and its columns) go
    to the ALTER steps; the keys' constraints move with them.
    """
    targets = {(k.ref_table.schema, k.ref_table.name) for k in keys}
    names = {k.name for k in keys}

    def to_target(r: ObjRef) -> bool:
        if r.kind == "relation":
            return (r.schema, r.name) in targets
        return r.parent is not None and (r.schema, r.parent) in targets and r.kind == "column"

    def is_key(r: ObjRef) -> bool:
        return r.kind == "constraint" and r.name in names and r.parent == table.name

    create = dataclasses.replace(
        effect,
        requires=tuple(q for q in effect.requires if not to_target(q.ref)),
        creates=tuple(r for r in effect.creates if not is_key(r)),
        ensures=tuple(r for r in effect.ensures if not is_key(r)),
    )
    alters = []
    for k in keys:
        req = [Requirement(table)]
        req += [Requirement(ObjRef.column(table.schema, table.name, c)) for c in k.columns]
        req.append(Requirement(k.ref_table))
        req += [Requirement(ObjRef.column(k.ref_table.schema, k.ref_table.name, c)) for c in k.ref_columns]
        alters.append(
            Effect(
                creates=(ObjRef("constraint", table.schema, k.name, table.name),),
                requires=tuple(req),
            )
        )
    return create, alters
