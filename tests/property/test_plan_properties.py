"""Planner properties (seed Properties 1 and 2) on generated, hand-made effects.

Property 1, dependency resolution: for any acyclic requirement relation, in
any original order, the plan places every provider before its consumers, and
a statement whose dependencies all come before some later statement stays
before it (statements move only when they must).
Property 2, column reference validation: a cycle is always reported with every
member; a reference nobody provides is always reported at its own position.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alembic_guard.model import ObjRef
from alembic_guard.plan import plan
from alembic_guard.sql.statement import AnalyzedStatement, Effect, Requirement, SourceFile, Statement


def rel(i: int) -> ObjRef:
    return ObjRef.relation("public", f"r{i}")


def col(i: int) -> ObjRef:
    return ObjRef.column("public", f"r{i}", "c")


@st.composite
def dependency_sets(draw: st.DrawFn) -> tuple[int, list[int], list[set[int]]]:
    """(n, file of each statement, requirements of each statement) with an acyclic relation.

    Statement ``i`` (in original order) may need the objects of ``j`` only when
    ``j`` comes before ``i`` in a hidden true order: forward references arise
    whenever the hidden order disagrees with the original one.
    """
    n = draw(st.integers(1, 25))
    true_order = draw(st.permutations(range(n)))
    rank = {s: k for k, s in enumerate(true_order)}
    needs: list[set[int]] = []
    for i in range(n):
        earlier = [j for j in range(n) if rank[j] < rank[i]]
        needs.append(set(draw(st.lists(st.sampled_from(earlier), max_size=3))) if earlier else set())
    files = sorted(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)))
    return n, files, needs


def make(files: list[int], effects: list[Effect], text: str = "") -> list[AnalyzedStatement]:
    sources: dict[int, SourceFile] = {}
    counts: dict[int, int] = {}
    out = []
    for f, eff in zip(files, effects, strict=True):
        src = sources.setdefault(f, SourceFile(path=f"{f}.sql", text=text or "x\n" * 200, order=f))
        k = counts.get(f, 0)
        counts[f] = k + 1
        out.append(AnalyzedStatement(Statement(src, k, f"s{f}.{k}", 0, k + 1, 1, {"CreateStmt": {}}), eff))
    return out


def effects_for(n: int, needs: list[set[int]]) -> list[Effect]:
    return [
        Effect(
            creates=(rel(i), col(i)),
            requires=tuple(Requirement(r) for j in sorted(needs[i]) for r in (rel(j), col(j))),
        )
        for i in range(n)
    ]


@given(dependency_sets())
def test_property1_requirements_come_first_and_order_is_kept_where_possible(
    case: tuple[int, list[int], list[set[int]]],
) -> None:
    n, files, needs = case
    analyzed = make(files, effects_for(n, needs))
    result = plan(analyzed)
    assert result.ok and not result.problems
    index = {id(a.statement): i for i, a in enumerate(analyzed)}
    pos = {index[id(s.statement)]: k for k, s in enumerate(result.steps)}
    assert sorted(pos) == list(range(n))
    for i in range(n):
        for j in needs[i]:
            assert pos[j] < pos[i], f"statement {i} needs {j}"
    # ancestors: everything a statement (transitively) needs
    ancestors: list[set[int]] = [set() for _ in range(n)]
    for i in sorted(range(n), key=lambda s: pos[s]):
        for j in needs[i]:
            ancestors[i] |= ancestors[j] | {j}
    for x in range(n):
        for y in range(x + 1, n):
            if all(a < y for a in ancestors[x]):
                assert pos[x] < pos[y], f"{x} moved after {y} without needing to"


@given(dependency_sets(), st.integers(2, 6), st.data())
def test_property2_cycles_are_reported_with_every_member(
    case: tuple[int, list[int], list[set[int]]], k: int, data: st.DataObject
) -> None:
    n, files, needs = case
    effects = effects_for(n, needs)
    # k views reading each other in a ring, inserted at random places
    ring = [
        Effect(
            creates=(ObjRef.relation("public", f"v{m}"),),
            requires=(Requirement(ObjRef.relation("public", f"v{(m + 1) % k}")),),
        )
        for m in range(k)
    ]
    slots = data.draw(st.lists(st.integers(0, n), min_size=k, max_size=k))
    combined: list[tuple[int, int, Effect]] = [(i, 0, e) for i, e in enumerate(effects)]
    combined += [(s, 1 + m, e) for m, (s, e) in enumerate(zip(slots, ring, strict=True))]
    combined.sort(key=lambda t: (t[0], t[1]))
    all_files = [files[min(s, n - 1)] if s < n else files[-1] for s, _, _ in combined]
    analyzed = make(sorted(all_files), [e for _, _, e in combined])
    ring_stmts = {id(a.statement) for a in analyzed if a.effect in ring}
    result = plan(analyzed)
    assert not result.ok
    cycles = [p for p in result.problems if p.code == "AG101"]
    assert len(cycles) == 1
    assert {id(s) for s in cycles[0].statements} == ring_stmts
    assert set(cycles[0].links) == {ObjRef.relation("public", f"v{m}") for m in range(k)}


LINE = st.text(alphabet=st.sampled_from("ab é€😀-x"), max_size=12)


@given(dependency_sets(), st.lists(LINE, min_size=1, max_size=8), st.data())
def test_property2_unresolved_column_is_reported_at_its_position(
    case: tuple[int, list[int], list[set[int]]], lines: list[str], data: st.DataObject
) -> None:
    n, files, needs = case
    text = "\n".join(lines) + "\n"
    raw = text.encode()
    char = data.draw(st.integers(0, len(text) - 1))
    location = len(text[:char].encode())
    victim = data.draw(st.integers(0, n - 1))
    effects = effects_for(n, needs)
    ghost = ObjRef.column("public", f"r{victim}", "ghost")
    effects[victim] = Effect(
        creates=effects[victim].creates, requires=(*effects[victim].requires, Requirement(ghost, location))
    )
    analyzed = make(files, effects, text=text)
    result = plan(analyzed)
    assert not result.ok
    (problem,) = result.problems
    assert problem.code == "AG102" and problem.missing == ghost
    before = raw[:location].decode()
    line = before.count("\n") + 1
    col = len(before) - (before.rfind("\n") + 1) + 1
    assert problem.where == f"{files[victim]}.sql:{line}:{col}"
    assert problem.statements[0] is analyzed[victim].statement


@st.composite
def shuffled_programs(draw: st.DrawFn) -> tuple[list[tuple[str, Effect]], list[int], list[int]]:
    """A valid program (tables, columns, indexes, views, updates, ALTERs), then shuffled.

    Returns (statements in the hidden valid order, original position of each,
    file of each original position).  Any order that respects what each
    statement needs is valid, so the planner must always find one.
    """
    tables: dict[str, set[str]] = {}
    program: list[tuple[str, Effect]] = []
    for n in range(draw(st.integers(1, 30))):
        choices = ["table"] + (["add", "add_ine", "index", "update", "not_null", "view"] if tables else [])
        op = draw(st.sampled_from(choices))
        if op == "table":
            t = f"t{n}"
            cols = draw(st.sets(st.sampled_from(["a", "b", "c", "d"]), min_size=1))
            tables[t] = set(cols)
            refs = (rel_named(t), *(ObjRef.column("public", t, c) for c in sorted(cols)))
            ine = draw(st.booleans())
            program.append(("CreateStmt", Effect(ensures=refs) if ine else Effect(creates=refs)))
            continue
        t = draw(st.sampled_from(sorted(tables)))
        has = sorted(tables[t])
        if op in ("add", "add_ine"):
            c = draw(st.sampled_from(["a", "b", "c", "d", "e", "f"]))
            if op == "add" and c in tables[t]:
                continue
            tables[t].add(c)
            ref = ObjRef.column("public", t, c)
            eff = Effect(
                creates=() if op == "add_ine" else (ref,),
                ensures=(ref,) if op == "add_ine" else (),
                requires=(Requirement(rel_named(t)),),
                alters=(rel_named(t),),
            )
            program.append(("AlterTableStmt", eff))
            continue
        c = draw(st.sampled_from(has))
        needs = (Requirement(rel_named(t)), Requirement(ObjRef.column("public", t, c)))
        if op == "index":
            index = ObjRef("index", "public", f"ix{n}")
            program.append(("IndexStmt", Effect(creates=(index,), requires=needs)))
        elif op == "update":
            program.append(("UpdateStmt", Effect(requires=needs)))
        elif op == "not_null":
            column = ObjRef.column("public", t, c)
            program.append(("AlterTableStmt", Effect(requires=needs, alters=(column,))))
        else:
            v = f"v{n}"
            program.append(
                ("ViewStmt", Effect(creates=(rel_named(v), ObjRef.column("public", v, c)), requires=needs))
            )
    positions = draw(st.permutations(range(len(program))))
    files = sorted(draw(st.lists(st.integers(0, 3), min_size=len(program), max_size=len(program))))
    return program, list(positions), files


def rel_named(name: str) -> ObjRef:
    return ObjRef.relation("public", name)


@given(shuffled_programs())
def test_property1_any_shuffle_of_a_valid_program_is_planned_validly(
    case: tuple[list[tuple[str, Effect]], list[int], list[int]],
) -> None:
    program, positions, files = case
    slots: list[tuple[str, Effect]] = [("", Effect())] * len(program)
    for hidden, original in enumerate(positions):
        slots[original] = program[hidden]
    sources: dict[int, SourceFile] = {}
    counts: dict[int, int] = {}
    analyzed = []
    for (kind, eff), f in zip(slots, files, strict=True):
        src = sources.setdefault(f, SourceFile(path=f"{f}.sql", text="x\n" * 100, order=f))
        k = counts.get(f, 0)
        counts[f] = k + 1
        analyzed.append(AnalyzedStatement(Statement(src, k, f"s{f}.{k}", 0, k + 1, 1, {kind: {}}), eff))
    result = plan(analyzed)
    assert result.ok, [p.render() for p in result.problems]
    assert len(result.steps) == len(program)
    existing: set[ObjRef] = set()
    created: set[ObjRef] = set()  # by a plain CREATE (an IF NOT EXISTS may come first: kept as written)
    for step in result.steps:
        for r in step.effect.requires:
            assert r.ref in existing, f"{step.statement.text} runs before {r.ref} exists"
        for ref in step.effect.creates:
            assert ref not in created, f"{step.statement.text} creates {ref} twice"
        existing.update(step.effect.provides)
        created.update(step.effect.creates)
