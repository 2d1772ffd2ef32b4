"""``--format markdown``: a pull-request comment.

Summary first, then every finding with its help, then one collapsible
``<details>`` per revision with its SQL and the lock each statement takes
(and, with a database, the size of the table it locks), then drift and the
autogenerate comparison.  GitHub rejects comments over 65,536 characters:
when the full comment is longer, the SQL listings are dropped first, then
findings beyond what fits are counted instead of shown.
"""

from __future__ import annotations

from alembic_guard.output.common import shorten
from alembic_guard.output.report import Finding, Report, RevisionInfo

LIMIT = 65_536
_BUDGET = LIMIT - 1_024  # room for the truncation notes


def _esc(text: str) -> str:
    """Table-cell safe: no pipes or newlines."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    text = " ".join(text.split())
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _listing(sql: str) -> str:
    body = "\n".join(line.rstrip() for line in sql.strip().rstrip(";").splitlines())
    return body + ";"


def _finding(f: Finding) -> list[str]:
    mark = {"error": "❌", "warning": "⚠️"}.get(f.severity, "ℹ️")
    where = f" — `{f.location.file}:{f.location.line}`" if f.location else ""
    rev = f" (revision `{f.revision}`)" if f.revision else ""
    lines = [
        f"- {mark} **{f.code}** `{f.rule_id}`{where}{rev}: {_esc(f.message)}",
        f"  - help: {_esc(f.help)}",
    ]
    if f.sql:
        lines.append(f"  - SQL: {_code(shorten(f.sql, 300))}")
    return lines


def _revision(report: Report, rev: RevisionInfo, with_sql: bool, with_tables: bool = True) -> list[str]:
    found = report.findings_of(rev.revision)
    errors = sum(1 for f in found if f.severity == "error")
    warnings = sum(1 for f in found if f.severity == "warning")
    notes = len(found) - errors - warnings
    state = "" if rev.state == "unknown" else f", {rev.state}"
    counts = f"{errors} error(s), {warnings} warning(s)" if found else "no findings"
    counts += f", {notes} note(s)" if notes else ""
    title = f" {_esc(rev.message)}" if rev.message else ""
    lines = [
        "<details>",
        f"<summary><code>{rev.revision}</code>{title} — "
        f"{len(rev.statements)} statement(s), {counts}{state}</summary>",
        "",
        f"File: `{rev.file}`",
        "",
    ]
    if not rev.rendered:
        lines += ["_upgrade() could not be rendered offline: not checked._", ""]
    if rev.statements and with_tables:
        lines += ["| line | lock | statement |", "|---:|---|---|"]
        for st in rev.statements:
            sql = _code(shorten(st.sql, 120))
            sizes = "".join(f" — {z.table}: {_size(z.total_bytes)}, {z.describe_rows()}" for z in st.sizes)
            tx = "" if st.transactional else " (outside a transaction)"
            lines.append(f"| {st.line} | {st.lock}{tx}{sizes} | {sql.replace('|', chr(92) + '|')} |")
        lines.append("")
        if with_sql:
            lines += ["```sql", *[_listing(st.sql) for st in rev.statements], "```", ""]
    lines += ["</details>", ""]
    return lines


def _render(report: Report, with_sql: bool, max_findings: int | None, with_tables: bool = True) -> str:
    s = report.summary
    verdict = "❌ failed" if report.failed else "✅ passed"
    scope = f" after `{report.base}`" if report.base else ""
    lines = [
        "## alembic-guard check",
        "",
        f"**{verdict}**: {s.errors} error(s), {s.warnings} warning(s) in {s.revisions} revision(s){scope}."
        + (" Warnings count as errors (`--strict`)." if report.strict else ""),
        "",
    ]
    if report.database:
        lines += [f"Database `{report.database}` at `{', '.join(report.heads) or 'base'}`.", ""]
    # drift is listed once, in its own section below
    listed = tuple(f for f in report.findings if f.source != "drift")
    if listed:
        lines += ["### Findings", ""]
        shown = listed if max_findings is None else listed[:max_findings]
        for f in shown:
            lines += _finding(f)
        if len(shown) < len(listed):
            lines.append(f"- … and {len(listed) - len(shown)} more (see the full report: `--format json`)")
        lines.append("")
    if report.revisions:
        lines += ["### Revisions", ""]
        for rev in report.revisions:
            lines += _revision(report, rev, with_sql, with_tables)
    lines += ["### Drift", "", report.drift.note or report.drift.status, ""]
    for d in report.drift_items:
        fix = f" — {_esc(d.hint)}" if d.hint else ""
        lines.append(f"- {d.severity}: {d.kind} {_esc(d.object)}: {_esc(d.message)}{fix}")
    if report.drift_items:
        lines.append("")
    lines += [
        "### Models and migrations (autogenerate)",
        "",
        report.autogenerate.note or report.autogenerate.status,
        "",
    ]
    if report.autogenerate.items:
        lines += ["```", *report.autogenerate.items, "```", ""]
    if not with_sql:
        left = "SQL listings" if with_tables else "SQL listings and statement tables"
        lines += [f"_{left} left out to fit a comment; `alembic upgrade --sql` prints them._", ""]
    return "\n".join(lines)


def render(report: Report) -> str:
    # shed detail in this order until it fits: SQL listings, statement tables, then findings
    text = ""
    for with_sql, with_tables in ((True, True), (False, True), (False, False)):
        text = _render(report, with_sql, None, with_tables)
        if len(text) <= LIMIT:
            return text
    n = len(report.findings)
    while n > 0:
        n //= 2
        text = _render(report, False, n, False)
        if len(text) <= _BUDGET:
            return text
    return text[:_BUDGET] + "\n\n_… cut to fit a comment._\n"
