"""Objects from outside the set: declared in [tool.alembic_guard], in a stub SQL file, or known
from an extension (tests/fixtures/outside).  A truly missing object is still AG102."""

from __future__ import annotations

from pathlib import Path

import pytest

from alembic_guard.errors import UsageError
from alembic_guard.model import ObjRef
from alembic_guard.outside import declared, from_sql, load
from alembic_guard.plan import plan_directory
from alembic_guard.runtime.config import load_settings

CASE = Path(__file__).resolve().parent.parent / "fixtures" / "outside"
UUID_OSSP = {"uuid-ossp": (ObjRef("function", "", "uuid_generate_v4"), ObjRef("function", "", "uuid_nil"))}


def codes(result: object) -> list[tuple[str, str]]:
    return [(p.code, str(p.missing)) for p in result.problems]  # type: ignore[attr-defined]


def test_without_declarations_the_platform_objects_are_missing() -> None:
    got = codes(plan_directory(CASE / "sql", extension_lookup=lambda wanted: UUID_OSSP))
    assert ("AG102", "relation auth.users") in got and ("AG102", "function auth.uid") in got


def test_a_stub_sql_file_declares_them() -> None:
    result = plan_directory(
        CASE / "sql", outside=from_sql(CASE / "outside.sql"), extension_lookup=lambda w: UUID_OSSP
    )
    assert result.ok and result.problems == ()


def test_declared_by_kind_and_name_any_column_of_a_table_counts() -> None:
    decl = {
        "schemas": ["auth"],
        "tables": ["auth.users"],
        "functions": ["auth.uid", "auth.audit_row"],
        "roles": ["authenticated"],
    }
    result = plan_directory(
        CASE / "sql", outside=declared(decl, "test"), extension_lookup=lambda w: UUID_OSSP
    )
    assert result.ok and result.problems == ()


def test_a_truly_missing_object_is_still_reported() -> None:
    decl = {"tables": ["auth.users"], "functions": ["auth.uid"]}  # auth.audit_row forgotten
    got = codes(
        plan_directory(CASE / "sql", outside=declared(decl, "test"), extension_lookup=lambda w: UUID_OSSP)
    )
    assert got == [("AG102", "function auth.audit_row")]


def test_an_extension_whose_objects_are_unknown_gives_warnings_not_errors() -> None:
    outside = from_sql(CASE / "outside.sql")
    result = plan_directory(CASE / "sql", outside=outside)  # no database: nothing to ask
    assert result.ok
    assert codes(result) == [("AG107", "function extensions.uuid_generate_v4")]
    # with the extension's objects known, a name it does not provide is an error again
    known = {"uuid-ossp": (ObjRef("function", "", "uuid_nil"),)}
    result = plan_directory(CASE / "sql", outside=outside, extension_lookup=lambda w: known)
    assert codes(result) == [("AG102", "function extensions.uuid_generate_v4")]


def test_pyproject_declarations_and_stub_path(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "outside.sql").write_text((CASE / "outside.sql").read_text())
    (tmp_path / "pyproject.toml").write_text(
        '[tool.alembic_guard]\npolicy = "strict"\noutside_sql = "db/outside.sql"\n'
        'outside_objects = {roles = ["authenticated"]}\n'
    )
    got = load(pyproject=tmp_path / "pyproject.toml")
    assert got.model.has(ObjRef("function", "auth", "uid")) and got.roles == frozenset({"authenticated"})
    assert len(got.sources) == 2
    # the runtime settings read the same section and leave these keys to planning
    assert load_settings(pyproject_path=tmp_path / "pyproject.toml", environ={}).policy == "strict"


@pytest.mark.parametrize(
    ("decl", "words"),
    [
        ({"tabels": ["auth.users"]}, "unknown kind 'tabels'"),
        ({"tables": "auth.users"}, "tables must be a list of names"),
        (["auth.users"], "must be a table of kinds to names"),
    ],
)
def test_bad_declarations_are_one_clear_usage_error(decl: object, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        declared(decl, "pyproject.toml [tool.alembic_guard] outside_objects")  # type: ignore[arg-type]


SEARCH_PATH_CASE = CASE.parent / "search_path"


def test_unqualified_names_go_where_the_declared_search_path_puts_them() -> None:
    """A set run with ``search_path = media, public`` creates its unqualified names in media and
    names them media.* later: undeclared, every such reference is AG102."""
    assert ("AG102", "relation media.buckets") in codes(plan_directory(SEARCH_PATH_CASE / "sql"))
    stub = from_sql(SEARCH_PATH_CASE / "outside.sql")  # ALTER DATABASE ... SET search_path
    assert stub.search_path == ("media", "public")
    result = plan_directory(SEARCH_PATH_CASE / "sql", outside=stub)
    assert result.ok and result.problems == ()
    created = {str(r) for s in result.steps for r in s.effect.creates}
    assert {"relation media.buckets", "relation media.files", "function media.lower_name"} <= created


def test_search_path_in_pyproject_wins_over_the_stub(tmp_path: Path) -> None:
    (tmp_path / "stub.sql").write_text("CREATE SCHEMA media;\nALTER DATABASE x SET search_path = other;\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.alembic_guard]\noutside_sql = "stub.sql"\nsearch_path = "media, public"\n'
    )
    outside = load(pyproject=tmp_path / "pyproject.toml")
    assert outside.search_path == ("media", "public")
    assert plan_directory(SEARCH_PATH_CASE / "sql", outside=outside).ok
    # the same key is the runtime's setting for work without a database
    assert load_settings(pyproject_path=tmp_path / "pyproject.toml").search_path == ("media", "public")


def test_a_reset_search_path_declares_none(tmp_path: Path) -> None:
    stub = tmp_path / "stub.sql"
    stub.write_text("ALTER ROLE app SET search_path = media;\nALTER ROLE app RESET search_path;\n")
    assert from_sql(stub).search_path is None
