"""The repair planner as data: drift in, SQL steps out (no database).

Each fixture in tests/fixtures/drift has ``-- plan`` (and optionally ``-- plan
--allow-destructive``) sections: one line per step, its statements joined, then
one ``not repaired: CODE object: reason`` line per drift left alone.
"""

from __future__ import annotations

import pglast
import pytest
from test_diff import CASES, models, sections

from alembic_guard import quoting
from alembic_guard.diff import compare, make_drift
from alembic_guard.model import Column, Index, ObjRef, SchemaModel, Table, Trigger
from alembic_guard.repair.plan import RepairPlan, create_index_sql, plan_repair, quote_ident


def compact(plan: RepairPlan) -> list[str]:
    lines = [" ".join(" ".join(s.split()) + ";" for s in step.sql) for step in plan.steps]
    lines += [f"not repaired: {u.drift.code} {u.drift.ref}: {u.reason}" for u in plan.not_repaired]
    return lines


def planned(case: str, allow_destructive: bool) -> RepairPlan:
    expected, live = models(case)
    drifts = compare(expected, live, compare_expressions=True)
    return plan_repair(drifts, expected, live, allow_destructive=allow_destructive)


@pytest.mark.parametrize("case", CASES)
def test_plan(case: str) -> None:
    s = sections(case)
    assert compact(planned(case, False)) == s["plan"]
    if "plan --allow-destructive" in s:
        assert compact(planned(case, True)) == s["plan --allow-destructive"]


def test_rendered_plan_says_what_each_step_repairs_and_which_lock_it_takes() -> None:
    text = planned("constraints", False).render()
    assert text.startswith("-- alembic_guard repair plan: 3 step(s), 0 drift(s) not repaired")
    assert (
        "-- [2] repairs AG508 missing-constraint constraint tasks.fk_owner: the foreign key is missing"
        in text
    )
    assert (
        "--     lock: SHARE ROW EXCLUSIVE on tasks and users (no scan), "
        "then SHARE UPDATE EXCLUSIVE while validating" in text
    )
    assert "--     checked first: rows of tasks referring to missing rows of users; refused" in text
    assert "--     runs outside a transaction" in text  # the unique index build
    assert planned("no_drift", False).render() == "-- alembic_guard repair plan: no drift, nothing to do"


def test_every_destructive_step_waits_for_the_flag() -> None:
    for case in CASES:
        safe = planned(case, False)
        assert not any(step.destructive for step in safe.steps), case
        full = planned(case, True)
        assert all(u.reason != "needs --allow-destructive" for u in full.not_repaired), case


def test_functions_and_triggers_need_a_definition_from_the_expected_side() -> None:
    expected, live = SchemaModel(), SchemaModel()
    t = Table("public", "t", (Column("id", "integer"),))
    expected.put_table(t)
    live.put_table(t)
    from alembic_guard.model import Function

    expected.functions[("public", "touch")] = Function(
        "public", "touch", returns="trigger", language="plpgsql"
    )
    expected.triggers[("public", "t", "trg")] = Trigger(
        "trg", ("public", "t"), ("public", "touch"), "before", ("update",)
    )
    drifts = compare(expected, live)
    assert [d.kind for d in drifts] == ["AG513 missing-function", "AG514 missing-trigger"]
    bare = plan_repair(drifts, expected, live)
    assert [u.reason.split(" (")[0] for u in bare.not_repaired] == ["no definition known"] * 2
    defs = {
        ObjRef(
            "function", "public", "touch"
        ): "CREATE OR REPLACE FUNCTION public.touch() RETURNS trigger ...",
        ObjRef("trigger", "public", "trg", "t"): "CREATE TRIGGER trg BEFORE UPDATE ON public.t ...",
    }
    full = plan_repair(drifts, expected, live, definitions=defs)
    assert [s.action for s in full.steps] == ["create_function", "create_trigger"]
    assert full.steps[0].sql == (defs[ObjRef("function", "public", "touch")],)


def test_steps_follow_dependency_order_whatever_the_drift_order() -> None:
    expected, live = models("missing_table_and_enum")
    drifts = compare(expected, live)
    forward = plan_repair(drifts, expected, live)
    backward = plan_repair(list(reversed(drifts)), expected, live)
    assert [s.action for s in forward.steps] == ["add_enum_value", "create_table"]
    assert [s.action for s in backward.steps] == [s.action for s in forward.steps]


def test_index_keys_are_columns_of_the_table_or_parenthesized_expressions() -> None:
    # the catalog's keys: column names as stored, pg_get_indexdef's text for expressions
    ix = Index(
        "public",
        "ix",
        ("public", "t"),
        ("Weird; Name", "Up", "user", 'lower("Up"::text)', "(a + b)", "(a) + (b)", "('(' || a)"),
        include=("Up",),
    )
    columns = ("Weird; Name", "Up", "user", "a", "b")
    sql = create_index_sql(ix, concurrently=True, columns=columns)
    assert sql == (
        'CREATE INDEX CONCURRENTLY ix ON t ("Weird; Name", "Up", "user", (lower("Up"::text)), (a + b), '
        "((a) + (b)), ('(' || a)) INCLUDE (\"Up\")"
    )
    [stmt] = pglast.parse_sql(sql)  # one statement: the ; inside the name does not end it
    params = stmt.stmt.indexParams
    assert [p.name for p in params[:3]] == ["Weird; Name", "Up", "user"]
    assert all(p.name is None and p.expr is not None for p in params[3:])
    assert quote_ident is quoting.quote_ident  # repair.plan re-exports the one quoting helper


def test_an_unknown_drift_is_left_alone_with_a_reason() -> None:
    d = make_drift("missing-type", ObjRef("type", "public", "point3"), "composite type", None, "missing")
    plan = plan_repair([d], SchemaModel(), SchemaModel())
    assert plan.steps == ()
    assert plan.not_repaired[0].reason.startswith("composite types are not repaired automatically")


def test_a_primary_key_on_a_nullable_column_is_not_called_brief() -> None:
    """L: ADD PRIMARY KEY USING INDEX sets its columns NOT NULL, a scan under ACCESS EXCLUSIVE, unless
    a set_not_null step of the plan (checked, and run first) has done it."""
    expected, live = models("primary_key_on_nullable_column")
    drifts = compare(expected, live, compare_expressions=True)

    def attach_locks(ds: list) -> dict[str, str]:
        plan = plan_repair(ds, expected, live)
        return {s.fact.table[1]: s.lock for s in plan.steps if s.action == "add_constraint"}

    locks = attach_locks(drifts)
    assert locks["accounts"].endswith("ACCESS EXCLUSIVE briefly to attach it")  # NOT NULL set before
    assert locks["tags"].endswith("ACCESS EXCLUSIVE briefly to attach it")
    # without the column's own repair (e.g. an expected model that left it nullable), the attach scans
    alone = attach_locks([d for d in drifts if d.id != "column-nullability"])
    assert "scans the table for NULLs in (id)" in alone["accounts"] and "briefly" not in alone["accounts"]
