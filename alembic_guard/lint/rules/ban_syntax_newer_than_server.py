"""AG701 ban-syntax-newer-than-server: a statement the target PostgreSQL version cannot run.

Our parser (pglast) speaks the newest PostgreSQL's grammar, so it accepts
``MERGE ... RETURNING`` or a ``VIRTUAL`` generated column whatever server the
migrations will meet; without this rule such a statement passes every check
and fails at deploy time.  Each feature below names the first major version
that runs it; ``tests/integration/test_server_features.py`` runs every sample
on the suite's server and checks that exactly the features at or below its
version are accepted — PostgreSQL, not this table, is the authority.

The rule fires only when the target version is *known* (``--database``, or the
profile's ``server_version``): guessing would fail CI on syntax the real
servers run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from alembic_guard.lint.base import Example, Rule, Scope, register
from alembic_guard.lint.nodes import Node, strings, walk
from alembic_guard.sql.statement import Statement

__all__ = ["FEATURES", "Feature", "features_of"]


@dataclass(frozen=True, slots=True)
class Feature:
    """One piece of syntax, the first major version that accepts it, and how to see it in a parse tree."""

    name: str
    since: int
    # true when the node (one dict of the parse tree) is this feature
    test: Callable[[Node], bool]
    # a statement that uses it (run by the oracle test after SAMPLE_SETUP)
    sample: str


def _kind(kind: str) -> Callable[[Node], bool]:
    return lambda n: kind in n


def _merge_when(match_kind: str) -> Callable[[Node], bool]:
    return lambda n: n.get("MergeWhenClause", {}).get("matchKind") == match_kind


def _merge_returning(n: Node) -> bool:
    m = n.get("MergeStmt")
    return bool(m and (m.get("returningClause") or m.get("returningList")))


def _nulls_not_distinct(n: Node) -> bool:
    return any(n.get(kind, {}).get("nulls_not_distinct") for kind in ("Constraint", "IndexStmt"))


def _alter_subtype(subtype: str) -> Callable[[Node], bool]:
    return lambda n: n.get("AlterTableCmd", {}).get("subtype") == subtype


def _system_user(n: Node) -> bool:
    f = n.get("FuncCall")
    return bool(
        f
        and f.get("funcformat") == "COERCE_SQL_SYNTAX"
        and strings(f.get("funcname"))[-1:] == ["system_user"]
    )


def _virtual_generated(n: Node) -> bool:
    c = n.get("Constraint")
    return bool(c and c.get("contype") == "CONSTR_GENERATED" and c.get("generated_kind") == "v")


def _not_enforced(n: Node) -> bool:
    c = n.get("Constraint")
    if not c:
        return False
    if c.get("contype") in ("CONSTR_ATTR_NOT_ENFORCED", "CONSTR_ATTR_ENFORCED"):
        return True
    # the parser leaves is_enforced out when false: a table CHECK / FOREIGN KEY ... NOT ENFORCED
    return c.get("contype") in ("CONSTR_CHECK", "CONSTR_FOREIGN") and not c.get("is_enforced")


def _temporal_key(n: Node) -> bool:
    c = n.get("Constraint")
    return bool(c and (c.get("without_overlaps") or c.get("fk_with_period") or c.get("pk_with_period")))


def _returning_old_new(n: Node) -> bool:
    r = n.get("returningClause")
    if not isinstance(r, dict):
        return False
    if r.get("options"):
        return True
    # RETURNING old.x / new.x: before 18 these name FROM items, which a DML statement's target is not
    for item in walk(r.get("exprs")):
        fields = item.get("ColumnRef", {}).get("fields")
        if fields and len(fields) > 1 and strings(fields[:1]) in (["old"], ["new"]):
            return True
    return False


def _not_null_table_constraint(n: Node) -> bool:
    c = n.get("Constraint")
    # a column's own NOT NULL has no keys; ``NOT NULL col`` as a table constraint has
    return bool(c and c.get("contype") == "CONSTR_NOTNULL" and c.get("keys"))


FEATURES: tuple[Feature, ...] = (
    Feature("MERGE", 15, _kind("MergeStmt"), "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE"),
    Feature(
        "UNIQUE ... NULLS NOT DISTINCT",
        15,
        _nulls_not_distinct,
        "CREATE UNIQUE INDEX t_v_nnd ON t (v) NULLS NOT DISTINCT",
    ),
    Feature(
        "ALTER TABLE ... SET ACCESS METHOD",
        15,
        _alter_subtype("AT_SetAccessMethod"),
        "ALTER TABLE t SET ACCESS METHOD heap",
    ),
    Feature("IS JSON", 16, _kind("JsonIsPredicate"), "SELECT '{}' IS JSON OBJECT"),
    Feature(
        "JSON_OBJECT / JSON_ARRAY constructors",
        16,
        lambda n: any(
            k in n for k in ("JsonObjectConstructor", "JsonArrayConstructor", "JsonArrayQueryConstructor")
        ),
        "SELECT JSON_OBJECT('a': 1)",
    ),
    Feature(
        "JSON_OBJECTAGG / JSON_ARRAYAGG",
        16,
        lambda n: "JsonObjectAgg" in n or "JsonArrayAgg" in n,
        "SELECT JSON_ARRAYAGG(v) FROM t",
    ),
    Feature("SYSTEM_USER", 16, _system_user, "SELECT SYSTEM_USER"),
    Feature(
        "MERGE ... RETURNING",
        17,
        _merge_returning,
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE RETURNING t.id",
    ),
    Feature(
        "MERGE ... WHEN NOT MATCHED BY SOURCE",
        17,
        _merge_when("MERGE_WHEN_NOT_MATCHED_BY_SOURCE"),
        "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE",
    ),
    Feature(
        "JSON_TABLE",
        17,
        _kind("JsonTable"),
        "SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (a int PATH '$')) AS jt",
    ),
    Feature(
        "JSON_QUERY / JSON_VALUE / JSON_EXISTS",
        17,
        _kind("JsonFuncExpr"),
        "SELECT JSON_VALUE('{\"a\": 1}', '$.a')",
    ),
    Feature(
        "JSON_SCALAR / JSON_SERIALIZE",
        17,
        lambda n: "JsonScalarExpr" in n or "JsonSerializeExpr" in n,
        "SELECT JSON_SCALAR(1)",
    ),
    Feature(
        "ALTER COLUMN ... SET EXPRESSION",
        17,
        _alter_subtype("AT_SetExpression"),
        "ALTER TABLE g ALTER COLUMN b SET EXPRESSION AS (a * 3)",
    ),
    Feature(
        "virtual generated column (GENERATED ALWAYS AS (...) without STORED)",
        18,
        _virtual_generated,
        "CREATE TABLE g_virtual (a int, b int GENERATED ALWAYS AS (a * 2))",
    ),
    Feature(
        "NOT ENFORCED constraint",
        18,
        _not_enforced,
        "ALTER TABLE t ADD CONSTRAINT t_v_positive CHECK (v > 0) NOT ENFORCED",
    ),
    Feature(
        "WITHOUT OVERLAPS / PERIOD key",
        18,
        _temporal_key,
        "CREATE TABLE booking (room int, during tstzrange, PRIMARY KEY (room, during WITHOUT OVERLAPS))",
    ),
    Feature("RETURNING old / new", 18, _returning_old_new, "UPDATE t SET v = 1 RETURNING old.v, new.v"),
    Feature(
        "NOT NULL as a table constraint",
        18,
        _not_null_table_constraint,
        "ALTER TABLE s ADD CONSTRAINT s_v_not_null NOT NULL v",
    ),
)

SAMPLE_SETUP = (
    "CREATE EXTENSION IF NOT EXISTS btree_gist;\n"
    "CREATE TABLE t (id int PRIMARY KEY, v int);\n"
    "CREATE TABLE s (id int, v int);\n"
    "CREATE TABLE g (a int, b int GENERATED ALWAYS AS (a * 2) STORED);\n"
)
"""What every feature's sample runs after (the oracle test applies it first)."""

NEWEST_KNOWN = max(f.since for f in FEATURES)

# Words one of the features needs in the statement's text: a statement without
# any of them is not walked (most statements of a migration set).
_HINT = re.compile(
    r"merge|nulls\s+not\s+distinct|access\s+method|json|system_user|expression|generated|enforced"
    r"|overlaps|period|returning|not\s+null",
    re.IGNORECASE,
)


def features_of(node: Node, text: str) -> list[Feature]:
    """The features of :data:`FEATURES` that a statement uses, newest first, each once.  Pure."""
    if not _HINT.search(text):
        return []
    found: dict[str, Feature] = {}
    for item in walk(node):
        for feature in FEATURES:
            if feature.name not in found and feature.test(item):
                found[feature.name] = feature
    return sorted(found.values(), key=lambda f: (-f.since, f.name))


def check(statement: Statement, scope: Scope) -> Iterator[str]:
    target = scope.target_version
    if target is None or target >= NEWEST_KNOWN:
        return
    for feature in features_of(statement.node, statement.text):
        if feature.since > target:
            yield f"{feature.name} needs PostgreSQL {feature.since}, the target is PostgreSQL {target}"


RULE = register(
    Rule(
        code="AG701",
        problem=(
            "alembic_guard parses SQL with the newest PostgreSQL grammar, and so does every tool built on "
            "libpg_query. A statement written against a newer server than production — `MERGE ... RETURNING` "
            "(17), a generated column without `STORED` (virtual, 18), `NULLS NOT DISTINCT` (15) — looks "
            "fine everywhere until the deploy, where the server answers `syntax error` and the service does "
            "not start."
        ),
        solution=(
            "Tell alembic_guard which version the migrations target: `guard-check --database URL` and "
            "`guard-plan --database URL` read it from the server; otherwise set `server_version = 15` "
            "(for example) in the profile. The guarded runtime reads the real server's version and refuses "
            "such a revision in pre-flight, before any statement runs. Then write the statement the older "
            "way (`INSERT ... ON CONFLICT` for `MERGE`, a `STORED` generated column, a trigger)."
        ),
        bad=(
            Example(
                "MERGE INTO tasks USING incoming ON tasks.id = incoming.id\n"
                "WHEN MATCHED THEN UPDATE SET title = incoming.title RETURNING tasks.id;",
                setup="CREATE TABLE tasks (id int PRIMARY KEY, title text);\n"
                "CREATE TABLE incoming (id int, title text);",
                server_version=16,
                note="MERGE exists since 15, its RETURNING clause since 17",
            ),
            Example(
                "CREATE TABLE task_stats (title text, title_len int GENERATED ALWAYS AS (length(title)));",
                server_version=17,
                note="without STORED the column is virtual, which only 18 has",
            ),
        ),
        good=(
            Example(
                "MERGE INTO tasks USING incoming ON tasks.id = incoming.id\n"
                "WHEN MATCHED THEN UPDATE SET title = incoming.title RETURNING tasks.id;",
                setup="CREATE TABLE tasks (id int PRIMARY KEY, title text);\n"
                "CREATE TABLE incoming (id int, title text);",
                server_version=17,
            ),
            Example(
                "CREATE TABLE task_stats (\n"
                "    title text,\n"
                "    title_len int GENERATED ALWAYS AS (length(title)) STORED\n"
                ");",
                server_version=14,
            ),
        ),
        check=check,
    )
)
