"""``guard-plan --format text``: the planned order for a person to read.  Pure."""

from __future__ import annotations

from alembic_guard.output.common import one_line
from alembic_guard.plan.types import Plan, PlanStep
from alembic_guard.sql.statement import Effect


def effect_summary(effect: Effect, limit: int = 4) -> str:
    """``creates relation users, column users.id (+5)``; first few objects per verb."""
    parts = []
    for verb, refs in (
        ("creates", effect.creates),
        ("ensures", effect.ensures),
        ("drops", effect.drops),
        ("alters", effect.alters),
        ("needs", tuple(r.ref for r in effect.requires)),
    ):
        if not refs:
            continue
        shown = ", ".join(str(r) for r in refs[:limit])
        more = f" (+{len(refs) - limit})" if len(refs) > limit else ""
        parts.append(f"{verb} {shown}{more}")
    if effect.opaque is not None:
        parts.append(f"not understood: {effect.opaque}")
    if not effect.transactional:
        parts.append("must run outside a transaction")
    return "; ".join(parts) or "no schema effect"


def _mark(step: PlanStep) -> str:
    if step.split:
        return "split"
    return "moved" if step.moved else ""


def render(plan: Plan, title: str = "") -> str:
    """The steps in planned order, then the problems; ends with a newline."""
    lines: list[str] = []
    n = len(plan.steps)
    head = f"Plan for {title}: " if title else "Plan: "
    files = len(plan.source_files)
    lines.append(
        f"{head}{n} statements from {files} file{'s' if files != 1 else ''}, "
        f"{plan.moved_count - plan.split_count} moved, {plan.split_count} split"
        + ("" if plan.ok else " (INCOMPLETE: see problems)")
    )
    lines.append("")
    width = len(str(n))
    for k, step in enumerate(plan.steps, 1):
        s = step.statement
        mark = _mark(step)
        excerpt = one_line(step.sql, 72)
        lines.append(f"{k:>{width}}. {s.file}:{s.line}{'  [' + mark + ']' if mark else ''}")
        lines.append(f"{' ' * width}  {excerpt}")
        lines.append(f"{' ' * width}  -- {effect_summary(step.effect)}")
        if step.note:
            lines.append(f"{' ' * width}  -- note: {step.note}")
    errors = [p for p in plan.problems if p.severity == "error"]
    warnings = [p for p in plan.problems if p.severity != "error"]
    lines.append("")
    if not plan.problems:
        lines.append("No problems: the statements can run in this order.")
    for label, group in (("Problems", errors), ("Warnings", warnings)):
        if not group:
            continue
        lines.append(f"{label} ({len(group)}):")
        for p in group:
            lines.append(f"  {p.severity}: {p.render()}")
            if p.hint:
                lines.append(f"    hint: {p.hint}")
    return "\n".join(lines) + "\n"
