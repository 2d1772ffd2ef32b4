"""Every rule against its own examples, and the registry's promises.

A rule's ``bad`` examples must produce exactly one finding of that rule, on
the expected line; its ``good`` examples none.  The examples are the rule's
documentation too, so this is also what keeps the docs honest.
"""

from __future__ import annotations

import re

import pytest

from alembic_guard.lint import Example, Rule, all_rules, lint
from alembic_guard.lint.base import register
from alembic_guard.lint.docs import render_all
from alembic_guard.lint.examples import EXAMPLE_PATH, expected_line, run_example

RULES = all_rules()


def _cases(kind: str) -> list[tuple[Rule, Example]]:
    return [(r, ex) for r in RULES for ex in getattr(r, kind)]


def _case_id(case: tuple[Rule, Example]) -> str:
    rule, ex = case
    examples = rule.bad if ex in rule.bad else rule.good
    return f"{rule.code}-{rule.id}-{examples.index(ex)}"


@pytest.mark.parametrize("case", _cases("bad"), ids=_case_id)
def test_bad_example_is_flagged_once_at_its_line(case: tuple[Rule, Example]) -> None:
    rule, ex = case
    found = [f for f in run_example(ex) if f.code == rule.code]
    assert len(found) == 1, f"{rule.code} should flag:\n{ex.sql}\ngot {[str(f) for f in found]}"
    f = found[0]
    assert (f.file, f.line) == (EXAMPLE_PATH, expected_line(ex))
    assert f.rule_id == rule.id and f.severity == rule.severity and f.help == rule.help
    assert f.message.endswith(rule.message)


@pytest.mark.parametrize("case", _cases("good"), ids=_case_id)
def test_good_example_is_not_flagged(case: tuple[Rule, Example]) -> None:
    rule, ex = case
    found = [str(f) for f in run_example(ex) if f.code == rule.code]
    assert found == [], f"{rule.code} should not flag:\n{ex.sql}"


def test_codes_and_ids_are_unique_and_well_formed() -> None:
    codes = [r.code for r in RULES]
    ids = [r.id for r in RULES]
    assert len(set(codes)) == len(codes) and len(set(ids)) == len(ids)
    assert codes == sorted(codes)
    for r in RULES:
        assert re.fullmatch(r"AG[02347]\d\d", r.code), r.code
        assert re.fullmatch(r"(require|ban|prefer|unused)-[a-z-]+", r.id), r.id
        assert r.severity in ("error", "warning")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_is_fully_declared(rule: Rule) -> None:
    assert rule.bad and rule.good, "every rule needs a bad and a good example"
    # one sentence: ends with a period, no other sentence end inside
    assert rule.message.endswith(".") and rule.message[0].isupper()
    assert not re.search(r"[.!?]\s+[A-Z]", rule.message[:-1]), rule.message
    assert rule.help and not rule.help.endswith(".")
    assert rule.problem and rule.solution


def test_declaring_a_code_twice_fails() -> None:
    # a rule's id, severity, message and help are its code's (alembic_guard.codes): a rule can only
    # claim a code declared there as a lint code, and only once
    first = RULES[1]
    with pytest.raises(ValueError, match=f"{first.code} declared twice"):
        register(Rule(**_fields(first)))
    with pytest.raises(ValueError, match="AG299 is not declared as a lint code"):
        register(Rule(**{**_fields(first), "code": "AG299"}))
    with pytest.raises(ValueError, match="AG501 is not declared as a lint code"):
        register(Rule(**{**_fields(first), "code": "AG501"}))
    with pytest.raises(ValueError, match="must look like"):
        register(Rule(**{**_fields(first), "code": "X1"}))
    assert [r.code for r in all_rules()] == [r.code for r in RULES]


def _fields(obj: Rule | Example) -> dict[str, object]:
    return {name: getattr(obj, name) for name in type(obj).__dataclass_fields__}


def test_only_selected_rules_run() -> None:
    from alembic_guard.sql.parse import parse_text

    stmts = parse_text("CREATE INDEX ix ON tasks (a);", path="m.sql")
    only = [r for r in RULES if r.code == "AG201"]
    assert [f.code for f in lint(stmts, rules=only)] == ["AG201"]
    assert {f.code for f in lint(stmts)} == {"AG201", "AG208", "AG402"}
    # a suppression of a rule that did not run is not reported as unused
    quiet = parse_text("-- alembic-guard: ignore[AG402, AG208]\nCREATE INDEX ix ON tasks (a);", path="m.sql")
    unused = [r for r in RULES if r.code in ("AG001", "AG201")]
    assert [f.code for f in lint(quiet, rules=unused)] == ["AG201"]
    assert [(f.code, f.line) for f in lint(quiet)] == [("AG201", 2)]


def test_docs_are_current() -> None:
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "rules"
    pages = render_all()
    stale = [
        name
        for name, text in pages.items()
        if not (docs / name).exists() or (docs / name).read_text(encoding="utf-8") != text
    ]
    extra = sorted(p.name for p in docs.glob("*.md") if p.name not in pages)
    assert not stale and not extra, (
        f"docs/rules is stale ({stale + extra}): run python -m alembic_guard.lint.docs"
    )


def test_every_rule_page_is_linked_from_the_index() -> None:
    pages = render_all()
    for r in RULES:
        assert f"]({r.id}.md)" in pages["index.md"]
        # one block per example, plus the suppression snippet
        assert pages[f"{r.id}.md"].count("```sql") == len(r.bad) + len(r.good) + 1


def _suppressed(ex: Example, name: str, trailing: bool) -> tuple[Example, int]:
    """The example with a suppression of ``name`` on its flagged statement, and the new finding line."""
    line = expected_line(ex)
    lines = ex.sql.split("\n")
    if trailing:
        lines[line - 1] += f" -- alembic-guard: ignore[{name}]"
    else:
        lines.insert(line - 1, f"-- alembic-guard: ignore[{name}]")
        line += 1
    return Example(**{**_fields(ex), "sql": "\n".join(lines), "line": line}), line


@pytest.mark.parametrize("case", [c for c in _cases("bad") if c[0].code != "AG001"], ids=_case_id)
@pytest.mark.parametrize("trailing", [False, True], ids=["line-above", "end-of-line"])
def test_suppression_hides_exactly_the_named_finding(case: tuple[Rule, Example], trailing: bool) -> None:
    rule, ex = case
    old_line = expected_line(ex)
    # lines at and below the flagged statement move down when a comment line is inserted above it
    before = [(f.line + (not trailing and f.line >= old_line), f.code) for f in run_example(ex)]
    for name in (rule.code, rule.id):
        quiet, line = _suppressed(ex, name, trailing)
        after = [(f.line, f.code) for f in run_example(quiet)]
        # the rule's finding is gone, nothing else changed, and the suppression counts as used
        assert sorted(after) == sorted(x for x in before if x != (line, rule.code))
    wrong, line = _suppressed(ex, "AG999", trailing)
    found = [(f.line, f.code) for f in run_example(wrong)]
    assert (line, rule.code) in found
    assert (line - (not trailing), "AG001") in found


def test_lint_package_stays_pure() -> None:
    import ast
    from pathlib import Path

    forbidden = (
        "sqlalchemy",
        "psycopg2",
        "psycopg",
        "alembic.runtime",
        "alembic.command",
        "subprocess",
        "socket",
    )
    pkg = Path(__file__).resolve().parents[2] / "alembic_guard" / "lint"
    for path in sorted(pkg.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n == f or n.startswith(f + ".") for n in names for f in forbidden), path
        if path.name != "docs.py":  # the generator is the one module that writes files
            assert "open(" not in path.read_text() and "write_text(" not in path.read_text(), path
