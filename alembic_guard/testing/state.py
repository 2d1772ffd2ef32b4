"""Read-only descriptions of a database to compare before and after a run: its schema, its rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from alembic_guard.model import QName, SchemaModel
from alembic_guard.quoting import quote_ident

__all__ = ["row_checksums", "schema_fingerprint"]


def schema_fingerprint(
    conn: Connection, *, exclude: tuple[str, ...] = ("alembic_guard_log",)
) -> list[tuple[Any, ...]]:
    """Tables, columns, indexes and constraints of the non-system schemas, sorted.  Read-only."""
    rows: list[tuple[Any, ...]] = []
    rows += [
        ("column", *r)
        for r in conn.execute(
            text(
                """
                SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.is_nullable,
                       coalesce(c.column_default, '')
                  FROM information_schema.columns c
                 WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema')
                   AND c.table_name <> ALL(:ex)
                """
            ),
            {"ex": list(exclude)},
        )
    ]
    rows += [
        ("index", *r)
        for r in conn.execute(
            text(
                """
                SELECT schemaname, tablename, indexdef FROM pg_indexes
                 WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND tablename <> ALL(:ex)
                """
            ),
            {"ex": list(exclude)},
        )
    ]
    rows += [
        ("constraint", *r)
        for r in conn.execute(
            text(
                """
                SELECT n.nspname, t.relname, c.conname, pg_get_constraintdef(c.oid), c.convalidated
                  FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
                  JOIN pg_namespace n ON n.oid = t.relnamespace
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND t.relname <> ALL(:ex)
                """
            ),
            {"ex": list(exclude)},
        )
    ]
    return sorted(rows, key=repr)


def row_checksums(connection: Any, model: SchemaModel) -> dict[QName, str]:
    """md5 of the rows of every table in ``model``, over the columns ``model`` lists (read-only).

    Columns added later are left out, so the figure proves the rows that were
    there, with the values they had, are unchanged.
    """
    from alembic_guard.ops.base import driver_sql

    out: dict[QName, str] = {}
    for q, table in sorted(model.tables.items()):
        t = f"{quote_ident(q[0])}.{quote_ident(q[1])}"
        cols = ", ".join(f"r.{quote_ident(c.name)}" for c in table.columns) or "1"
        sql = (
            f"SELECT coalesce(md5(string_agg(ROW({cols})::text, '|' ORDER BY ROW({cols})::text)), '') "
            f"FROM {t} AS r"
        )
        out[q] = connection.exec_driver_sql(driver_sql(connection.dialect, sql)).scalar()
    return out
