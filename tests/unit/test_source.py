"""Reading migration directories: layouts, order, sections, and errors.

Each directory under ``tests/fixtures/source/`` is one layout; its
``expected.<order>.txt`` lists the files in the order ``load_directory``
must return them with that ``order=``, one per line, followed by
``base_line=N`` when the up part does not start on line 1 and ``down``
when a down part was found.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from alembic_guard.errors import SourceError, UsageError
from alembic_guard.sql.parse import parse_source
from alembic_guard.sql.source import ORDERS, load_directory, load_file, sort_key

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "source"

CASES = sorted(
    (layout.name, expected.name.split(".")[1])
    for layout in FIXTURES.iterdir()
    if layout.is_dir()
    for expected in layout.glob("expected.*.txt")
)


def _describe(files: list) -> list[str]:
    lines = []
    for f in files:
        parts = [f.path]
        if f.base_line != 1:
            parts.append(f"base_line={f.base_line}")
        if f.down_text is not None:
            parts.append("down")
        lines.append(" ".join(parts))
    return lines


@pytest.mark.parametrize(("layout", "order"), CASES, ids=[f"{lay}-{o}" for lay, o in CASES])
def test_load_directory_order(layout: str, order: str) -> None:
    expected = (FIXTURES / layout / f"expected.{order}.txt").read_text().splitlines()
    files = load_directory(FIXTURES / layout, order=order)
    assert _describe(files) == expected
    assert [f.order for f in files] == list(range(len(files)))


def test_every_layout_has_an_auto_case() -> None:
    layouts = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert layouts == {layout for layout, order in CASES if order == "auto"}
    assert {order for _, order in CASES} <= set(ORDERS)


def test_checksum_is_sha256_of_the_file_bytes() -> None:
    for f in load_directory(FIXTURES / "dbmate"):
        data = (FIXTURES / "dbmate" / f.path).read_bytes()
        assert f.checksum == hashlib.sha256(data).hexdigest()


def test_up_and_down_text_of_pairs_and_sections() -> None:
    by_path = {f.path: f for f in load_directory(FIXTURES / "golang_migrate")}
    assert by_path["1_create_users.up.sql"].text == "CREATE TABLE users (id int);\n"
    assert by_path["1_create_users.up.sql"].down_text == "DROP TABLE users;\n"
    assert by_path["10_add_name.up.sql"].down_text is None

    flyway = {f.path: f for f in load_directory(FIXTURES / "flyway")}
    assert flyway["V1__init.sql"].down_text == "DROP TABLE a;\n"
    assert "U1__init.sql" not in flyway

    goose = {f.path: f for f in load_directory(FIXTURES / "goose")}
    func = goose["00002_func.sql"]
    assert func.text.startswith("-- +goose StatementBegin\nCREATE FUNCTION f()")
    assert "DROP FUNCTION" not in func.text
    assert func.down_text == "DROP FUNCTION f();\n\n"


def test_section_positions_point_into_the_real_file() -> None:
    """Statements of an up section report the line they have in the file on disk."""
    for layout in ("dbmate", "goose"):
        for f in load_directory(FIXTURES / layout):
            real_lines = (FIXTURES / layout / f.path).read_text().splitlines()
            for stmt in parse_source(f):
                assert real_lines[stmt.line - 1][stmt.col - 1 :].startswith(stmt.text.split("\n")[0])


def test_goose_statement_block_keeps_the_function_whole() -> None:
    f = next(f for f in load_directory(FIXTURES / "goose") if f.path == "00002_func.sql")
    (stmt,) = parse_source(f)
    assert stmt.kind == "CreateFunctionStmt"
    assert (stmt.line, stmt.col) == (6, 1)
    assert stmt.text.endswith("END;\n$$")


@pytest.mark.parametrize(
    ("name", "order", "expected"),
    [
        ("2_x.sql", "auto", (0, (2,))),
        ("0001_init.sql", "auto", (0, (1,))),
        ("V2__x.sql", "auto", (0, (2,))),
        ("V2.1__x.sql", "auto", (0, (2, 1))),
        ("V1_1__x.sql", "auto", (0, (1, 1))),
        ("V1.0__x.sql", "auto", (0, (1,))),
        ("v3__lower.sql", "flyway", (0, (3,))),
        ("R__views.sql", "auto", (2, ())),
        ("R__views.sql", "flyway", (2, ())),
        ("2_x.sql", "flyway", (1, ())),
        ("20240101120000_x.sql", "timestamp", (0, (20240101120000,))),
        ("2024-01-01-000000_users", "auto", (0, (20240101000000,))),
        ("2024-01-01-000000_users", "numeric", (0, (2024,))),
        ("2024_01_02_130501_x.sql", "timestamp", (0, (20240102130501,))),
        ("2024-01-02_x.sql", "auto", (0, (20240102000000,))),
        ("init.sql", "auto", (1, ())),
        ("10_x.sql", "text", (0, ())),
    ],
)
def test_sort_key(name: str, order: str, expected: tuple) -> None:
    assert sort_key(name, order)[:2] == expected
    assert sort_key(name, order)[2] == name


@pytest.mark.parametrize(
    "names",
    [
        ["1_a.sql", "2_b.sql", "10_c.sql", "100_d.sql"],
        ["V1__a.sql", "V1.1__b.sql", "V1_2__c.sql", "V2__d.sql", "V2.1__e.sql", "V10__f.sql", "R__g.sql"],
        ["20231231235959_a.sql", "20240101000000_b.sql", "20240101000001_c.sql"],
        ["1_same.sql", "01_same.sql"][::-1],  # same version: name decides ('0' < '1')
    ],
)
def test_sort_key_orders_like_the_tools(names: list[str]) -> None:
    assert sorted(reversed(names), key=sort_key) == names


def test_unknown_order_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "1.sql").write_text("SELECT 1;")
    with pytest.raises(UsageError, match="unknown file order 'semver'") as info:
        load_directory(tmp_path, order="semver")
    assert info.value.exit_code == 2
    assert "auto" in (info.value.hint or "")


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="directory not found") as info:
        load_directory(tmp_path / "nope")
    assert info.value.exit_code == 2
    assert info.value.file.endswith("nope")


def test_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "1.sql").write_text("SELECT 1;")
    with pytest.raises(SourceError, match="is not a directory"):
        load_directory(tmp_path / "1.sql")


def test_directory_without_sql_files(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("hello")
    (tmp_path / ".hidden.sql").write_text("SELECT 1;")
    with pytest.raises(SourceError, match=r"no \.sql files"):
        load_directory(tmp_path)


def test_unreadable_file(tmp_path: Path) -> None:
    # root reads any file whatever its mode, so use a dangling symlink
    (tmp_path / "1_ok.sql").write_text("SELECT 1;")
    os.symlink(tmp_path / "missing-target", tmp_path / "2_gone.sql")
    with pytest.raises(SourceError, match=r"^2_gone\.sql: cannot be read: No such file") as info:
        load_directory(tmp_path)
    assert info.value.hint


def test_non_utf8_file_names_the_first_bad_byte(tmp_path: Path) -> None:
    data = "-- ok: é\nSELECT 1;\nSELECT 'caf".encode() + b"\xe9" + b"';\n"
    (tmp_path / "1_latin1.sql").write_bytes(data)
    with pytest.raises(SourceError) as info:
        load_directory(tmp_path)
    err = info.value
    assert (err.file, err.line, err.col) == ("1_latin1.sql", 3, 12)
    bad = data.index(b"\xe9")
    assert f"byte {bad} (0xe9)" in err.message
    assert err.message.startswith("1_latin1.sql:3:12: is not valid UTF-8")
    assert err.hint and "must be UTF-8" in err.hint


def test_bom_is_stripped_but_counted_in_the_checksum(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfCREATE TABLE t (id int);\n"
    (tmp_path / "1.sql").write_bytes(data)
    (f,) = load_directory(tmp_path)
    assert f.text == "CREATE TABLE t (id int);\n"
    assert f.checksum == hashlib.sha256(data).hexdigest()
    (stmt,) = parse_source(f)
    assert (stmt.line, stmt.col, stmt.byte_offset) == (1, 1, 0)


def test_crlf_files_keep_their_positions(tmp_path: Path) -> None:
    (tmp_path / "1.sql").write_bytes(b"-- x\r\nSELECT 1;\r\n  SELECT 2 -- two\r\n;\r\n")
    (f,) = load_directory(tmp_path)
    assert [(s.line, s.col, s.text) for s in parse_source(f)] == [(2, 1, "SELECT 1"), (3, 3, "SELECT 2")]


@pytest.mark.parametrize(
    ("content", "message", "line", "col"),
    [
        ("SELECT 1;\n-- migrate:up\nSELECT 2;\n", "SQL above the first up/down section marker", 1, 1),
        ("-- note\n  DROP TABLE x;\n-- +goose Up\nSELECT 2;\n", "SQL above the first", 2, 3),
        ("-- migrate:down\nDROP TABLE t;\n", "has a down section but no up section", 1, 1),
        ("-- +goose Up\nSELECT 1;\n-- +goose Up\nSELECT 2;\n", "a second '-- \\+goose Up' marker", 3, 1),
    ],
)
def test_section_errors(tmp_path: Path, content: str, message: str, line: int, col: int) -> None:
    (tmp_path / "1_x.sql").write_text(content)
    with pytest.raises(SourceError, match=message) as info:
        load_directory(tmp_path)
    assert (info.value.file, info.value.line, info.value.col) == ("1_x.sql", line, col)


def test_comments_above_the_up_marker_are_fine(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("/* header */\n-- more\n\n-- migrate:up\nSELECT 1;\n")
    (f,) = load_directory(tmp_path)
    assert (f.text, f.base_line, f.down_text) == ("SELECT 1;\n", 5, None)


def test_load_file_reads_one_file(tmp_path: Path) -> None:
    (tmp_path / "x.sql").write_text("-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 2;\n")
    f = load_file(tmp_path / "x.sql", name="x.sql")
    assert (f.path, f.text, f.base_line, f.down_text) == ("x.sql", "SELECT 1;\n", 2, "SELECT 2;\n")


def test_order_is_deterministic_across_equal_versions(tmp_path: Path) -> None:
    for sub in ("b", "a"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "1_same.sql").write_text("SELECT 1;")
    assert [f.path for f in load_directory(tmp_path)] == ["a/1_same.sql", "b/1_same.sql"]


def test_errors_in_a_down_file_name_the_down_file(tmp_path: Path) -> None:
    (tmp_path / "undo").mkdir()
    (tmp_path / "V1__init.sql").write_text("CREATE TABLE a (id int);")
    (tmp_path / "undo" / "U1__init.sql").write_bytes(b"DROP TABLE \xff;")
    with pytest.raises(SourceError, match=r"^undo/U1__init\.sql:1:12: is not valid UTF-8"):
        load_directory(tmp_path)


def test_unlistable_subdirectory_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root lists any directory whatever its mode, so make listing fail the way os.walk reports it
    (tmp_path / "1_a.sql").write_text("SELECT 1;")
    (tmp_path / "sub").mkdir()
    real_scandir = os.scandir

    def scandir(path: object) -> object:
        if str(path).endswith("sub"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(SourceError, match=r"^sub: cannot list this directory: Permission denied"):
        load_directory(tmp_path)
