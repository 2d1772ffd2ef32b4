"""Report formats for ``guard-check``: one :class:`Report`, one renderer module per format.

The format is chosen here and nowhere else (:data:`FORMATS`); each renderer
is a pure function ``render(report) -> str`` with deterministic output.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from alembic_guard.report.types import Report

__all__ = ["FORMATS", "Report", "render"]

FORMATS: dict[str, str] = {
    "text": "alembic_guard.report.text",
    "json": "alembic_guard.report.json_format",
    "markdown": "alembic_guard.report.markdown",
    "sarif": "alembic_guard.report.sarif",
}


def renderer(fmt: str) -> Callable[[Report], str]:
    try:
        module = importlib.import_module(FORMATS[fmt])
    except KeyError:
        raise ValueError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}") from None
    fn: Callable[[Report], str] = module.render
    return fn


def render(report: Report, fmt: str) -> str:
    """``report`` in format ``fmt`` (text, json, markdown, sarif), ending with a newline."""
    out = renderer(fmt)(report)
    return out if out.endswith("\n") else out + "\n"
