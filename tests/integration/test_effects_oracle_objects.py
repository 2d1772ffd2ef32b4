"""PostgreSQL is the oracle: what the analysis claims a statement creates or drops, the catalog shows.

Each fixture below (``tests/fixtures/effects/<name>.sql``, the same files the
effect tests read as data) is applied statement by statement on a fresh
database.  After each statement every object the analysis says it creates or
ensures must exist in the catalog, and every object it says it drops must be
gone: the implicit sequence of a ``serial`` column, the index behind a
primary key, the index a partitioned index builds on a partition, the
constraint renamed with its index, ...  After a statement with dynamic SQL,
every relation it made must match one of the patterns the analysis gave for
it.  A claim the catalog contradicts is a defect of the analysis.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alembic_guard.model import ObjRef
from alembic_guard.plan import may_create
from alembic_guard.quoting import quote_ident
from alembic_guard.sql.effects import analyze_all
from alembic_guard.sql.parse import parse_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "effects"
# fixtures that apply cleanly, in order, on an empty database
ORACLE_FIXTURES = ("implicit_objects", "function_bodies_dynamic", "dynamic_sql_templates")

_REL = "to_regclass(:rel)"
_EXISTS: dict[str, str] = {
    "relation": f"SELECT 1 FROM pg_class WHERE oid = {_REL} AND relkind IN ('r', 'p', 'v', 'm', 'f')",
    "index": f"SELECT 1 FROM pg_class WHERE oid = {_REL} AND relkind IN ('i', 'I')",
    "sequence": f"SELECT 1 FROM pg_class WHERE oid = {_REL} AND relkind = 'S'",
    "column": "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:parent) AND attname = :name"
    " AND NOT attisdropped AND attnum > 0",
    "constraint": "SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass(:parent) AND conname = :name",
    "trigger": "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(:parent) AND tgname = :name",
    "type": "SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
    " WHERE n.nspname = :schema AND t.typname = :name",
    "function": "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
    " WHERE n.nspname = :schema AND p.proname = :name",
    "schema": "SELECT 1 FROM pg_namespace WHERE nspname = :name",
    "extension": "SELECT 1 FROM pg_extension WHERE extname = :name",
}


def exists(conn: sa.Connection, ref: ObjRef) -> bool:
    """Whether the catalog has ``ref`` (read-only)."""
    params: dict[str, Any] = {"schema": ref.schema, "name": ref.name}
    params["rel"] = f"{quote_ident(ref.schema)}.{quote_ident(ref.name)}"
    if ref.parent is not None:
        params["parent"] = f"{quote_ident(ref.schema)}.{quote_ident(ref.parent)}"
    return conn.execute(sa.text(_EXISTS[ref.kind]), params).first() is not None


_RELATIONS = (
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg_toast%'"
)


def relations(conn: sa.Connection) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in conn.execute(sa.text(_RELATIONS))}


@pytest.fixture
def conn(pg_url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            yield c
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", ORACLE_FIXTURES)
def test_claims_of_each_statement_hold_in_the_catalog(conn: sa.Connection, name: str) -> None:
    text = (FIXTURES / f"{name}.sql").read_text()
    wrong: list[str] = []
    checked = 0
    for a in analyze_all(parse_text(text, f"{name}.sql")):
        before = relations(conn) if a.effect.dynamic else set()
        with conn.connection.dbapi_connection.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(a.statement.text)  # no parameters: a % in the SQL stays as written
        eff = a.effect
        if eff.dynamic:
            # whatever dynamic SQL made, the statement's patterns must have said it may
            for q in sorted(relations(conn) - before):
                checked += 1
                if not may_create(eff.dynamic, ObjRef.relation(*q)):
                    wrong.append(f"{a.statement.where}: made {q}, which none of {eff.dynamic} covers")
        for ref in eff.creates + eff.ensures:
            checked += 1
            if not exists(conn, ref):
                wrong.append(f"{a.statement.where}: claims to create {ref}, the catalog has no such object")
        for ref in eff.drops:
            checked += 1
            if exists(conn, ref):
                wrong.append(f"{a.statement.where}: claims to drop {ref}, the catalog still has it")
    assert checked > 0
    assert not wrong, "\n".join(wrong)


def test_a_conditional_drop_keeps_its_place_and_the_view_survives(conn: sa.Connection) -> None:
    """Issue 10's silent wrong reorder: moved after the CREATE VIEW, the DO block dropped it."""
    from alembic_guard.plan import plan_directory

    case = Path(__file__).resolve().parent.parent / "fixtures" / "plan" / "conditional_drop_keeps_order"
    result = plan_directory(case)
    assert result.ok and not any(s.moved for s in result.steps)
    for step in result.steps:
        conn.exec_driver_sql(step.sql)
    assert exists(conn, ObjRef.relation("public", "order_totals"))
