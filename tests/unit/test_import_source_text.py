"""The importer writes an expression as the user wrote it (``importer/source_text.py``), as data.

pglast's deparser spells SQL-syntax functions as plain calls (``trim(x)`` →
``pg_catalog.btrim(x)``), which PostgreSQL stores as another definition; the
catalog comparison of the whole path is ``if_not_exists_expressions`` in
tests/integration/test_realworld_fixtures.py.
"""

from __future__ import annotations

import pglast
import pytest

from alembic_guard.importer.render import render_statement
from alembic_guard.importer.source_text import expression_text, parenthesized, unparenthesized


def _check_expr(sql: str) -> tuple[object, str]:
    node = pglast.parse_sql(sql)[0].stmt
    return node.tableElts[-1].raw_expr, sql


# (CHECK expression as written, the text the importer must give back)
CASES = [
    ("char_length(trim(label)) > 0", "(char_length(trim(label)) > 0)"),
    ("substring(code from 1 for 2) <> 'zz'", "(substring(code from 1 for 2) <> 'zz')"),
    ("position('-' in code) <> 1", "(position('-' in code) <> 1)"),
    ("overlay(code placing 'ab' from 2) IS NOT NULL", "(overlay(code placing 'ab' from 2) IS NOT NULL)"),
    (
        "extract(year from made at time zone 'UTC') > 2000",
        "(extract(year from made at time zone 'UTC') > 2000)",
    ),
    ("'a' || trim(leading 'x' from code) <> 'a'", "('a' || trim(leading 'x' from code) <> 'a')"),
    ("(code) <> (label)", "((code) <> (label))"),
    ("collation for (code) IS NOT NULL", "(collation for (code) IS NOT NULL)"),
]


@pytest.mark.parametrize(("expr", "expected"), CASES, ids=[c[0] for c in CASES])
def test_check_expression_is_the_users_text(expr: str, expected: str) -> None:
    node, sql = _check_expr(f"CREATE TABLE t (code text, label text, made timestamptz, CHECK ({expr}))")
    assert expression_text(node, sql) == expected


def test_constants_without_location_come_back_exactly() -> None:
    sql = "CREATE TABLE t (a int DEFAULT -1, b text DEFAULT 'x' || trim(' y '), c int DEFAULT (1 + 2))"
    defaults = [c.constraints[0].raw_expr for c in pglast.parse_sql(sql)[0].stmt.tableElts]
    assert [expression_text(d, sql) for d in defaults] == ["-1", "'x' || trim(' y ')", "(1 + 2)"]


def test_parentheses_for_index_keys_and_checks() -> None:
    assert parenthesized("lower(a)") == "(lower(a))"
    assert parenthesized("(a) + (b)") == "((a) + (b))"
    assert parenthesized("((a ->> 'id'))") == "((a ->> 'id'))"
    assert unparenthesized("(a > 0)") == "a > 0"
    assert unparenthesized("(a) > (0)") == "(a) > (0)"


def test_rendered_ops_carry_the_users_expressions() -> None:
    """The expression key keeps its parentheses (sa.text is emitted as is), trim stays trim."""
    up = "\n".join(render_statement("CREATE UNIQUE INDEX ix ON t ((data ->> 'id'::text))").upgrade)
    assert "sa.text(\"((data ->> 'id'::text))\")" in up
    up = "\n".join(render_statement("CREATE INDEX ix ON t (a) WHERE trim(a) <> ''").upgrade)
    assert "postgresql_where=sa.text(\"trim(a) <> ''\")" in up
    up = "\n".join(
        render_statement("ALTER TABLE t ADD CONSTRAINT c CHECK (char_length(trim(a)) > 0)").upgrade
    )
    assert '"char_length(trim(a)) > 0"' in up


def test_if_not_exists_is_kept_on_the_ops() -> None:
    """IF NOT EXISTS reaches the guard: it keeps an object of another definition as PostgreSQL does."""
    for sql in (
        "CREATE INDEX IF NOT EXISTS ix ON t (a)",
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS b text",
        "CREATE TABLE IF NOT EXISTS t (a int)",
    ):
        assert "if_not_exists=True" in "\n".join(render_statement(sql).upgrade), sql
    assert "if_not_exists" not in "\n".join(render_statement("CREATE INDEX ix ON t (a)").upgrade)
