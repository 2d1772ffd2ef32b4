"""What ``guard-check`` and ``guard-plan`` print: one module per output format, chosen here and nowhere else.

``guard-check`` builds one :class:`~alembic_guard.output.report.Report`;
``check_text``, ``check_json``, ``check_markdown`` and ``check_sarif`` render
it.  ``guard-plan`` builds one :class:`~alembic_guard.plan.types.Plan`;
``plan_text`` and ``plan_json`` render it.  Each renderer is a pure function
``render(document) -> str`` with deterministic output; the helpers they share
(shortening an excerpt, writing JSON) are in :mod:`alembic_guard.output.common`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alembic_guard.output.report import Report

if TYPE_CHECKING:
    from alembic_guard.plan.types import Plan

__all__ = ["CHECK_FORMATS", "PLAN_FORMATS", "Report", "render_check", "render_plan"]

CHECK_FORMATS: dict[str, str] = {
    "text": "alembic_guard.output.check_text",
    "json": "alembic_guard.output.check_json",
    "markdown": "alembic_guard.output.check_markdown",
    "sarif": "alembic_guard.output.check_sarif",
}
PLAN_FORMATS: dict[str, str] = {
    "text": "alembic_guard.output.plan_text",
    "json": "alembic_guard.output.plan_json",
}


def _module(formats: dict[str, str], fmt: str, what: str) -> Any:
    try:
        return importlib.import_module(formats[fmt])
    except KeyError:
        raise ValueError(f"unknown {what} format {fmt!r}; one of {', '.join(formats)}") from None


def check_renderer(fmt: str) -> Callable[[Report], str]:
    fn: Callable[[Report], str] = _module(CHECK_FORMATS, fmt, "report").render
    return fn


def render_check(report: Report, fmt: str) -> str:
    """``report`` in format ``fmt`` (text, json, markdown, sarif), ending with a newline."""
    out = check_renderer(fmt)(report)
    return out if out.endswith("\n") else out + "\n"


def render_plan(plan: Plan, fmt: str, title: str = "") -> str:
    """``plan`` in format ``fmt`` (text, json), ending with a newline; ``title`` heads the text format."""
    module = _module(PLAN_FORMATS, fmt, "plan")
    if fmt == "text":
        out: str = module.render(plan, title=title)
    else:
        out = module.render(plan)
    return out
