"""Multi-statement lint scenarios as SQL files: ``tests/fixtures/lint/<rule_id>.sql``.

A fixture is one unit (one revision).  Optional header:

    -- context: in_transaction=false server_version=11 lock_timeout_set=true
    -- setup:            (SQL of earlier revisions: its tables exist, with data)
    ...
    -- migration:        (the unit that is linted; positions are real file lines)

``-- expect: AG201, AG208`` on its own line expects those findings on the next
statement line; at the end of a line it expects them on that line.  Every
finding must be expected and every expectation found, so a fixture states
*all* the findings of its scenario.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from alembic_guard.lint import LintContext, all_rules, lint
from alembic_guard.lint.examples import model_from_sql
from alembic_guard.sql.parse import parse_source
from alembic_guard.sql.statement import SourceFile

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lint"
SCENARIOS = {"alembic-offline-sql"}
_EXPECT = re.compile(r"--\s*expect:\s*([A-Za-z0-9_, -]+?)\s*$")
_CONTEXT = re.compile(r"^--\s*context:(.*)$", re.MULTILINE)


def _load(path: Path) -> tuple[LintContext, SourceFile]:
    text = path.read_text(encoding="utf-8")
    options: dict[str, object] = {}
    m = _CONTEXT.search(text)
    if m:
        for pair in m.group(1).split():
            key, _, value = pair.partition("=")
            options[key] = int(value) if value.isdigit() else value == "true"
    lines = text.split("\n")
    setup_at = next((i for i, ln in enumerate(lines) if ln.strip() == "-- setup:"), None)
    migration_at = next(i for i, ln in enumerate(lines) if ln.strip() == "-- migration:")
    setup = "\n".join(lines[setup_at + 1 : migration_at]) if setup_at is not None else ""
    body = "\n".join(lines[migration_at + 1 :])
    context = LintContext(model=model_from_sql(setup) if setup else None, **options)  # type: ignore[arg-type]
    return context, SourceFile(path=path.name, text=body, base_line=migration_at + 2)


def _expected(src: SourceFile) -> Counter[tuple[int, str]]:
    lines = src.text.split("\n")
    out: Counter[tuple[int, str]] = Counter()
    for i, ln in enumerate(lines):
        m = _EXPECT.search(ln)
        if not m:
            continue
        target = i
        if not ln[: m.start()].strip():
            target = next(
                j
                for j in range(i + 1, len(lines))
                if lines[j].strip() and not lines[j].strip().startswith("--")
            )
        for code in m.group(1).split(","):
            out[(target + src.base_line, code.strip())] += 1
    return out


FILES = sorted(FIXTURES.glob("*.sql"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_fixture_findings_are_exactly_the_expected_ones(path: Path) -> None:
    context, src = _load(path)
    findings = lint(parse_source(src), context)
    got = Counter((f.line, f.code) for f in findings)
    expected = _expected(src)
    detail = "\n".join(str(f) for f in findings)
    assert got == expected, f"{path.name}: missing {expected - got}, unexpected {got - expected}\n{detail}"
    assert all(f.file == path.name for f in findings)


def test_fixture_names_are_rule_ids_or_scenarios() -> None:
    ids = {r.id for r in all_rules()}
    assert FILES
    for p in FILES:
        assert p.stem in ids or p.stem in SCENARIOS, f"{p.name}: name it after a rule id"
