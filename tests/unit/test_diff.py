"""``diff.compare`` as data: each fixture in tests/fixtures/drift gives two schemas and their drift.

A fixture has an ``-- expected`` and a ``-- live`` section of SQL (replayed into
models, no database) and a ``-- drift`` section listing ``code id object`` per
line; its ``-- plan`` sections are checked by test_repair_plan.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alembic_guard.changes import replay
from alembic_guard.diff import DRIFT_KINDS, compare, normalize_expression
from alembic_guard.model import Column, Index, ObjRef, SchemaModel, Table
from alembic_guard.sql.effects import analyze_all
from alembic_guard.sql.parse import parse_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "drift"
CASES = sorted(p.stem for p in FIXTURES.glob("*.sql"))


def sections(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in (FIXTURES / f"{name}.sql").read_text().splitlines():
        header = line[3:].strip() if line.startswith("-- ") else None
        if header in ("expected", "live", "drift", "plan", "plan --allow-destructive"):
            current = header
            out[current] = []
        elif current is not None and line.strip():
            out[current].append(line)
    return out


def model(sql: str, name: str) -> SchemaModel:
    return replay(analyze_all(parse_text(sql, name)))


def models(name: str) -> tuple[SchemaModel, SchemaModel]:
    s = sections(name)
    return model("\n".join(s["expected"]), f"{name}:expected"), model("\n".join(s["live"]), f"{name}:live")


@pytest.mark.parametrize("case", CASES)
def test_compare(case: str) -> None:
    expected, live = models(case)
    got = [f"{d.kind} {d.ref}" for d in compare(expected, live, compare_expressions=True)]
    assert got == sections(case)["drift"]


@pytest.mark.parametrize("case", CASES)
def test_a_schema_has_no_drift_against_itself(case: str) -> None:
    expected, live = models(case)
    assert compare(expected, expected.copy(), compare_expressions=True) == []
    assert compare(live, live.copy(), compare_expressions=True) == []


def test_every_drift_carries_severity_harm_and_fix() -> None:
    expected, live = models("destructive_changes")
    drifts = compare(expected, live)
    by_id = {d.id: d for d in drifts}
    t = by_id["column-type"]
    assert (t.code, t.severity, t.expected, t.actual) == ("AG503", "error", "character varying(100)", "text")
    assert t.message.startswith("the column is text, not character varying(100): values may be truncated")
    assert "--allow-destructive" in t.hint
    assert by_id["extra-table"].severity == "warning"
    assert t.render() == f"AG503 column-type column tasks.title: {t.message}"


def test_codes_and_ids_are_unique_and_stable() -> None:
    codes = [k.code for k in DRIFT_KINDS.values()]
    assert len(set(codes)) == len(codes)
    assert DRIFT_KINDS["missing-column"].code == "AG501"
    assert DRIFT_KINDS["invalid-index"].code == "AG506"
    assert DRIFT_KINDS["missing-enum-value"].code == "AG515"


def test_bookkeeping_tables_and_foreign_schemas_are_ignored() -> None:
    expected = SchemaModel()
    live = SchemaModel(schemas={"public", "other"})
    live.put_table(
        Table("public", "alembic_version", (Column("version_num", "character varying(32)", False),))
    )
    live.put_table(Table("public", "alembic_guard_log", ()))
    live.put_table(Table("other", "their_table", ()))
    assert compare(expected, live) == []
    assert [d.ref for d in compare(expected, live, ignore_tables=())] == [
        ObjRef.relation("public", "alembic_guard_log"),
        ObjRef.relation("public", "alembic_version"),
    ]


def test_invalid_index_and_expressions_only_when_asked() -> None:
    t = Table("public", "t", (Column("s", "text", True, "'a'::text"),))
    expected, live = SchemaModel(), SchemaModel()
    expected.put_table(t)
    live.put_table(Table("public", "t", (Column("s", "text", True, "'b'"),)))
    expected.put_index(Index("public", "ix", ("public", "t"), ("s",), predicate="s <> 'x'"))
    live.put_index(Index("public", "ix", ("public", "t"), ("s",), predicate="s <> 'y'", valid=False))
    assert [d.kind for d in compare(expected, live)] == ["AG506 invalid-index"]
    assert [d.kind for d in compare(expected, live, compare_expressions=True)] == [
        "AG507 index-definition",
        "AG516 column-default",
    ]


@pytest.mark.parametrize(
    ("source", "catalog"),
    [
        ("'todo'", "'todo'::character varying"),
        ("status <> 'done'", "((status)::text <> 'done'::text)"),
        ("n > 0", "(n > 0)"),
        ("now()", "now()"),
        ("lower(Status)", "lower((status)::text)"),
        ("created_at > '2020-01-01'", "(created_at > '2020-01-01'::timestamp with time zone)"),
        ("id = ANY (ARRAY[1, 2])", "(id = ANY (ARRAY[1, 2]::integer[]))"),
    ],
)
def test_normalize_expression_removes_catalog_spelling(source: str, catalog: str) -> None:
    assert normalize_expression(source) == normalize_expression(catalog)


def test_normalize_expression_keeps_literals_apart() -> None:
    assert normalize_expression("'Todo'") != normalize_expression("'todo'")
    assert normalize_expression("'a  b'") != normalize_expression("'a b'")
    assert normalize_expression("n > 0") != normalize_expression("n > 1")


def test_diff_and_repair_planning_are_pure() -> None:
    code = (
        "import sys, alembic_guard.diff, alembic_guard.repair.plan;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic', 'psycopg2')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_docs_list_every_drift_code() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "drift-and-repair.md").read_text()
    for k in DRIFT_KINDS.values():
        assert f"| {k.code} | {k.id} | {k.severity} | {k.summary} | {k.help} |" in doc, k.code


def test_messages_say_each_thing_once_and_speak_of_duplicates_only_for_unique_indexes() -> None:
    """Issue 12 item 11: "no revision creates this column: no revision creates it, so ..." and a
    non-unique missing index said to "let duplicates in"."""
    expected = model(
        "CREATE TABLE t (a int, b int);\nCREATE INDEX ix_t_a ON t (a);\nCREATE UNIQUE INDEX ux_t_b ON t (b);",
        "expected",
    )
    live = model("CREATE TABLE t (a int, b int, c int);\nCREATE TABLE u (x int);", "live")
    by_object = {d.ref.describe(): d.message for d in compare(expected, live)}
    for message in by_object.values():
        first, _, rest = message.partition(": ")
        assert "no revision creates" not in first or "no revision creates" not in rest, message
    assert "duplicates" not in by_object["index ix_t_a"]
    assert "duplicates" in by_object["index ux_t_b"]
    assert by_object["column t.c"].count("no revision creates") == 1
    assert by_object["relation u"].count("no revision creates") == 1


def test_a_function_created_unqualified_lands_in_the_first_schema_of_the_search_path() -> None:
    """Issue 10: ``ALTER DATABASE ... SET search_path = app, public`` puts an unqualified CREATE
    FUNCTION in ``app``; the replayed model files it under ``public``."""
    expected = model("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';", "expected")
    live = model("CREATE SCHEMA app; CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS 'SELECT 1';", "live")
    assert [d.id for d in compare(expected, live)] == ["missing-function"]
    assert compare(expected, live, search_path=("app", "public")) == []
    # only where the path says: a function of that name in a schema off the path is no excuse
    assert [d.id for d in compare(expected, live, search_path=("other", "public"))] == ["missing-function"]


def test_every_bookkeeping_table_is_left_out_of_drift_snapshots_and_autogenerate() -> None:
    """The lease lock's table (``alembic_guard_lock``) showed up as drift (AG511) after every guarded
    upgrade, and as a difference in the pytest plugin's round trips."""
    from alembic_guard.autogen import IGNORED_TABLES
    from alembic_guard.diff import DEFAULT_IGNORED
    from alembic_guard.live.snapshot import BOOKKEEPING_TABLES
    from alembic_guard.runtime.lease import LOCK_TABLE
    from alembic_guard.runtime.ledger import LEDGER_TABLE

    ours = {"alembic_version", LEDGER_TABLE, LOCK_TABLE}
    assert set(DEFAULT_IGNORED) == set(BOOKKEEPING_TABLES) == set(IGNORED_TABLES) == ours
