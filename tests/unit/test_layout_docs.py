"""docs/architecture.md names every part of the package, so a newcomer finds each one from the page."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "alembic_guard"


def test_every_module_and_package_is_on_the_layout_page() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    parts = [f"{p.name}/" for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    parts += [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    for sub in ("runtime", "testing", "output", "ops", "decide"):
        parts += [p.name for p in (PACKAGE / sub).glob("*.py") if p.name != "__init__.py"]
    missing = sorted(p for p in parts if f"`{p}" not in text and f"{p.removesuffix('.py')}`" not in text)
    assert not missing, f"docs/architecture.md does not say where these live (add a line for each): {missing}"
