"""One registry of codes (alembic_guard/codes.py): each declared once, each one used declared, documented."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from alembic_guard import codes
from alembic_guard.codes import CODES, Code, all_codes, family
from alembic_guard.diff import DRIFT_KINDS
from alembic_guard.lint import all_rules

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "alembic_guard"
CODE_RE = re.compile(r"AG\d{3}")
SEVERITIES = frozenset({"error", "warning"})


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "codes.py")


def _code_literals(tree: ast.AST) -> list[ast.Constant]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and CODE_RE.fullmatch(n.value)
    ]


def test_a_code_or_an_id_declared_twice_fails() -> None:
    first = all_codes()[0]
    other = Code("AG999", "other-id", "lint", "error", "Harm.", "fix")
    with pytest.raises(ValueError, match=f"code {first.code} declared twice"):
        codes._index((first, Code(first.code, "another-id", "lint", "error", "Harm.", "fix")))
    with pytest.raises(ValueError, match=f"id {first.id} declared twice"):
        codes._index((first, Code("AG998", first.id, "lint", "error", "Harm.", "fix")))
    assert list(codes._index((first, other))) == [first.code, "AG999"]


def test_each_code_is_declared_only_in_the_registry() -> None:
    """No other module pairs a code with a severity (a declaration); they name codes only to emit them."""
    found: list[str] = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Call, ast.Tuple, ast.Dict)):
                continue
            parts = [*node.args, *(k.value for k in node.keywords)] if isinstance(node, ast.Call) else []
            if isinstance(node, ast.Tuple):
                parts = list(node.elts)
            if isinstance(node, ast.Dict):
                parts = [*(k for k in node.keys if k is not None), *node.values]
            consts = {p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)}
            if any(CODE_RE.fullmatch(c) for c in consts) and consts & SEVERITIES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"codes declared outside alembic_guard/codes.py: {found}"


def test_every_code_the_package_names_is_declared() -> None:
    unknown = [
        f"{path.relative_to(ROOT)}:{c.lineno} {c.value}"
        for path in _modules()
        for c in _code_literals(ast.parse(path.read_text(encoding="utf-8")))
        if c.value not in CODES
    ]
    assert not unknown, unknown


def test_the_codes_are_numbered_by_family() -> None:
    ranges = {"lint": "0234567", "plan": "1", "drift": "5", "check": "6"}
    for c in all_codes():
        assert c.code[2] in ranges[c.family], f"{c.code} {c.id} is not in the {c.family} range"
        assert c.summary and c.help, c.code
        assert c.severity in SEVERITIES
    assert [c.code for c in all_codes()] == sorted(CODES)


def test_every_family_reads_its_codes_from_the_registry() -> None:
    assert {r.code for r in all_rules()} == {c.code for c in family("lint")}
    for r in all_rules():
        assert r.meta is CODES[r.code]
    assert sorted(DRIFT_KINDS) == sorted(c.id for c in family("drift"))
    assert all(k is CODES[k.code] for k in DRIFT_KINDS.values())


def _anchors(text: str) -> set[str]:
    """Explicit ``<a id>`` anchors and GitHub's heading slugs."""
    out = set(re.findall(r'<a id="([^"]+)"></a>', text))
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


@pytest.mark.parametrize("code", all_codes(), ids=lambda c: c.code)
def test_every_code_has_its_documentation(code: Code) -> None:
    page, _, anchor = code.doc_path.partition("#")
    path = ROOT / page
    assert path.exists(), f"{code.code}: {page} does not exist"
    text = path.read_text(encoding="utf-8")
    if anchor:
        assert anchor in _anchors(text), f"{code.code}: {page} has no section #{anchor}"
    # drift kinds are listed in their generated table (tests/unit/test_diff.py), linked from #drift
    listing = (ROOT / "docs" / "drift-and-repair.md").read_text() if code.family == "drift" else text
    assert code.code in listing, f"{code.code} is not mentioned where it is documented"


def test_docs_codes_md_is_current() -> None:
    assert (ROOT / "docs" / "codes.md").read_text(encoding="utf-8") == codes.markdown(), (
        "docs/codes.md is stale: python -m alembic_guard.codes > docs/codes.md"
    )
