"""Autogenerate comparators: INVALID indexes and NOT VALID constraints become diffs.

Alembic's own comparison never sees them (``compare_metadata`` skips INVALID
indexes; the Inspector cannot tell a NOT VALID foreign key from a valid one),
so ``alembic check`` passes on a database where a concurrent index build
failed or a constraint was never validated.  This comparator reads
``pg_index.indisvalid`` and ``pg_constraint.convalidated`` for the compared
schemas and adds one operation per finding:

- an INVALID index → ``op.execute("REINDEX INDEX ...")`` (rebuilds it in
  place; SHARE lock on the table for the build).  Alembic's own comparison
  takes an INVALID index for a working one: when the metadata declares it,
  Alembic reports nothing, which is the case this comparator exists for.
  When the metadata has the table but not the index, Alembic already emits
  ``drop_index`` and nothing is added;
- a NOT VALID constraint → ``op.execute("ALTER TABLE ... VALIDATE
  CONSTRAINT ...")`` (SHARE UPDATE EXCLUSIVE: reads and writes go on).

Registered by :mod:`alembic_guard.plugin` during ``import alembic``, so this
module imports nothing from Alembic at import time.  It is opt-in, as every
plugin comparator: ``env.py`` passes ``autogenerate_plugins=
["alembic.autogenerate.*", "alembic_guard.*"]`` to ``context.configure``
(the plugin named ``alembic_guard.invalid_objects`` matches
``alembic_guard.*``; ``"alembic_guard"`` alone matches too).
"""

from __future__ import annotations

from typing import Any

from alembic_guard.model import BOOKKEEPING_TABLES
from alembic_guard.quoting import quote_ident

PLUGIN_NAME = "alembic_guard.invalid_objects"
IGNORED_TABLES = frozenset(BOOKKEEPING_TABLES)

_FINDINGS = """
SELECT 'index' AS what, n.nspname AS schema, t.relname AS tname, i.relname AS name
FROM pg_catalog.pg_index x
JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
WHERE NOT x.indisvalid AND n.nspname = ANY (CAST(:schemas AS text[]))
UNION ALL
SELECT 'constraint', n.nspname, t.relname, c.conname
FROM pg_catalog.pg_constraint c
JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
WHERE NOT c.convalidated AND c.contype IN ('f', 'c') AND n.nspname = ANY (CAST(:schemas AS text[]))
ORDER BY 2, 3, 1, 4
"""


def setup(plugin: Any) -> None:
    """Register the comparator on ``plugin`` and on a sub-plugin named :data:`PLUGIN_NAME`."""
    plugin.add_autogenerate_comparator(compare_invalid_objects, "schema", "alembic_guard_invalid")
    try:
        sub = type(plugin)(PLUGIN_NAME)
    except ValueError:  # set up once already in this process
        return
    sub.add_autogenerate_comparator(compare_invalid_objects, "schema", "alembic_guard_invalid")


def compare_invalid_objects(autogen_context: Any, upgrade_ops: Any, schemas: set[str | None]) -> Any:
    """Add an ``execute`` operation per INVALID index / NOT VALID constraint (reads pg_catalog)."""
    import sqlalchemy as sa
    from alembic.operations import ops
    from alembic.util import PriorityDispatchResult

    conn = autogen_context.connection
    if conn is None:  # offline: nothing to read
        return PriorityDispatchResult.CONTINUE
    default = conn.dialect.default_schema_name
    names = sorted({s or default for s in schemas})
    declared: set[tuple[str, str]] = set()
    modelled: set[tuple[str, str]] = set()
    for md in _metadatas(autogen_context):
        for table in md.tables.values():
            modelled.add((table.schema or default, str(table.name)))
            for ix in table.indexes:
                if ix.name:
                    declared.add((table.schema or default, str(ix.name)))
    rows = conn.execute(sa.text(_FINDINGS), {"schemas": names}).all()
    for what, schema, tname, name in rows:
        if tname in IGNORED_TABLES:
            continue
        sname = None if schema == default else schema
        if not autogen_context.run_name_filters(tname, "table", {"schema_name": sname}):
            continue
        table = quote_ident(tname) if sname is None else f"{quote_ident(schema)}.{quote_ident(tname)}"
        if what == "index":
            if (schema, tname) in modelled and (schema, name) not in declared:
                continue  # Alembic proposes drop_index for it already
            qname = quote_ident(name) if sname is None else f"{quote_ident(schema)}.{quote_ident(name)}"
            sql = f"REINDEX INDEX {qname}"
        else:
            sql = f"ALTER TABLE {table} VALIDATE CONSTRAINT {quote_ident(name)}"
        upgrade_ops.ops.append(_op_class(ops)(sql))
    return PriorityDispatchResult.CONTINUE


_OP_CLASS: list[type] = []


def _op_class(ops: Any) -> Any:
    """``ExecuteSQLOp`` that autogenerate can reverse (defined lazily: Alembic is not importable at setup)."""
    if not _OP_CLASS:

        class RepairSQLOp(ops.ExecuteSQLOp):
            """VALIDATE / REINDEX: idempotent, so the downgrade may repeat them harmlessly."""

            def reverse(self) -> Any:
                return self

        _OP_CLASS.append(RepairSQLOp)
    return _OP_CLASS[0]


def _metadatas(autogen_context: Any) -> list[Any]:
    md = autogen_context.metadata
    if md is None:
        return []
    return list(md) if isinstance(md, (list, tuple)) else [md]
