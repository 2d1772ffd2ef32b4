"""The one report ``guard-check`` produces; every output format renders it.

Pure data: frozen dataclasses holding tuples, built by
:mod:`alembic_guard.check` and read by the renderers in this package.  The
JSON renderer is a direct mapping of these classes (documented, versioned
in ``docs/report-schema.md``), so adding a field here is a schema change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# "note": not a problem where the report was made (e.g. the guarded runtime does it safely),
# said so that the reader knows why the usual finding is not an error; never fails a check
Severity = Literal["error", "warning", "note"]

SCHEMA_NAME = "alembic-guard/check"
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a revision file: path relative to the project (alembic.ini's directory), 1-based."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: what (code, rule id, message), how bad, what to do (help), where, and the SQL.

    ``source`` says which check produced it: ``lint``, ``reference`` (a
    requirement no earlier revision provides), ``heads``, ``render``,
    ``checksum``, ``preflight``, ``ledger``, ``drift`` or ``live``.
    """

    code: str
    rule_id: str
    severity: Severity
    message: str
    help: str
    source: str
    revision: str | None = None
    location: Location | None = None
    sql: str | None = None

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (
            loc.file if loc else "",
            loc.line if loc else 0,
            loc.col if loc else 0,
            self.code,
            self.message,
        )


@dataclass(frozen=True, slots=True)
class TableSize:
    """How big a table a lock-heavy statement locks is (from ``pg_class``)."""

    table: str
    total_bytes: int
    row_estimate: int
    # how row_estimate was found: "estimate" (pg_class.reltuples), "count" (counted: exact),
    # "at-least" (counted up to a bound and stopped there), "unknown" (could not be counted)
    rows: str = "estimate"

    def describe_rows(self) -> str:
        """``~5,000 rows`` (estimate), ``12 rows`` (counted), ``≥10,000 rows`` (counted up to a bound)."""
        n = f"{max(self.row_estimate, 0):,}"
        return {"count": f"{n} rows", "at-least": f"≥{n} rows", "unknown": "rows unknown"}.get(
            self.rows, f"~{n} rows"
        )


@dataclass(frozen=True, slots=True)
class StatementInfo:
    """One SQL statement a revision emits (rendered offline), with the lock it takes."""

    sql: str
    line: int  # line of the op call in the revision file (1 when unknown)
    lock: str  # "ACCESS EXCLUSIVE" ... "none"
    transactional: bool = True
    sizes: tuple[TableSize, ...] = ()


@dataclass(frozen=True, slots=True)
class RevisionInfo:
    """A revision checked: identity, file, state, and its statements in order."""

    revision: str
    down_revisions: tuple[str, ...]
    message: str
    file: str
    state: str  # "unknown" (offline), "applied" or "pending"
    rendered: bool  # False: upgrade() could not be rendered offline (see the render finding)
    statements: tuple[StatementInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class DriftItem:
    """One difference between the expected schema (replayed revisions) and the live one."""

    kind: str
    object: str
    severity: Severity
    message: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Section:
    """A part of the report that may be unavailable: ``status`` ``ok`` | ``skipped`` | ``unavailable``.

    ``note`` says why when it is not ``ok``; ``items`` are its lines.
    """

    status: str
    note: str = ""
    items: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Summary:
    revisions: int
    errors: int
    warnings: int
    by_code: tuple[tuple[str, int], ...] = ()
    notes: int = 0


@dataclass(frozen=True, slots=True)
class Report:
    """Everything one ``guard-check`` run found."""

    tool_version: str
    base: str | None
    heads: tuple[str, ...]
    database: str | None  # masked URL when the live checks ran, else None
    revisions: tuple[RevisionInfo, ...]
    findings: tuple[Finding, ...]
    drift: Section
    drift_items: tuple[DriftItem, ...] = ()
    autogenerate: Section = field(default_factory=lambda: Section("skipped", "no --base and no --metadata"))
    strict: bool = False
    # the project's Alembic configuration file, relative to the project root: where
    # project-wide findings (multiple heads, live catalog state) point in SARIF
    config_file: str = "alembic.ini"
    # base of the documentation links in SARIF (None: the project's own docs)
    docs_url: str | None = None

    @property
    def summary(self) -> Summary:
        errors = sum(1 for f in self.findings if f.severity == "error")
        warnings = sum(1 for f in self.findings if f.severity == "warning")
        counts: dict[str, int] = {}
        for f in self.findings:
            if f.severity != "note":
                counts[f.code] = counts.get(f.code, 0) + 1
        notes = len(self.findings) - errors - warnings
        return Summary(len(self.revisions), errors, warnings, tuple(sorted(counts.items())), notes)

    @property
    def failed(self) -> bool:
        """Exit 1?  Errors, or with ``--strict`` warnings too (notes never)."""
        s = self.summary
        return s.errors > 0 or (self.strict and s.warnings > 0)

    def findings_of(self, revision: str | None) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.revision == revision)
