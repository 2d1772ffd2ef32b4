"""The docs cite what a reader can find: scripts that are in the repository, no internal tracker numbers.

Issue 12 item 11: docs/benchmarks.md named a script under /tmp and the internal issue each
figure belonged to.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("**/*.md")), ROOT / "README.md"]
# paths of this repository's own code (a page's example project has tests/ and migrations/ of its own)
_OWN_PATH = re.compile(r"(?<![\w/.-])((?:bench|scripts|alembic_guard)/[\w./-]+\.(?:py|sh|sql|json|txt))")
_TRACKER = re.compile(r"\b[Ii]ssues? #?\d+")
# docs/real-world.md reports the corpus measurement of the open work it is named after
_TRACKER_EXEMPT = {"real-world.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_cited_scripts_exist_and_no_internal_issue_numbers(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    missing = sorted({m.group(1) for m in _OWN_PATH.finditer(text) if not (ROOT / m.group(1)).exists()})
    assert not missing, f"{page.name} cites files that are not in the repository: {missing}"
    assert not re.search(r"/tmp/\S+\.(?:sh|py)", text), f"{page.name} cites a script under /tmp"
    if page.name not in _TRACKER_EXEMPT:
        cited = _TRACKER.findall(text)
        assert not cited, f"{page.name} cites internal issue numbers: {cited}"
