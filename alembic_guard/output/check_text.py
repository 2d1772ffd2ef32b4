"""``--format text``: a terminal report, one line per finding.

``file:line:col: severity CODE rule-id: message``, then the SQL and the help.
"""

from __future__ import annotations

from alembic_guard.output.common import one_line
from alembic_guard.output.report import Finding, Report


def _finding_lines(f: Finding, indent: str) -> list[str]:
    where = f"{f.location}: " if f.location else ""
    lines = [f"{indent}{where}{f.severity} {f.code} {f.rule_id}: {f.message}"]
    if f.sql:
        lines.append(f"{indent}    sql: {one_line(f.sql, 160)}")
    lines.append(f"{indent}    help: {f.help}")
    return lines


def render(report: Report) -> str:
    s = report.summary
    lines = [
        f"guard-check: {s.revisions} revision(s) checked" + (f" after {report.base}" if report.base else "")
    ]
    if report.database:
        lines.append(f"database: {report.database} at {', '.join(report.heads) or 'base'}")
    for rev in report.revisions:
        found = report.findings_of(rev.revision)
        state = "" if rev.state == "unknown" else f" [{rev.state}]"
        title = f" {rev.message}" if rev.message else ""
        status = f"{len(found)} finding(s)" if found else "ok"
        lines.append(f"revision {rev.revision}{state} {rev.file}:{title} — {status}")
        for f in found:
            lines.extend(_finding_lines(f, "  "))
        for st in rev.statements:
            for size in st.sizes:
                lines.append(
                    f"  line {st.line}: {st.lock} on {size.table} "
                    f"({size.total_bytes} bytes, {size.describe_rows()})"
                )
    # drift findings are listed once, under "drift:" (with their fix), not again here
    project = [f for f in report.findings_of(None) if f.source != "drift"]
    if project:
        lines.append("project:")
        for f in project:
            lines.extend(_finding_lines(f, "  "))
    lines.append(f"drift: {report.drift.note or report.drift.status}")
    for item in report.drift_items:
        lines.append(f"  {item.severity} {item.kind} {item.object}: {item.message}")
        if item.hint:
            lines.append(f"      help: {item.hint}")
    lines.append(f"autogenerate: {report.autogenerate.note or report.autogenerate.status}")
    for line in report.autogenerate.items:
        lines.append(f"  {line}")
    verdict = "FAILED" if report.failed else "OK"
    strict = " (--strict: warnings count as errors)" if report.strict and s.warnings else ""
    notes = f", {s.notes} note(s)" if s.notes else ""
    lines.append(f"{verdict}: {s.errors} error(s), {s.warnings} warning(s){notes}{strict}")
    return "\n".join(lines) + "\n"
