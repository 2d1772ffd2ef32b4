"""PostgreSQL as the oracle of the query analysis: CTEs, query columns, row types, column look-up.

Each fixture file below (from ``tests/fixtures/effects``, where ``test_effects.py`` checks the
analysis statement by statement) is a coherent little migration set.  Here it is planned as a
directory, then applied statement by statement, in order, on a fresh database:

- a statement the plan calls clean must apply, and every object the analysis says it creates
  must be in the catalog afterwards;
- a relation made from a query (view, materialized view, ``CREATE TABLE AS``, ``SELECT INTO``)
  must have exactly the columns the analysis derived, in order, and the types it put in the model;
- a statement the plan reports as missing something (AG102) must fail in PostgreSQL too: the
  negative cases stay errors.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from alembic_guard import changes as ch
from alembic_guard.model import ObjRef
from alembic_guard.plan import plan_directory
from alembic_guard.sql.effects import analyze_all
from alembic_guard.sql.parse import parse_text

pytestmark = pytest.mark.db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "effects"
ORACLE_FIXTURES = ("select_cte", "query_table_columns", "view_columns", "row_types", "select_columns")

_QUERY_RELATIONS = frozenset({"ViewStmt", "CreateTableAsStmt", "SelectStmt"})

_EXISTS = {
    "schema": "SELECT 1 FROM pg_namespace WHERE nspname = %(name)s",
    "extension": "SELECT 1 FROM pg_extension WHERE extname = %(name)s",
    # a temporary relation lives in the session's own schema
    "relation": """SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.relname = %(name)s AND (n.nspname = %(schema)s OR n.oid = pg_my_temp_schema())""",
    "sequence": """SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.relkind = 'S' AND c.relname = %(name)s AND n.nspname = %(schema)s""",
    "index": """SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('i', 'I') AND c.relname = %(name)s AND n.nspname = %(schema)s""",
    "type": """SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
               WHERE t.typname = %(name)s AND n.nspname = %(schema)s""",
    "function": """SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE p.proname = %(name)s AND n.nspname = %(schema)s""",
    "column": """SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relname = %(parent)s AND (n.nspname = %(schema)s OR n.oid = pg_my_temp_schema())
                   AND a.attname = %(name)s AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraint": """SELECT 1 FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE k.conname = %(name)s AND c.relname = %(parent)s AND n.nspname = %(schema)s""",
    "trigger": """SELECT 1 FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE g.tgname = %(name)s AND c.relname = %(parent)s AND n.nspname = %(schema)s""",
}

_COLUMNS = """SELECT a.attname, format_type(a.atttypid, a.atttypmod)
              FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relname = %(name)s AND (n.nspname = %(schema)s OR n.oid = pg_my_temp_schema())
                AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum"""


@pytest.fixture
def cursor(pg_url: str) -> Iterator[psycopg2.extensions.cursor]:
    conn = psycopg2.connect(pg_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.rollback()
        conn.close()


def _exists(cur: psycopg2.extensions.cursor, ref: ObjRef) -> bool:
    cur.execute(_EXISTS[ref.kind], {"schema": ref.schema, "name": ref.name, "parent": ref.parent})
    return cur.fetchone() is not None


@pytest.mark.parametrize("name", ORACLE_FIXTURES)
def test_fixture_agrees_with_postgres(name: str, tmp_path: Path, cursor: psycopg2.extensions.cursor) -> None:
    path = FIXTURES / f"{name}.sql"
    shutil.copy(path, tmp_path / f"0001_{name}.sql")
    plan = plan_directory(tmp_path)
    flagged = {(p.statements[0].line, str(p.missing)) for p in plan.problems if p.code == "AG102"}
    flagged_lines = {line for line, _ in flagged}
    assert not [p for p in plan.problems if p.severity == "error" and p.code != "AG102"], plan.problems
    assert flagged, f"{name}.sql has no negative case (a truly missing object the plan must report)"

    disagreements = []
    for a in analyze_all(parse_text(path.read_text(), path.name)):
        st, eff = a.statement, a.effect
        cursor.execute("SAVEPOINT s")
        try:
            cursor.execute(st.text)
        except psycopg2.Error as exc:
            cursor.execute("ROLLBACK TO SAVEPOINT s")
            if st.line not in flagged_lines:
                disagreements.append(f"{st.where}: clean by the plan, PostgreSQL says {exc.pgerror!s:.200}")
            continue
        if st.line in flagged_lines:
            missing = sorted(m for line, m in flagged if line == st.line)
            disagreements.append(f"{st.where}: the plan reports {missing} missing, PostgreSQL applied it")
            continue
        for ref in eff.creates + eff.ensures:
            if not _exists(cursor, ref):
                disagreements.append(f"{st.where}: analysis says it creates {ref}, the catalog has none")
        if st.kind in _QUERY_RELATIONS:
            disagreements.extend(_check_query_columns(cursor, st.where, eff))
    assert not disagreements, "\n".join(disagreements)


def _check_query_columns(cur: psycopg2.extensions.cursor, where: str, eff: object) -> list[str]:
    """The columns (and model types) the analysis derived from a query, against the catalog's."""
    out = []
    creates = eff.creates + eff.ensures  # type: ignore[attr-defined]
    open_ = {qc.relation for qc in eff.query_columns if not qc.complete}  # type: ignore[attr-defined]
    for rel in (r for r in creates if r.kind == "relation"):
        cur.execute(_COLUMNS, {"schema": rel.schema, "name": rel.name})
        live = cur.fetchall()
        derived = [r.name for r in creates if r.kind == "column" and r.parent == rel.name]
        if (rel.schema, rel.name) in open_:
            if not set(derived) <= {n for n, _ in live}:
                out.append(f"{where}: {rel} derived columns {derived}, catalog {[n for n, _ in live]}")
        elif derived != [n for n, _ in live]:
            out.append(f"{where}: {rel} derived columns {derived}, catalog {[n for n, _ in live]}")
        for c in eff.changes:  # type: ignore[attr-defined]
            if type(c) is ch.PutTable and c.table.qname == (rel.schema, rel.name):
                model = [(col.name, col.type) for col in c.table.columns]
                if model != [tuple(x) for x in live]:
                    out.append(f"{where}: {rel} model columns {model}, catalog {live}")
        live_types = dict(live)
        for qc in eff.query_columns:  # type: ignore[attr-defined]
            if qc.relation == (rel.schema, rel.name):
                for name, typ in qc.columns:
                    if typ is not None and live_types.get(name) != typ:
                        out.append(
                            f"{where}: {rel}.{name} derived type {typ}, catalog {live_types.get(name)}"
                        )
    return out
