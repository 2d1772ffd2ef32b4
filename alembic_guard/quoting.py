"""SQL text for names and literals, the one place alembic_guard quotes them.

Pure: standard library only, so the pure core and the runtime can both use it
without importing a parser.  Whenever a value can travel as a bound parameter
it should; these helpers are for the names (and the rare literal) that SQL
syntax requires to be inlined in the statement text.
"""

from __future__ import annotations

import re

from alembic_guard.search_path import unqualified_schema

__all__ = ["DEFAULT_SCHEMA", "NON_UNRESERVED_KEYWORDS", "quote_ident", "quote_literal", "quote_qualified"]

DEFAULT_SCHEMA = "public"

# PostgreSQL's own quote_ident() quotes every keyword that is not UNRESERVED:
# a column-name keyword such as ``int`` or ``between`` is a valid column name
# but not a valid type, function or table name everywhere, so it is quoted
# too.  The list is pglast's (PostgreSQL 18 grammar: a superset of older
# versions' keywords, and quoting one more word than needed is harmless);
# tests/unit/test_quoting.py fails when pglast's data and this copy differ.
_KEYWORDS = """
    all analyse analyze and any array as asc asymmetric authorization between bigint binary bit
    boolean both case cast char character check coalesce collate collation column concurrently
    constraint create cross current_catalog current_date current_role current_schema
    current_time current_timestamp current_user dec decimal default deferrable desc distinct do
    else end except exists extract false fetch float for foreign freeze from full grant greatest
    group grouping having ilike in initially inner inout int integer intersect interval into is
    isnull join json json_array json_arrayagg json_exists json_object json_objectagg json_query
    json_scalar json_serialize json_table json_value lateral leading least left like limit
    localtime localtimestamp merge_action national natural nchar none normalize not notnull null
    nullif numeric offset on only or order out outer overlaps overlay placing position precision
    primary real references returning right row select session_user setof similar smallint some
    substring symmetric system_user table tablesample then time timestamp to trailing treat trim
    true union unique user using values varchar variadic verbose when where window with
    xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot
    xmlserialize xmltable
"""
NON_UNRESERVED_KEYWORDS = frozenset(_KEYWORDS.split())

_BARE = re.compile(r"[a-z_][a-z0-9_$]*")


def quote_ident(name: str) -> str:
    """``name`` as an SQL identifier: bare when PostgreSQL reads it back unchanged, else double-quoted.

    Bare only for ``[a-z_][a-z0-9_$]*`` names that are not keywords (upper
    case, spaces, ``;``, ``"`` and non-ASCII letters are quoted, embedded
    ``"`` doubled), so the result can never end or extend the statement and
    always names exactly ``name``.
    """
    if _BARE.fullmatch(name) and name not in NON_UNRESERVED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(schema: str | None, name: str) -> str:
    """A relation's (or type's) name as SQL: ``schema.name``, or ``name`` where unqualified names resolve.

    ``schema`` ``None`` or the run's :func:`~alembic_guard.search_path.unqualified_schema`
    (``public`` unless the role's ``search_path`` says otherwise) gives the bare
    name, so generated SQL reads like the SQL it came from; any other schema,
    ``public`` included when it is not first, is written out.
    """
    if schema is None or schema == unqualified_schema():
        return quote_ident(name)
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def quote_literal(text: str) -> str:
    """``text`` as an SQL string literal (``'`` doubled).

    Prefer a bound parameter; this is for the few places SQL takes no
    parameter (``ALTER TYPE ... ADD VALUE``, ``CREATE TYPE ... AS ENUM``, DDL
    rendered into a migration file).  Assumes ``standard_conforming_strings``
    (on by default since PostgreSQL 9.1), so a backslash is an ordinary character.
    """
    return "'" + text.replace("'", "''") + "'"
