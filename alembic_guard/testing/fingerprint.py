"""A catalog fingerprint: what a database's schema is, as comparable rows.

Used where two databases must be shown to have the same schema (a migration
set applied raw vs imported and upgraded; a guarded re-apply that must change
nothing; a failed revision that must leave the schema as it was) and where
one statement's effect is read from the catalog (the differential check of
``bench/differential.py``).  One query, read-only.

Each row is ``(kind, schema, name, parent, definition)``:

- ``kind``: ``schema``, ``relation`` (table, view, materialized view, foreign
  table), ``column``, ``index``, ``constraint``, ``sequence``, ``type``,
  ``function``, ``trigger``, ``policy``, ``extension`` - the model's kinds,
  plus ``policy``;
- ``parent``: the owning relation (or domain, for a domain's constraint) of
  columns, constraints, indexes, triggers and policies, else ``""``;
- ``definition``: what PostgreSQL says the object is (``pg_get_indexdef``,
  ``pg_get_constraintdef``, ``pg_get_viewdef``, a column's type, nullability,
  default, identity and generation ...), so a changed definition shows as a
  changed row.  Function identities carry their argument types
  (``f(integer)``) and their definitions a hash of the body.

Objects that belong to an extension are marked (``definition`` starts with
``extension ``) rather than left out, so an analysis that requires an
extension's function finds it; :func:`own` drops them.  Table row types and
array types are listed as ``type`` rows too (``row of ...``, ``array of ...``)
for the same reason.  Row counts and data are not part of it: see
:func:`row_checksums`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alembic_guard.model import QName, SchemaModel
from alembic_guard.quoting import quote_ident

__all__ = ["Row", "changed", "own", "row_checksums", "schema_fingerprint", "show"]

Row = tuple[str, str, str, str, str]

# Schemas that are PostgreSQL's own, never a migration's.
_SYSTEM = "('pg_catalog', 'information_schema', 'pg_toast')"
_USER_NS = f"n.nspname NOT IN {_SYSTEM} AND n.nspname !~ '^pg_(temp|toast_temp)_'"


def _ext(classid: str, objid: str) -> str:
    """SQL: 'extension <name> ' when the object belongs to an extension, else ''."""
    return (
        "coalesce((SELECT 'extension ' || e.extname || ' ' FROM pg_depend d "
        "JOIN pg_extension e ON e.oid = d.refobjid "
        f"WHERE d.classid = '{classid}'::regclass AND d.objid = {objid} "
        "AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' LIMIT 1), '')"
    )


_QUERY = f"""
SELECT 'schema', n.nspname, n.nspname, '', ''::text
  FROM pg_namespace n WHERE {_USER_NS}
UNION ALL
SELECT 'extension', n.nspname, e.extname, '', e.extversion
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
UNION ALL
SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'relation' END, n.nspname, c.relname, '',
       {_ext("pg_class", "c.oid")} || c.relkind::text || ' ' || c.relpersistence::text
       || CASE WHEN c.relrowsecurity THEN ' rls' ELSE '' END
       || CASE WHEN c.relforcerowsecurity THEN ' force-rls' ELSE '' END
       || CASE WHEN c.relkind IN ('v', 'm') THEN ' ' || pg_get_viewdef(c.oid) ELSE '' END
       || CASE WHEN c.relkind = 'S' THEN coalesce((
            SELECT ' ' || format_type(s.seqtypid, NULL) || ' start ' || s.seqstart || ' by '
                   || s.seqincrement || ' min ' || s.seqmin || ' max ' || s.seqmax
                   || ' cache ' || s.seqcache || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END
            FROM pg_sequence s WHERE s.seqrelid = c.oid), '')
          || coalesce((SELECT ' owned by ' || oc.relname || '.' || oa.attname FROM pg_depend d
            JOIN pg_class oc ON oc.oid = d.refobjid
            JOIN pg_attribute oa ON oa.attrelid = d.refobjid AND oa.attnum = d.refobjsubid
            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
              AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1), '')
          ELSE '' END
       || coalesce(' partition of ' || (SELECT i.inhparent::regclass::text FROM pg_inherits i
            WHERE i.inhrelid = c.oid AND c.relispartition) || ' ' || pg_get_expr(c.relpartbound, c.oid), '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND {_USER_NS}
UNION ALL
SELECT 'column', n.nspname, a.attname, c.relname,
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
       || CASE a.attidentity WHEN 'a' THEN ' identity always' WHEN 'd' THEN ' identity by default'
          ELSE '' END
       || CASE WHEN a.attgenerated = 's' THEN ' generated' ELSE '' END
       || CASE WHEN a.attcollation <> t.typcollation THEN ' collate ' || a.attcollation::regcollation::text
          ELSE '' END
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND {_USER_NS}
UNION ALL
SELECT 'index', n.nspname, ic.relname, tc.relname,
       pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' invalid' END
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class tc ON tc.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = ic.relnamespace
 WHERE {_USER_NS}
UNION ALL
SELECT 'constraint', n.nspname, co.conname, coalesce(tc.relname, ty.typname),
       pg_get_constraintdef(co.oid) || CASE WHEN co.convalidated THEN '' ELSE ' not valid' END
  FROM pg_constraint co
  JOIN pg_namespace n ON n.oid = co.connamespace
  LEFT JOIN pg_class tc ON tc.oid = co.conrelid
  LEFT JOIN pg_type ty ON ty.oid = co.contypid
 WHERE (co.conrelid <> 0 OR co.contypid <> 0) AND {_USER_NS}
UNION ALL
SELECT 'type', n.nspname, t.typname, '',
       {_ext("pg_type", "t.oid")}
       || CASE
            WHEN t.typtype = 'e' THEN 'enum ' || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ','
                 ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
            WHEN t.typtype = 'd' THEN 'domain ' || format_type(t.typbasetype, t.typtypmod)
                 || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
                 || coalesce(' default ' || t.typdefault, '')
            WHEN t.typtype = 'r' THEN 'range of ' || coalesce((SELECT format_type(r.rngsubtype, NULL)
                 FROM pg_range r WHERE r.rngtypid = t.oid), '?')
            WHEN t.typtype = 'c' AND rc.relkind = 'c' THEN 'composite ' || coalesce((
                 SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', '
                 ORDER BY a.attnum) FROM pg_attribute a
                 WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '')
            WHEN t.typtype = 'c' THEN 'row of ' || rc.relname
            WHEN t.typcategory = 'A' THEN 'array of ' || format_type(t.typelem, NULL)
            ELSE t.typtype::text
          END
  FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace
  LEFT JOIN pg_class rc ON rc.oid = t.typrelid
 WHERE {_USER_NS}
UNION ALL
SELECT 'function', n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', '',
       {_ext("pg_proc", "p.oid")} || p.prokind::text || ' ' || l.lanname
       || ' returns ' || coalesce(pg_get_function_result(p.oid), '')
       || ' ' || p.provolatile::text || CASE WHEN p.prosecdef THEN ' security definer' ELSE '' END
       || coalesce(' set ' || array_to_string(p.proconfig, ','), '')
       || ' body ' || md5(coalesce(p.prosrc, '') || coalesce(p.probin, ''))
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_language l ON l.oid = p.prolang
 WHERE {_USER_NS}
UNION ALL
SELECT 'trigger', n.nspname, tg.tgname, c.relname,
       pg_get_triggerdef(tg.oid) || CASE tg.tgenabled WHEN 'D' THEN ' disabled' ELSE '' END
  FROM pg_trigger tg
  JOIN pg_class c ON c.oid = tg.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT tg.tgisinternal AND {_USER_NS}
UNION ALL
SELECT 'policy', n.nspname, po.polname, c.relname,
       po.polcmd::text || CASE WHEN po.polpermissive THEN ' permissive' ELSE ' restrictive' END
       || ' to ' || coalesce((SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END, ','
            ORDER BY 1) FROM unnest(po.polroles) r), '')
       || coalesce(' using ' || pg_get_expr(po.polqual, po.polrelid), '')
       || coalesce(' check ' || pg_get_expr(po.polwithcheck, po.polrelid), '')
  FROM pg_policy po
  JOIN pg_class c ON c.oid = po.polrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {_USER_NS}
"""


def schema_fingerprint(conn: Any, *, exclude_tables: Iterable[str] = ()) -> frozenset[Row]:
    """The schema of the database behind ``conn`` as a set of rows (one read-only query).

    ``conn`` is a SQLAlchemy ``Connection`` or a DB-API connection.
    ``exclude_tables`` are relation names whose rows (and their columns,
    indexes, constraints, triggers, row type) are left out, in any schema:
    e.g. ``alembic_version`` and ``alembic_guard_log`` when a database built
    by Alembic is compared with one built by the raw files.
    """
    if hasattr(conn, "exec_driver_sql"):
        rows = conn.exec_driver_sql(_QUERY).fetchall()
    else:
        with conn.cursor() as cur:
            cur.execute(_QUERY)
            rows = cur.fetchall()
    skip = set(exclude_tables)
    out: set[Row] = set()
    for kind, schema, name, parent, definition in rows:
        if skip and (parent in skip or (kind in ("relation", "sequence") and name in skip)):
            continue
        if skip and kind == "type" and (name in skip or name.lstrip("_") in skip):
            continue
        owner = (
            str(definition).rsplit(" owned by ", 1)[1]
            if kind == "sequence" and " owned by " in definition
            else ""
        )
        if skip and owner and owner.rsplit(".", 1)[0] in skip:
            continue
        out.add((kind, schema, name, parent or "", str(definition)))
    return frozenset(out)


def own(rows: Iterable[Row]) -> frozenset[Row]:
    """Rows of objects that do not belong to an extension."""
    return frozenset(r for r in rows if not r[4].startswith("extension "))


def changed(
    before: Iterable[Row], after: Iterable[Row]
) -> tuple[list[Row], list[Row], list[tuple[Row, Row]]]:
    """(added, removed, changed) between two fingerprints, keyed by (kind, schema, name, parent)."""
    b = {r[:4]: r for r in before}
    a = {r[:4]: r for r in after}
    added = sorted(a[k] for k in a.keys() - b.keys())
    removed = sorted(b[k] for k in b.keys() - a.keys())
    modified = sorted((b[k], a[k]) for k in a.keys() & b.keys() if a[k] != b[k])
    return added, removed, modified


def show(row: Row) -> str:
    """``column public.users.email`` - a row's identity, for messages."""
    kind, schema, name, parent, _definition = row
    return f"{kind} {schema}.{parent + '.' if parent else ''}{name}"


def row_checksums(
    conn: Any, model: SchemaModel | None = None, *, exclude_tables: Iterable[str] = ()
) -> dict[QName, str]:
    """``{(schema, table): "<row count>:<md5 of its rows>"}``; read-only, reads every row (small data only).

    Every ordinary table of the user's schemas (not an extension's), or with
    ``model`` the tables it lists, over the columns it lists: columns added
    since are left out, so equal sums prove that the rows that were there
    still hold the values they had.  ``conn`` is a SQLAlchemy ``Connection``.
    """
    from alembic_guard.ops.base import driver_sql

    skip = set(exclude_tables)
    tables: dict[QName, tuple[str, ...] | None]
    if model is not None:
        tables = {q: tuple(c.name for c in t.columns) for q, t in sorted(model.tables.items())}
    else:
        found = conn.exec_driver_sql(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE c.relkind IN ('r', 'p') AND {_USER_NS} AND NOT EXISTS (SELECT FROM pg_depend d "
            "WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') ORDER BY 1, 2"
        ).fetchall()
        tables = {(str(schema), str(table)): None for schema, table in found}
    out: dict[QName, str] = {}
    for q, columns in tables.items():
        if q[1] in skip:
            continue
        row = "r" if columns is None else f"ROW({', '.join(f'r.{quote_ident(c)}' for c in columns) or '1'})"
        sql = (
            f"SELECT count(*) || ':' || "
            f"coalesce(md5(string_agg({row}::text, chr(10) ORDER BY {row}::text)), '') "
            f"FROM {quote_ident(q[0])}.{quote_ident(q[1])} AS r"
        )
        out[q] = str(conn.exec_driver_sql(driver_sql(conn.dialect, sql)).scalar())
    return out
