"""Properties: findings depend on what the SQL says, not on how it is laid out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alembic_guard.lint import Example, all_rules, lint
from alembic_guard.lint.examples import context_of
from alembic_guard.sql.parse import parse_text

EXAMPLES = [ex for r in all_rules() for ex in (*r.bad, *r.good) if "alembic-guard:" not in ex.sql]

_noise = st.lists(
    st.sampled_from(["", "   ", "-- note", "-- été ✓ 日本", "/* bloc\n   multi-ligne */", "\t"]),
    max_size=3,
).map(lambda parts: "".join(p + "\n" for p in parts))


def _by_statement(ex: Example, text: str) -> list[tuple[int, str, str]]:
    """(statement index, code, message) of every finding, found by the statement's line and column."""
    stmts = parse_text(text, path="p.sql")
    where = {(s.line, s.col): i for i, s in enumerate(stmts)}
    return sorted((where[(f.line, f.col)], f.code, f.message) for f in lint(stmts, context_of(ex)))


@given(st.sampled_from(EXAMPLES), st.data())
def test_findings_survive_comments_and_blank_lines(ex: Example, data: st.DataObject) -> None:
    stmts = parse_text(ex.sql, path="p.sql")
    plain = "".join(s.text + ";\n" for s in stmts)
    noisy = "".join(
        data.draw(_noise) + s.text + ";" + data.draw(st.sampled_from(["\n", " ", "\n\n"])) for s in stmts
    )
    assert _by_statement(ex, noisy) == _by_statement(ex, plain)


@given(st.sampled_from(EXAMPLES))
def test_lint_is_deterministic_and_sorted(ex: Example) -> None:
    stmts = parse_text(ex.sql, path="p.sql")
    first = lint(stmts, context_of(ex))
    assert first == lint(stmts, context_of(ex))
    assert [(f.line, f.col, f.code) for f in first] == sorted((f.line, f.col, f.code) for f in first)
