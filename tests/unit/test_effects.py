"""Statement effects, tested as data: ``tests/fixtures/effects/<verb_object>.sql``.

Each statement in a fixture file is followed by comment lines saying what its
effect must be, one line per facet, objects in ``ObjRef.describe()`` form:

    CREATE INDEX ix ON t (a);
    -- creates: index ix
    -- requires: relation t; column t.a

``uses`` (run-time requirements), ``maybe_drops`` (conditional drops) and
``dynamic`` (glob patterns of what dynamic SQL may create) are facets too.
Facets not listed must be empty; ``-- opaque: <words>`` expects an opaque
effect whose reason contains the words; ``-- transactional: false`` expects a
statement that cannot run in a transaction block.  The whole file is analysed
with :func:`analyze_all`, so ``SET search_path`` lines in a fixture count.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from pglast.parser import parse_sql_json

from alembic_guard.sql.effects import analyze, analyze_all
from alembic_guard.sql.parse import parse_text
from alembic_guard.sql.statement import AnalyzedStatement, Effect

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "effects"
FACETS = ("creates", "ensures", "requires", "drops", "alters", "uses", "maybe_drops", "dynamic")
_EXPECT = re.compile(
    r"^\s*--\s*(creates|ensures|requires|drops|alters|uses|maybe_drops|dynamic|opaque|transactional):"
    r"\s*(.*?)\s*$"
)


def describe(effect: Effect) -> list[str]:
    """The compact, sorted form the fixture files use."""
    lines = []
    for facet in FACETS:
        refs = (
            [r.ref for r in getattr(effect, facet)]
            if facet in ("requires", "uses")
            else getattr(effect, facet)
        )
        if refs:
            lines.append(f"{facet}: " + "; ".join(sorted(str(r) for r in refs)))
    if effect.opaque is not None:
        lines.append(f"opaque: {effect.opaque}")
    if not effect.transactional:
        lines.append("transactional: false")
    return lines


def _expectations(text: str, analyzed: list[AnalyzedStatement]) -> list[list[str]]:
    """For each statement, the ``-- facet:`` lines between it and the next statement."""
    out = []
    for i, a in enumerate(analyzed):
        st = a.statement
        end = st.offset + len(st.text)
        nxt = analyzed[i + 1].statement.offset if i + 1 < len(analyzed) else len(text)
        facets: dict[str, list[str]] = {}
        for line in text[end:nxt].splitlines():
            m = _EXPECT.match(line)
            if m:
                facet, value = m.groups()
                # a facet may take several lines; their objects add up
                facets.setdefault(facet, []).extend(
                    v.strip() for v in value.split(";") if v.strip() or facet not in FACETS
                )
        out.append([f"{f}: " + "; ".join(sorted(v) if f in FACETS else v) for f, v in facets.items()])
    return out


def _normalize_actual(actual: list[str], expected: list[str]) -> list[str]:
    """Opaque reasons are compared by substring: show the expected words when they match."""
    want = {e.split(": ", 1)[1] for e in expected if e.startswith("opaque: ")}
    out = []
    for line in actual:
        if line.startswith("opaque: "):
            reason = line.split(": ", 1)[1]
            hit = next((w for w in want if w.lower() in reason.lower()), None)
            line = f"opaque: {hit}" if hit is not None else line
        out.append(line)
    return out


FIXTURE_FILES = sorted(FIXTURES.glob("*.sql"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.stem for p in FIXTURE_FILES])
def test_effects_fixture(path: Path) -> None:
    text = path.read_text()
    analyzed = analyze_all(parse_text(text, path.name))
    assert analyzed, f"{path.name} has no statements"
    problems = []
    for a, expected in zip(analyzed, _expectations(text, analyzed), strict=True):
        actual = _normalize_actual(describe(a.effect), expected)
        if sorted(actual) != sorted(expected):
            diff = "\n".join(
                difflib.unified_diff(sorted(expected), sorted(actual), "expected", "actual", lineterm="")
            )
            problems.append(f"{a.statement.where}: {a.statement.excerpt(60)}\n{diff}")
    assert not problems, "\n\n".join(problems)


def test_every_fixture_statement_has_expectations() -> None:
    """A statement with no expectation lines would test nothing: only no-effect ones may omit them."""
    for path in FIXTURE_FILES:
        text = path.read_text()
        analyzed = analyze_all(parse_text(text, path.name))
        for a, expected in zip(analyzed, _expectations(text, analyzed), strict=True):
            if not expected:
                assert describe(a.effect) == [], f"{a.statement.where} has an effect but no expectations"


def test_requirement_points_at_the_reference() -> None:
    text = "-- été\nCREATE INDEX ix ON tasks (project_id);\n"
    (st,) = parse_text(text, "0001.sql")
    req = {str(r.ref): r.location for r in analyze(st).requires}
    # byte offsets: "-- été\n" is 9 bytes (é is two), the table name starts at byte 28
    assert req["relation tasks"] == text.encode().index(b"tasks")


def test_requirement_inside_do_block_points_into_the_body() -> None:
    text = "DO $$\nBEGIN\n  ALTER TABLE accounts ADD COLUMN note text;\nEND\n$$;\n"
    (st,) = parse_text(text, "0002.sql")
    (req,) = analyze(st).requires
    assert str(req.ref) == "relation accounts"
    assert req.location == text.encode().index(b"accounts")


def test_search_path_resets_per_file() -> None:
    first = parse_text("SET search_path TO app;\nCREATE TABLE a (id int);\n", "1.sql")
    second = parse_text("CREATE TABLE b (id int);\n", "2.sql")
    analyzed = analyze_all(first + second)
    assert str(analyzed[1].effect.creates[0]) == "relation app.a"
    assert str(analyzed[2].effect.creates[0]) == "relation b"


def test_each_file_starts_with_the_session_search_path() -> None:
    """A role's ``SET search_path = storage, public``: unqualified names are created in storage."""
    first = parse_text("CREATE TABLE a (id int);\nSET search_path TO app;\nCREATE TABLE b ();\n", "1.sql")
    second = parse_text("RESET search_path;\nCREATE TABLE c (id int REFERENCES a);\n", "2.sql")
    analyzed = analyze_all(first + second, search_path=("storage", "public"))
    created = [str(c) for a in analyzed for c in a.effect.creates if c.kind == "relation"]
    assert created == ["relation storage.a", "relation app.b", "relation storage.c"]
    assert "relation storage.a" in {str(r.ref) for r in analyzed[-1].effect.requires}


def test_expression_text_is_taken_from_the_source() -> None:
    text = (
        "CREATE TABLE t (a int DEFAULT (1 + 2) NOT NULL CHECK (a > 0 AND a < 'x''y'::text::int),"
        " b text DEFAULT 'a, b' COLLATE \"C\");\n"
        "CREATE INDEX ON t (lower(b) text_pattern_ops DESC, (a + 1)) WHERE a > 0 AND b <> ';';\n"
    )
    create, index = (a.effect for a in analyze_all(parse_text(text)))
    table = next(c for c in create.changes if type(c).__name__ == "PutTable").table
    assert table.column("a").default == "(1 + 2)"
    assert table.column("b").default == "'a, b'"
    check = next(c for c in create.changes if type(c).__name__ == "PutConstraint").constraint
    assert check.expression == "a > 0 AND a < 'x''y'::text::int"
    ix = next(c for c in index.changes if type(c).__name__ == "PutIndex").index
    assert ix.name == "t_lower_expr_idx"
    assert ix.columns == ("lower(b)", "a + 1")
    assert ix.predicate == "a > 0 AND b <> ';'"


def test_analysis_time_grows_linearly_with_the_statements() -> None:
    """Effects must not be the slow part of the pipeline: no walk that rescans what the earlier
    statements left (a name looked up by scanning the schema made the analysis quadratic once).

    Analysing eight copies of the corpus must take less than sixteen times as long as one copy
    (linear, within a factor of two; a quadratic walk takes far more).  Both are measured the
    same way back to back (CPU time, best of three), so the machine's speed and load cancel
    out; the throughput against pglast's parse and squawk is bench/'s (bench_analysis.py,
    bench_corpus_speed.py), not an assertion here.
    """
    corpus = sorted((FIXTURES.parent / "corpus").glob("*.sql"))
    text = "\n".join(p.read_text() for p in corpus)
    one, eight = parse_text(text, "corpus.sql"), parse_text(text * 8, "corpus.sql")

    def best(statements: list[Any]) -> float:
        out = float("inf")
        for _ in range(3):
            t0 = time.process_time()
            analyze_all(statements)
            out = min(out, time.process_time() - t0)
        return out

    t1, t8 = best(one), best(eight)
    t0 = time.process_time()
    json.loads(parse_sql_json(text * 8))
    parse_s = time.process_time() - t0
    mb = len((text * 8).encode()) / 1e6
    print(
        f"effects: {mb / t8:.1f} MB/s, pglast JSON parse: {mb / max(parse_s, 1e-9):.1f} MB/s over "
        f"{mb:.2f} MB ({len(eight)} statements); 8 copies take {t8 / t1:.1f}x one"
    )
    assert t8 < 16 * t1


def test_corpus_share_understood() -> None:
    """A realistic multi-style corpus (Rails, Django, Flyway, golang-migrate, dbmate, goose,
    Liquibase): at least 99% of its statements must be understood, not opaque."""
    analyzed: list[AnalyzedStatement] = []
    files = sorted((FIXTURES.parent / "corpus").glob("*.sql"))
    for path in files:
        analyzed += analyze_all(parse_text(path.read_text(), path.name))
    opaque = [a for a in analyzed if a.effect.opaque is not None]
    share = 1 - len(opaque) / len(analyzed)
    print(f"corpus: {len(analyzed)} statements in {len(files)} files, {share:.1%} understood")
    assert len(analyzed) >= 300
    assert share >= 0.99, "\n".join(f"{a.statement.where}: {a.effect.opaque}" for a in opaque)
