"""AG701 ban-syntax-newer-than-server, as data: each feature's sample is seen as that feature.

Which version accepts which sample is PostgreSQL's to say:
tests/integration/test_server_features.py runs the samples on the suite's server.
"""

from __future__ import annotations

import pytest

from alembic_guard.lint.base import get_rule, lint
from alembic_guard.lint.rules.ban_syntax_newer_than_server import FEATURES, NEWEST_KNOWN, Feature, features_of
from alembic_guard.lint.scope import LintContext
from alembic_guard.sql.parse import parse_text

RULE = get_rule("AG701")


def _one(sql: str):  # type: ignore[no-untyped-def]
    (st,) = parse_text(sql, path="v.sql")
    return st


@pytest.mark.parametrize("feature", FEATURES, ids=lambda f: f.name)
def test_each_sample_is_seen_as_its_feature(feature: Feature) -> None:
    st = _one(feature.sample)
    found = features_of(st.node, st.text)
    assert feature in found
    # a sample needs exactly its feature's version: nothing newer hides in it
    assert max(f.since for f in found) == feature.since


@pytest.mark.parametrize("feature", FEATURES, ids=lambda f: f.name)
def test_flagged_below_its_version_and_not_from_it(feature: Feature) -> None:
    st = _one(feature.sample)
    assert RULE is not None
    below = lint([st], LintContext(server_version=feature.since - 1), rules=[RULE])
    assert [f.code for f in below] == ["AG701"]
    want = f"needs PostgreSQL {feature.since}, the target is PostgreSQL {feature.since - 1}"
    assert want in below[0].message
    assert lint([st], LintContext(server_version=feature.since), rules=[RULE]) == []


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE t (a int NOT NULL, b int GENERATED ALWAYS AS (a * 2) STORED)",
        "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID",
        "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id)",
        "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO NOTHING RETURNING a",
        "UPDATE t SET a = old_t.a FROM old_t WHERE old_t.id = t.id RETURNING t.a",
        "CREATE UNIQUE INDEX u ON t (a)",
        "SELECT to_json(t) FROM t",
        "CREATE TABLE g (a int GENERATED ALWAYS AS IDENTITY)",
    ],
)
def test_syntax_every_supported_version_has_is_not_flagged(sql: str) -> None:
    st = _one(sql)
    assert features_of(st.node, st.text) == []
    assert RULE is not None
    assert lint([st], LintContext(server_version=14), rules=[RULE]) == []


def test_an_unknown_target_is_not_guessed() -> None:
    st = _one("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE")
    assert RULE is not None
    assert lint([st], LintContext(), rules=[RULE]) == []
    assert [f.code for f in lint([st], LintContext(server_version=14), rules=[RULE])] == ["AG701"]


def test_newest_known_target_checks_nothing() -> None:
    st = _one("UPDATE t SET v = 1 RETURNING old.v, new.v")
    assert RULE is not None
    assert lint([st], LintContext(server_version=NEWEST_KNOWN), rules=[RULE]) == []
    assert lint([st], LintContext(server_version=NEWEST_KNOWN + 1), rules=[RULE]) == []


def test_the_newest_feature_is_named_first() -> None:
    st = _one("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE RETURNING t.id")
    assert [f.since for f in features_of(st.node, st.text)] == [17, 15]
