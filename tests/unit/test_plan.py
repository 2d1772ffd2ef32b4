"""Planner rules on hand-made effects (no SQL parsing): edges, providers, start, problems, renderers."""

from __future__ import annotations

import json
import time
from pathlib import Path

from alembic_guard.model import Column, ObjRef, SchemaModel, Table
from alembic_guard.output import plan_json, plan_text
from alembic_guard.plan import plan, plan_directory, position_of
from alembic_guard.sql.statement import AnalyzedStatement, Effect, Requirement, SourceFile, Statement


def rel(name: str) -> ObjRef:
    return ObjRef.relation("public", name)


def col(table: str, name: str) -> ObjRef:
    return ObjRef.column("public", table, name)


def req(*refs: ObjRef) -> tuple[Requirement, ...]:
    return tuple(Requirement(r) for r in refs)


def build(*specs: tuple[int, Effect] | tuple[int, Effect, str]) -> list[AnalyzedStatement]:
    """Statements from (file number, effect[, node kind]); position in file = order given."""
    sources: dict[int, SourceFile] = {}
    counts: dict[int, int] = {}
    out = []
    for spec in specs:
        f, eff = spec[0], spec[1]
        kind = spec[2] if len(spec) > 2 else "CreateStmt"  # type: ignore[misc]
        src = sources.setdefault(f, SourceFile(path=f"{f:03d}.sql", text="x\n" * 100, order=f))
        i = counts.get(f, 0)
        counts[f] = i + 1
        stmt = Statement(src, i, f"stmt {f}.{i}", 2 * i, i + 1, 1, {kind: {}})
        out.append(AnalyzedStatement(stmt, eff))
    return out


def order_of(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.statement.text for s in result.steps]


def test_set_without_problems_keeps_its_order_exactly() -> None:
    stmts = build(
        (1, Effect(creates=(rel("a"), col("a", "id")))),
        (1, Effect(creates=(rel("b"),), requires=req(rel("a"), col("a", "id")))),
        (2, Effect(creates=(rel("c"),))),
        (2, Effect(alters=(rel("a"),), creates=(col("a", "x"),), requires=req(rel("a")))),
    )
    result = plan(list(reversed(stmts)))
    assert result.ok and not result.problems
    assert order_of(result) == ["stmt 1.0", "stmt 1.1", "stmt 2.0", "stmt 2.1"]
    assert not any(s.moved for s in result.steps)


def test_forward_reference_moves_only_the_consumer() -> None:
    stmts = build(
        (1, Effect(ensures=(rel("t"), col("t", "id")))),
        (1, Effect(ensures=(ObjRef("index", "public", "ix"),), requires=req(rel("t"), col("t", "p")))),
        (1, Effect(ensures=(ObjRef("index", "public", "iy"),), requires=req(rel("t"), col("t", "id")))),
        (3, Effect(ensures=(col("t", "p"),), alters=(rel("t"),), requires=req(rel("t")))),
    )
    result = plan(stmts)
    assert result.ok
    assert order_of(result) == ["stmt 1.0", "stmt 1.2", "stmt 3.0", "stmt 1.1"]
    moved = [s for s in result.steps if s.moved]
    assert [s.statement.text for s in moved] == ["stmt 1.1"]
    assert moved[0].note is not None and "column t.p from 003.sql:1:1" in moved[0].note


def test_several_providers_nearest_earlier_else_earliest_later() -> None:
    stmts = build(
        (1, Effect(requires=req(col("t", "b")), ensures=(ObjRef("index", "public", "i0"),))),
        (1, Effect(ensures=(rel("t"), col("t", "b")))),
        (2, Effect(requires=req(col("t", "b")), ensures=(ObjRef("index", "public", "i1"),))),
        (3, Effect(ensures=(col("t", "b"),), requires=req(rel("t")))),
        (4, Effect(requires=req(col("t", "b")), ensures=(ObjRef("index", "public", "i2"),))),
    )
    result = plan(stmts)
    assert result.ok
    # the first index moves just after the CREATE TABLE (earliest later provider), nothing else moves
    assert order_of(result) == ["stmt 1.1", "stmt 1.0", "stmt 2.0", "stmt 3.0", "stmt 4.0"]


def test_start_satisfies_requirements_and_judges_if_not_exists() -> None:
    start = SchemaModel()
    start.put_table(Table("public", "t", (Column("id", "integer"),)))
    stmts = build(
        (1, Effect(ensures=(rel("t"), col("t", "id"), col("t", "p")))),
        (1, Effect(requires=req(rel("t"), col("t", "id")))),
        (1, Effect(requires=req(col("t", "p")))),
    )
    assert plan(stmts).ok  # from scratch the CREATE TABLE provides p
    result = plan(stmts, start)  # t exists without p: CREATE TABLE IF NOT EXISTS does nothing
    assert [p.code for p in result.problems] == ["AG102"]
    assert result.problems[0].missing == col("t", "p")
    assert "will not add it" in result.problems[0].message
    assert "will not be added" in (result.steps[0].note or "")


def test_plain_create_of_an_object_the_database_has_is_reported() -> None:
    start = SchemaModel()
    start.put_table(Table("public", "t", ()))
    result = plan(build((1, Effect(creates=(rel("t"),)))), start)
    assert [p.code for p in result.problems] == ["AG104"]
    assert not result.ok


def test_unresolved_reference_is_reported_at_its_own_position() -> None:
    text = "-- été\nCREATE INDEX ix ON tasks (project_id);\n"
    src = SourceFile(path="0001.sql", text=text)
    byte = text.encode().index(b"project_id")
    stmt = Statement(src, 0, text[7:-2], 7, 2, 1, {"IndexStmt": {}}, byte_offset=8)
    eff = Effect(
        creates=(ObjRef("index", "public", "ix"),), requires=(Requirement(col("tasks", "project_id"), byte),)
    )
    result = plan([AnalyzedStatement(stmt, eff)])
    (problem,) = result.problems
    assert problem.code == "AG102" and problem.where == "0001.sql:2:27"
    assert problem.missing == col("tasks", "project_id")
    assert position_of(stmt, -1) == (2, 1)
    assert problem.hint


def test_cycle_names_every_member_and_the_linking_objects() -> None:
    stmts = build(
        (1, Effect(creates=(rel("x"),))),
        (1, Effect(creates=(rel("va"),), requires=req(rel("vb"))), "ViewStmt"),
        (2, Effect(creates=(rel("vb"),), requires=req(rel("vc"))), "ViewStmt"),
        (3, Effect(creates=(rel("vc"),), requires=req(rel("va"))), "ViewStmt"),
        (3, Effect(requires=req(rel("va"))), "SelectStmt"),
    )
    result = plan(stmts)
    assert not result.ok
    (problem,) = result.problems
    assert problem.code == "AG101"
    assert [s.where for s in problem.statements] == ["001.sql:2:1", "002.sql:1:1", "003.sql:1:1"]
    assert set(problem.links) == {rel("va"), rel("vb"), rel("vc")}
    assert "1 more statements wait" in problem.message
    assert order_of(result) == ["stmt 1.0"]  # partial plan: what could be ordered


def test_opaque_statement_without_names_is_a_barrier() -> None:
    stmts = build(
        (1, Effect(creates=(rel("t"),))),
        (1, Effect(requires=req(col("t", "p")))),
        (2, Effect(opaque="EXECUTE of a dynamic string"), "DoStmt"),
        (3, Effect(creates=(col("t", "p"),), requires=req(rel("t")))),
    )
    result = plan(stmts)
    codes = [p.code for p in result.problems]
    assert codes == ["AG101", "AG103"]
    assert result.problems[1].severity == "warning"
    # without the forward reference the barrier is harmless: a warning only
    ok = plan(build((1, Effect(creates=(rel("t"),))), (2, Effect(opaque="?"), "DoStmt")))
    assert ok.ok and [p.code for p in ok.problems] == ["AG103"]


def test_understood_dynamic_sql_is_a_barrier_too() -> None:
    """Names known only at run time (bounded patterns): no AG103, but nothing moves across it."""
    stmts = build(
        (1, Effect(creates=(rel("t"),))),
        (1, Effect(requires=req(col("t", "p")))),
        (2, Effect(dynamic=("relation:public.t_*",)), "SelectStmt"),
        (3, Effect(creates=(col("t", "p"),), requires=req(rel("t")))),
    )
    result = plan(stmts)
    assert [p.code for p in result.problems] == ["AG101"]  # the forward reference cannot cross it
    ok = plan(build((1, Effect(creates=(rel("t"),))), (2, Effect(dynamic=("relation:public.t_*",)))))
    assert ok.ok and not ok.problems


def test_a_reference_to_dynamic_names_points_at_the_most_precise_maker() -> None:
    stmts = build(
        (1, Effect(opaque="EXECUTE of a dynamic SQL string", dynamic=("*",)), "DoStmt"),
        (2, Effect(dynamic=("relation:public.part_*",)), "SelectStmt"),
        (3, Effect(dynamic=("relation:public.other_*",)), "SelectStmt"),
        (4, Effect(requires=req(rel("part_1")))),
    )
    problems = [p for p in plan(stmts).problems if p.code == "AG106"]
    assert len(problems) == 1
    assert "dynamic SQL at 002.sql:1:1" in problems[0].message


def test_statement_without_effect_keeps_its_place_in_its_file() -> None:
    stmts = build(
        (1, Effect(creates=(rel("t"),))),
        (2, Effect(), "VariableSetStmt"),
        (2, Effect(requires=req(col("t", "p")))),
        (2, Effect(creates=(rel("u"),))),
        (3, Effect(creates=(col("t", "p"),), requires=req(rel("t")))),
    )
    result = plan(stmts)
    assert result.ok
    assert order_of(result) == ["stmt 1.0", "stmt 2.0", "stmt 2.2", "stmt 3.0", "stmt 2.1"]


def test_drop_waits_for_earlier_readers() -> None:
    stmts = build(
        (1, Effect(creates=(rel("t"), col("t", "a")))),
        (1, Effect(requires=req(rel("t"), col("t", "a")))),
        (2, Effect(drops=(rel("t"),), requires=req(rel("t")))),
        (2, Effect(creates=(rel("t"), col("t", "a")))),
        (2, Effect(requires=req(rel("t"), col("t", "a"))), "InsertStmt"),
    )
    result = plan(stmts)
    assert result.ok
    assert order_of(result) == ["stmt 1.0", "stmt 1.1", "stmt 2.0", "stmt 2.1", "stmt 2.2"]


def test_data_statements_keep_their_order_with_schema_changes() -> None:
    stmts = build(
        (1, Effect(creates=(rel("t"), col("t", "s")))),
        (1, Effect(requires=req(rel("t"), col("t", "s"))), "UpdateStmt"),
        (1, Effect(requires=req(rel("t"), col("t", "s")), alters=(col("t", "s"),)), "AlterTableStmt"),
        (1, Effect(requires=req(rel("t"), col("t", "s"))), "DeleteStmt"),
    )
    assert order_of(plan(stmts)) == ["stmt 1.0", "stmt 1.1", "stmt 1.2", "stmt 1.3"]


def test_renderers() -> None:
    stmts = build(
        (1, Effect(creates=(rel("t"),))),
        (1, Effect(requires=req(col("t", "p")))),
        (2, Effect(creates=(col("t", "p"),), requires=req(rel("t")))),
    )
    result = plan(stmts)
    text = plan_text.render(result, title="dir")
    assert "001.sql:2  [moved]" in text and "needs column t.p" in text
    assert "No problems" in text
    doc = json.loads(plan_json.render(result))
    assert doc["version"] == 1 and doc["ok"] is True
    assert [s["line"] for s in doc["steps"]] == [1, 1, 2]
    assert doc["steps"][2]["moved"] is True and doc["summary"]["moved"] == 1
    assert plan_json.render(plan(list(reversed(stmts)))) == plan_json.render(result)  # deterministic
    bad = plan(build((1, Effect(requires=req(col("t", "zz"))))))
    doc = json.loads(plan_json.render(bad))
    assert doc["ok"] is False and doc["problems"][0]["code"] == "AG102"
    assert doc["problems"][0]["missing"] == "column t.zz"
    assert "AG102 001.sql:1:1" in plan_text.render(bad)


def test_fifty_thousand_statements_plan_fast() -> None:
    specs: list[tuple[int, Effect]] = []
    for f in range(500):
        for k in range(25):
            t = f"t{f}_{k}"
            prev = f"t{f}_{k - 1}" if k else f"t{max(f - 1, 0)}_0"
            specs.append((f, Effect(creates=(rel(t), col(t, "id"), col(t, "v")), requires=req(rel(prev)))))
            specs.append(
                (
                    f,
                    Effect(
                        creates=(ObjRef("index", "public", f"{t}_ix"),), requires=req(rel(t), col(t, "v"))
                    ),
                )
            )
        # one forward reference per file
        specs.append(
            (f, Effect(requires=req(col(f"t{f}_0", "late")), ensures=(ObjRef("index", "public", f"l{f}"),)))
        )
        specs.append((f, Effect(creates=(col(f"t{f}_0", "late"),), requires=req(rel(f"t{f}_0")))))
        for k in range(48):
            specs.append(
                (f, Effect(requires=req(rel(f"t{f}_{k % 25}"), col(f"t{f}_{k % 25}", "id"))), "InsertStmt")
            )
    stmts = build(*specs)
    t0 = time.perf_counter()
    result = plan(stmts)
    elapsed = time.perf_counter() - t0
    print(f"\nplanned {len(stmts)} statements in {elapsed:.2f}s")
    assert result.ok and len(result.steps) == len(stmts)
    assert elapsed < 10


def test_create_or_replace_view_provides_its_columns_even_when_the_view_exists() -> None:
    from alembic_guard.model import View

    start = SchemaModel()
    start.put_table(Table("public", "t", (Column("a", "integer"),)))
    start.views[("public", "v")] = View("public", "v", columns=("a",))
    v = ObjRef.relation("public", "v")
    stmts = build(
        (
            1,
            Effect(ensures=(v, ObjRef.column("public", "v", "a"), ObjRef.column("public", "v", "b"))),
            "ViewStmt",
        ),
        (1, Effect(requires=req(ObjRef.column("public", "v", "b"))), "SelectStmt"),
    )
    assert plan(stmts, start).ok


def test_a_set_creating_alembics_version_table_is_one_clear_finding() -> None:
    case = Path(__file__).parent.parent / "fixtures" / "plan" / "version_table_clash"
    result = plan_directory(case)
    (problem,) = result.problems
    assert problem.code == "AG105" and not result.ok
    assert "fills it at 1_legacy.sql:3:1" in problem.message
    assert problem.hint is not None and "version_table" in problem.hint and "rename" in problem.hint
    # with another version table in env.py (told to the planner) there is no clash
    assert plan_directory(case, version_table="alembic_version_app").ok
