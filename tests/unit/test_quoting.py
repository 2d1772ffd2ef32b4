"""alembic_guard.quoting: names and literals that PostgreSQL reads back exactly."""

from __future__ import annotations

import pglast
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pglast import keywords

from alembic_guard.quoting import NON_UNRESERVED_KEYWORDS, quote_ident, quote_literal, quote_qualified

NAMES = [
    "plain",
    "_under$score1",
    "Up",
    "UPPER",
    'has"quote',
    '"',
    "Weird; Name",
    "with space",
    "user",
    "order",
    "select",
    "int",
    "between",
    "été",
    "naïve_col",
    "1starts_with_digit",
    "x'y",
    "a.b",
    "--comment",
]


def _parsed_column(sql_name: str) -> str:
    """The identifier pglast's parser (PostgreSQL's grammar) reads for ``sql_name`` used as a column."""
    stmt = pglast.parse_sql(f"SELECT {sql_name} FROM t")[0].stmt
    return str(stmt.targetList[0].val.fields[-1].sval)


def _parsed_relation(sql: str) -> tuple[str | None, str]:
    stmt = pglast.parse_sql(f"DROP TABLE {sql}")[0].stmt
    parts = [p.sval for p in stmt.objects[0]]
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def test_keyword_copy_matches_pglast() -> None:
    pglast_words = set(keywords.RESERVED_KEYWORDS) | set(keywords.TYPE_FUNC_NAME_KEYWORDS)
    assert pglast_words | set(keywords.COL_NAME_KEYWORDS) == NON_UNRESERVED_KEYWORDS


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("plain", "plain"),
        ("_under$score1", "_under$score1"),
        ("Up", '"Up"'),
        ('has"quote', '"has""quote"'),
        ("Weird; Name", '"Weird; Name"'),
        ("user", '"user"'),
        ("order", '"order"'),
        ("select", '"select"'),
        ("int", '"int"'),
        ("été", '"été"'),
        ("1starts_with_digit", '"1starts_with_digit"'),
        ("action", "action"),  # an unreserved keyword stays bare, as PostgreSQL's quote_ident leaves it
    ],
)
def test_quote_ident(name: str, quoted: str) -> None:
    assert quote_ident(name) == quoted


@pytest.mark.parametrize("name", NAMES)
def test_quoted_identifier_round_trips_through_the_parser(name: str) -> None:
    assert _parsed_column(quote_ident(name)) == name


_ANY_CHAR = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


@given(st.text(_ANY_CHAR, min_size=1, max_size=20))
def test_any_name_round_trips(name: str) -> None:
    assert _parsed_column(quote_ident(name)) == name


@pytest.mark.parametrize(
    ("schema", "name", "sql"),
    [
        (None, "user", '"user"'),
        ("public", "Up", '"Up"'),
        ("app", "t", "app.t"),
        ("My Schema", "order", '"My Schema"."order"'),
    ],
)
def test_quote_qualified(schema: str | None, name: str, sql: str) -> None:
    assert quote_qualified(schema, name) == sql
    want_schema = None if schema in (None, "public") else schema
    assert _parsed_relation(sql) == (want_schema, name)


@pytest.mark.parametrize("text", ["", "plain", "it's", "''", "back\\slash", "semi; DROP TABLE t; --", "été"])
def test_quote_literal_round_trips(text: str) -> None:
    stmt = pglast.parse_sql(f"SELECT {quote_literal(text)}")[0].stmt
    assert stmt.targetList[0].val.val.sval == text
