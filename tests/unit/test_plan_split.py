"""Splitting inline foreign keys out of CREATE TABLE: generated SQL, names, quoting, effects."""

from __future__ import annotations

import pglast
import pytest

from alembic_guard.model import ObjRef
from alembic_guard.plan.split import split_effects, split_foreign_keys
from alembic_guard.sql.statement import Effect, Requirement


def rel(name: str, schema: str = "public") -> ObjRef:
    return ObjRef.relation(schema, name)


@pytest.mark.parametrize(
    ("sql", "targets", "create", "alters"),
    [
        (
            "CREATE TABLE a (id int PRIMARY KEY, b_id int REFERENCES b (id) ON DELETE CASCADE, x int)",
            [rel("b")],
            "CREATE TABLE a (id integer PRIMARY KEY, b_id integer, x integer)",
            [
                "ALTER TABLE a ADD CONSTRAINT a_b_id_fkey FOREIGN KEY (b_id) "
                "REFERENCES b (id) ON DELETE CASCADE"
            ],
        ),
        (
            'CREATE TABLE app."Team" (id int, "Lead" int, CONSTRAINT "Lead FK" FOREIGN KEY ("Lead") '
            "REFERENCES app.people (id) NOT VALID, other int REFERENCES c)",
            [rel("people", "app")],
            'CREATE TABLE app."Team" (id integer, "Lead" integer, other integer REFERENCES c)',
            [
                'ALTER TABLE app."Team" ADD CONSTRAINT "Lead FK" FOREIGN KEY ("Lead") '
                "REFERENCES app.people (id) NOT VALID"
            ],
        ),
    ],
)
def test_split_sql(sql: str, targets: list[ObjRef], create: str, alters: list[str]) -> None:
    result = split_foreign_keys(sql, targets)
    assert result is not None
    assert result.create_sql == create
    assert [k.sql for k in result.keys] == alters
    for text in (result.create_sql, *alters):
        pglast.parse_sql(text)  # valid SQL


def test_nothing_to_split() -> None:
    assert split_foreign_keys("CREATE TABLE a (id int REFERENCES b (id))", [rel("c")]) is None
    assert split_foreign_keys("CREATE VIEW v AS SELECT 1", [rel("b")]) is None
    assert split_foreign_keys("not sql at all (", [rel("b")]) is None


def test_split_effects_move_the_needs_to_the_alter() -> None:
    result = split_foreign_keys("CREATE TABLE a (id int, b_id int REFERENCES b (id))", [rel("b")])
    assert result is not None
    fk = ObjRef("constraint", "public", "a_b_id_fkey", "a")
    effect = Effect(
        creates=(rel("a"), ObjRef.column("public", "a", "b_id"), fk),
        requires=(Requirement(rel("b"), 40), Requirement(ObjRef.column("public", "b", "id"), 42)),
    )
    create, (alter,) = split_effects(effect, rel("a"), result.keys)
    assert create.requires == () and fk not in create.creates
    assert alter.creates == (fk,)
    assert {r.ref for r in alter.requires} == {
        rel("a"),
        ObjRef.column("public", "a", "b_id"),
        rel("b"),
        ObjRef.column("public", "b", "id"),
    }
