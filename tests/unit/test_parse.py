"""Splitting SQL into positioned statements.

Data first: every ``tests/fixtures/parse/<case>.sql`` has a ``<case>.expected``
listing one statement per line as ``line:col Kind | excerpt``; a
``<case>__invalid.sql`` expects the one-line error ``file:line:col: message``.
Then the invariants every statement keeps, byte-offset conversion, and a
property test against a straightforward reference computation.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pglast.parser import parse_sql_json
from pglast.parser import parse_sql_json as real_parse_sql_json

from alembic_guard.errors import SourceError
from alembic_guard.sql.parse import gc_paused, parse_source, parse_sources, parse_text
from alembic_guard.sql.source import load_directory
from alembic_guard.sql.statement import SourceFile, Statement

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parse"
CASES = sorted(p.stem for p in FIXTURES.glob("*.sql"))
VALID = [c for c in CASES if not c.endswith("__invalid")]
INVALID = [c for c in CASES if c.endswith("__invalid")]


def _read(case: str) -> tuple[str, list[str]]:
    # newline="" keeps the bytes as they are, so fixtures are parsed exactly as written
    text = (FIXTURES / f"{case}.sql").read_bytes().decode("utf-8")
    expected = (FIXTURES / f"{case}.expected").read_text(encoding="utf-8").splitlines()
    return text, expected


def _check_invariants(stmt: Statement) -> None:
    src = stmt.source
    assert src.text[stmt.offset : stmt.offset + len(stmt.text)] == stmt.text
    assert stmt.byte_offset == len(src.text[: stmt.offset].encode("utf-8"))
    assert stmt.text == stmt.text.strip()
    assert not stmt.text.endswith(";")
    assert not stmt.text.startswith(("--", "/*"))
    # the statement alone parses to the same tree kind
    (alone,) = json.loads(parse_sql_json(stmt.text))["stmts"]
    assert next(iter(alone["stmt"])) == stmt.kind


@pytest.mark.parametrize("case", VALID)
def test_parse_fixture(case: str) -> None:
    text, expected = _read(case)
    statements = parse_text(text, f"{case}.sql")
    assert [f"{s.line}:{s.col} {s.kind} | {s.excerpt(200)}" for s in statements] == expected
    assert [s.index for s in statements] == list(range(len(statements)))
    for stmt in statements:
        _check_invariants(stmt)


@pytest.mark.parametrize("case", INVALID)
def test_parse_fixture_invalid(case: str) -> None:
    text, expected = _read(case)
    with pytest.raises(SourceError) as info:
        parse_text(text, f"{case}.sql")
    err = info.value
    assert [err.message] == expected
    assert err.file == f"{case}.sql"
    assert err.exit_code == 2
    assert err.hint


def test_invalid_fixtures_exist() -> None:
    assert len(INVALID) >= 5 and len(VALID) >= 5


def test_seed_case_byte_versus_character() -> None:
    """FACTS.md: in ``-- été\\nCREATE ...`` the statement starts at byte 9, character 7."""
    (stmt,) = parse_text("-- été\nCREATE TABLE t (id int);")
    assert (stmt.offset, stmt.byte_offset, stmt.line, stmt.col) == (7, 9, 2, 1)


def _locations(node: Any, found: list[tuple[str, int]], parent: str = "") -> list[tuple[str, int]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "location" and isinstance(value, int) and value >= 0:
                found.append((parent, value))
            else:
                _locations(value, found, key)
    elif isinstance(node, list):
        for item in node:
            _locations(item, found, parent)
    return found


def test_node_locations_convert_to_real_positions() -> None:
    """A reference's byte ``location`` lands on the reference in the real file, after non-ASCII text."""
    text, _ = _read("non_ascii_comments")
    src = SourceFile(path="x.sql", text=text, base_line=3)
    statements = parse_source(src)
    index_stmt = statements[1]
    relation = index_stmt.node["IndexStmt"]["relation"]
    line, col = index_stmt.position_of_byte(relation["location"])
    real_line = text.splitlines()[line - 3]
    assert real_line[col - 1 :].startswith("café (name)")
    # every location of every statement: the statement's helper and the file's agree
    for stmt in statements:
        for _, loc in _locations(stmt.node, []):
            assert stmt.position_of_byte(loc) == src.position_of_byte(loc)
            char = src.char_offset(loc)
            assert len(text[:char].encode("utf-8")) == loc


def test_position_of_byte_for_the_statement_itself() -> None:
    (stmt,) = parse_text("/* ü */\n  SELECT 1")
    assert stmt.position_of_byte(-1) == (2, 3)
    assert stmt.position_of_byte(stmt.byte_offset) == (2, 3)


def test_base_line_shifts_lines_only() -> None:
    src = SourceFile(path="up.sql", text="SELECT 1;\n  SELECT 2;", base_line=10)
    assert [(s.line, s.col) for s in parse_source(src)] == [(10, 1), (11, 3)]
    with pytest.raises(SourceError, match=r"^up\.sql:11:3: syntax error"):
        parse_source(SourceFile(path="up.sql", text="SELECT 1;\n  SELEC 2;", base_line=10))


def test_empty_text_has_no_statements() -> None:
    assert parse_text("") == []
    assert parse_text("\n\n-- c\n") == []


def test_first_of_several_errors_is_reported() -> None:
    with pytest.raises(SourceError, match=r"^<string>:2:1: syntax error at or near \"SELEC\""):
        parse_text("SELECT 1;\nSELEC 1;\nSELEC 2;\nCREATE TABLE (;")


def _pg17_locations(text: str) -> str:
    """libpg_query before PostgreSQL 18 started each statement right after the previous semicolon."""
    tree = json.loads(real_parse_sql_json(text))
    previous_end = 0
    for entry in tree["stmts"]:
        loc, length = entry.get("stmt_location", 0), entry.get("stmt_len", 0)
        entry["stmt_location"] = previous_end
        if length:
            entry["stmt_len"] = loc + length - previous_end
            previous_end = loc + length + 1  # past the semicolon
    return json.dumps(tree)


@pytest.mark.parametrize("case", VALID)
def test_statements_start_at_their_first_token_with_older_grammars(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pglast 7 (PostgreSQL 17) includes leading comments in a statement; positions must not change."""
    text, _ = _read(case)
    current = [(s.offset, s.byte_offset, s.line, s.col, s.text) for s in parse_text(text)]
    monkeypatch.setattr("alembic_guard.sql.parse.parse_sql_json", _pg17_locations)
    older = [(s.offset, s.byte_offset, s.line, s.col, s.text) for s in parse_text(text)]
    assert older == current


def test_parse_sources_keeps_file_order_and_restores_the_collector() -> None:
    files = [SourceFile(path=f"{i}.sql", text=f"SELECT {i}; SELECT {i + 10};", order=i) for i in range(3)]
    assert gc.isenabled()
    statements = parse_sources(files)
    assert gc.isenabled()
    assert [(s.file, s.index, s.text) for s in statements] == [
        ("0.sql", 0, "SELECT 0"),
        ("0.sql", 1, "SELECT 10"),
        ("1.sql", 0, "SELECT 1"),
        ("1.sql", 1, "SELECT 11"),
        ("2.sql", 0, "SELECT 2"),
        ("2.sql", 1, "SELECT 12"),
    ]
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a collector the caller paused stays paused
    finally:
        gc.enable()


def test_generated_benchmark_set_splits_as_generated(tmp_path: Path) -> None:
    """The benchmark generator knows how many statements it wrote; the parser must find as many."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        from gen_sql import generate
    finally:
        sys.path.pop(0)
    size, count = generate(tmp_path, files=12, megabytes=0.2, seed=7)
    statements = parse_sources(load_directory(tmp_path))
    assert len(statements) == count
    assert sum(len(f.read_bytes()) for f in tmp_path.iterdir()) == size
    seen = list(dict.fromkeys(s.file for s in statements))
    assert [int(name.split("_")[0]) for name in seen] == list(range(1, 13))  # numeric, not text order
    for stmt in statements[::50]:
        _check_invariants(stmt)


# --- property test -------------------------------------------------------------------------

# no NUL (refused on purpose) and no lone surrogates (not encodable)
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).map(lambda w: "t_" + w)

_line_comment = _TEXT.map(lambda s: "-- " + s.replace("\n", " ").replace("\r", " ") + "\n")
_block_comment = _TEXT.map(lambda s: "/* " + s.replace("*/", "* /").replace("/*", "/ *") + " */")
_space = st.sampled_from([" ", "\n", "\t", "  \n\n  ", "\r\n"])
_noise = st.lists(st.one_of(_line_comment, _block_comment, _space), max_size=4).map("".join)


def _literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _ident(s: str) -> str:
    return '"' + (s or "x").replace('"', '""') + '"'


def _dollar(s: str) -> str:
    return "$$" + s.replace("$", "¤") + "$$"


_statement = st.one_of(
    st.builds(lambda t: f"CREATE TABLE {t} (id int)", _WORD),
    st.builds(lambda t, s: f"INSERT INTO {t} VALUES ({_literal(s)})", _WORD, _TEXT),
    st.builds(lambda s: f"SELECT {_literal(s)} AS {_ident(s)}", _TEXT),
    st.builds(lambda t, s: f"COMMENT ON TABLE {t} IS {_literal(s)}", _WORD, _TEXT),
    st.builds(lambda s: f"DO {_dollar(s + '; BEGIN END')}", _TEXT),
    st.builds(lambda t: f"CREATE INDEX CONCURRENTLY ON {t} (lower(name)) WHERE name <> ''", _WORD),
)
_KINDS = ("CreateStmt", "InsertStmt", "SelectStmt", "CommentStmt", "DoStmt", "IndexStmt")


_BEFORE_SEMICOLON = st.sampled_from(["", " ", "\n", " -- t\n", " /* t */"])


@given(st.lists(st.tuples(_noise, _statement, _BEFORE_SEMICOLON), max_size=8), _noise)
def test_positions_match_a_reference_computation(parts: list[tuple[str, str, str]], tail: str) -> None:
    text, expected = "", []
    for noise, stmt, before_semicolon in parts:
        text += noise
        offset = len(text)
        line = text.count("\n", 0, offset) + 1
        col = offset - (text.rfind("\n", 0, offset) + 1) + 1
        expected.append((stmt, offset, line, col, len(text.encode("utf-8"))))
        text += stmt + before_semicolon + ";"
    text += tail

    statements = parse_text(text)
    with patch("alembic_guard.sql.parse.parse_sql_json", _pg17_locations):
        older = parse_text(text)

    assert len(statements) == len(expected)
    for stmt, (body, offset, line, col, byte_offset) in zip(statements, expected, strict=True):
        assert (stmt.text, stmt.offset, stmt.line, stmt.col, stmt.byte_offset) == (
            body,
            offset,
            line,
            col,
            byte_offset,
        )
        assert stmt.kind in _KINDS
    assert [(s.text, s.offset, s.byte_offset) for s in older] == [
        (s.text, s.offset, s.byte_offset) for s in statements
    ]
