"""Where unqualified names resolve: the run's search path, a declared setting, quoting that follows it."""

from __future__ import annotations

import pytest

from alembic_guard.errors import UsageError
from alembic_guard.ops.base import qname_of
from alembic_guard.quoting import quote_qualified
from alembic_guard.runtime.config import make_settings
from alembic_guard.search_path import (
    as_search_path,
    op_schema,
    resolving_in,
    split_search_path,
    unqualified_schema,
)


def test_names_resolve_in_public_unless_a_run_says_otherwise() -> None:
    assert qname_of("t", None) == ("public", "t")
    with resolving_in(("app", "public")):
        assert unqualified_schema() == "app"
        assert qname_of("t", None) == ("app", "t")
        assert qname_of("t", "public") == ("public", "t")
        # public is no longer where a bare name lands: it is written out, app is not
        assert quote_qualified("public", "t") == "public.t"
        assert quote_qualified("app", "t") == "t"
        assert (op_schema("app"), op_schema("public")) == (None, "public")
    assert qname_of("t", None) == ("public", "t")
    assert quote_qualified("public", "t") == "t"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("storage, public, extensions", ("storage", "public", "extensions")),
        (["App", "public"], ("app", "public")),
        ('"$user", "My Schema", public', ("My Schema", "public")),
    ],
)
def test_a_declared_search_path_is_read_as_postgresql_reads_it(value: object, path: tuple[str, ...]) -> None:
    assert make_settings(search_path=value).search_path == path


def test_a_search_path_naming_no_schema_is_refused() -> None:
    with pytest.raises(UsageError, match=r"search_path .* names no schema"):
        make_settings(search_path='"$user"')


def test_split_keeps_quoted_names() -> None:
    assert split_search_path('A, "B""c" ,, d') == ("a", 'B"c', "d")


@pytest.mark.parametrize(
    ("setting", "existing", "path"),
    [
        ('"$user", public', ["public"], ("public",)),  # PostgreSQL's default, no schema of the role
        ('"$user", public', ["app", "public"], ("app", "public")),  # the role's own schema exists
        ("storage, public, extensions", ["public"], ("storage", "public", "extensions")),  # made later
        ("", [], ("public",)),
    ],
)
def test_the_live_path_is_the_setting(setting: str, existing: list[str], path: tuple[str, ...]) -> None:
    assert as_search_path(setting, "app", existing) == path
