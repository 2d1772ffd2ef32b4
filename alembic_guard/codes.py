"""Every code the tool reports, declared once: AG0xx-AG7xx.

A :class:`Code` carries what identifies and explains one kind of finding:
its stable code, its id, its family (which part reports it), its default
severity, a summary that names the harm and a help line that names the fix.
Every part reads its codes from here: the lint rules (``lint``:
``AG0xx``, ``AG2xx``-``AG4xx``, ``AG7xx``; each rule module adds its
Problem / Solution text and examples), the planner's problems (``plan``:
``AG1xx``), the drift kinds (``drift``: ``AG5xx``), ``guard-check``'s own
checks (``check``: ``AG6xx``).  SARIF's rule list and ``docs/codes.md`` are
generated from this table.  Codes are never renumbered nor reused; declaring
a code or an id twice fails at import.

Pure data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["CODES", "Code", "Family", "Severity", "all_codes", "family", "get"]

Severity = Literal["error", "warning"]
Family = Literal["lint", "plan", "drift", "check"]

# where each family documents its codes (repository-relative; SARIF's helpUri and docs/codes.md link them)
_DOCS: dict[str, str] = {
    "lint": "docs/rules/{id}.md",
    "plan": "docs/guard-plan.md#problems-and-what-to-do",
    "drift": "docs/guard-check.md#drift",
    "check": "docs/guard-check.md#{id}",
}


@dataclass(frozen=True, slots=True)
class Code:
    """One code: ``AG201 require-concurrent-index``, what it harms and how to fix it."""

    code: str
    id: str
    family: Family
    severity: Severity
    summary: str
    help: str

    @property
    def label(self) -> str:
        """``AG501 missing-column``."""
        return f"{self.code} {self.id}"

    @property
    def doc_path(self) -> str:
        """The page (and section) that documents the code, relative to the repository."""
        return _DOCS[self.family].format(id=self.id)


_ALL = (
    # AG0xx: the linter itself
    Code(
        "AG001",
        "unused-suppression",
        "lint",
        "warning",
        "This suppression matches no finding, so it hides nothing today and may hide a real problem later.",
        "delete the `-- alembic-guard: ignore[...]` comment, or fix the code or id it names",
    ),
    # AG1xx: planning raw SQL (guard-plan, guard-import)
    Code(
        "AG101",
        "dependency-cycle",
        "plan",
        "error",
        "statements depend on each other in a cycle",
        "create the objects so each statement uses only earlier ones; for views, create one without the "
        "reference, then `CREATE OR REPLACE` it",
    ),
    Code(
        "AG102",
        "unresolved-reference",
        "plan",
        "error",
        "a referenced object is created by no statement and is not in the database",
        "create it in an earlier migration, fix the name, or plan against the database that has it "
        "(`--database URL`)",
    ),
    Code(
        "AG103",
        "statement-not-understood",
        "plan",
        "warning",
        "a statement was not fully understood; it keeps its place",
        "check the statement by hand; a plan cannot move statements across it",
    ),
    Code(
        "AG104",
        "object-already-exists",
        "plan",
        "error",
        "a statement creates an object that already exists in the database",
        "use IF NOT EXISTS, or drop the statement if the object is already right",
    ),
    Code(
        "AG105",
        "version-table-clash",
        "plan",
        "error",
        "the set creates a table with the name of Alembic's version table",
        "rename the table in the SQL, or give Alembic another version table (`--version-table`)",
    ),
    Code(
        "AG106",
        "reference-maybe-dynamic",
        "plan",
        "warning",
        "a referenced object is created by no statement, but dynamic SQL before it may",
        "check that the dynamic SQL really makes it",
    ),
    Code(
        "AG107",
        "reference-from-extension",
        "plan",
        "warning",
        "a referenced object is taken to come with an extension whose objects are unknown",
        "plan with `--database URL` so PostgreSQL tells what the extension provides, or declare the "
        "object in `outside_objects`",
    ),
    # AG2xx: lint, locking
    Code(
        "AG201",
        "require-concurrent-index",
        "lint",
        "error",
        "Building an index without CONCURRENTLY blocks every write to the table until the build ends.",
        "use op.create_index(..., postgresql_concurrently=True) inside `with "
        "op.get_context().autocommit_block():`",
    ),
    Code(
        "AG202",
        "require-not-valid-foreign-key",
        "lint",
        "error",
        "Adding a validated foreign key scans the whole table while writes to it and to the referenced "
        "table are blocked.",
        'use op.create_foreign_key(..., postgresql_not_valid=True), then op.execute("ALTER TABLE ... '
        'VALIDATE CONSTRAINT ...") in a later transaction',
    ),
    Code(
        "AG203",
        "require-not-valid-check",
        "lint",
        "error",
        "Adding a validated CHECK constraint scans the whole table while it blocks all reads and writes.",
        'use op.create_check_constraint(..., postgresql_not_valid=True), then op.execute("ALTER TABLE '
        '... VALIDATE CONSTRAINT ...") in a later transaction',
    ),
    Code(
        "AG204",
        "require-check-for-set-not-null",
        "lint",
        "error",
        "Setting NOT NULL scans the whole table while it blocks all reads and writes.",
        'add op.create_check_constraint("ck_x_not_null", "t", "x IS NOT NULL", '
        'postgresql_not_valid=True), VALIDATE it, then op.alter_column("t", "x", nullable=False) and '
        "drop the check",
    ),
    Code(
        "AG205",
        "ban-volatile-default",
        "lint",
        "error",
        "Adding a column whose value must be computed per row rewrites the whole table under ACCESS "
        "EXCLUSIVE.",
        "op.add_column() the column without a default (or with a constant one), op.alter_column(..., "
        "server_default=...) for new rows, then backfill existing rows in batches",
    ),
    Code(
        "AG206",
        "ban-alter-column-type-rewrite",
        "lint",
        "error",
        "Changing a column to this type rewrites the table and its indexes while it blocks all reads and "
        "writes.",
        "op.add_column() a new column of the new type, backfill it in batches, switch the code to it, "
        "then op.drop_column() the old one in a later release",
    ),
    Code(
        "AG207",
        "require-index-for-unique-constraint",
        "lint",
        "error",
        "Adding a UNIQUE or PRIMARY KEY constraint builds its index while it blocks all reads and writes.",
        "op.create_index(..., unique=True, postgresql_concurrently=True) in an autocommit block, then "
        'op.execute("ALTER TABLE t ADD CONSTRAINT c UNIQUE USING INDEX ix")',
    ),
    Code(
        "AG208",
        "require-lock-timeout",
        "lint",
        "warning",
        "Waiting for this lock without a lock_timeout queues every later query on the table behind the "
        "migration.",
        "set a lock_timeout first: op.execute(\"SET LOCAL lock_timeout = '5s'\") at the start of "
        "upgrade(), or the guarded runner's lock_timeout setting, and retry on timeout",
    ),
    # AG3xx: lint, data safety
    Code(
        "AG301",
        "ban-drop-column",
        "lint",
        "warning",
        "Dropping a column breaks the application instances still running that read or write it, and "
        "loses its data.",
        "stop using the column in a release first (SQLAlchemy: deferred / removed from the model), then "
        "op.drop_column() in a later revision, and suppress this finding there",
    ),
    Code(
        "AG302",
        "ban-drop-table",
        "lint",
        "warning",
        "Dropping a table breaks the application instances still running that use it, and loses its data.",
        "stop using the table in a release first, then op.drop_table() in a later revision and suppress "
        "this finding there",
    ),
    Code(
        "AG303",
        "ban-rename-column",
        "lint",
        "warning",
        "Renaming a column breaks the application instances still running that use the old name.",
        "op.add_column() the new column, write both and backfill, move reads to it, then drop the old "
        "one in a later release",
    ),
    Code(
        "AG304",
        "ban-rename-table",
        "lint",
        "warning",
        "Renaming a table breaks the application instances still running that use the old name.",
        'op.rename_table() and, in the same revision, op.execute("CREATE VIEW old_name AS SELECT * FROM '
        'new_name") so old code keeps working; drop the view in a later release',
    ),
    Code(
        "AG305",
        "require-default-for-not-null-column",
        "lint",
        "error",
        "Adding a NOT NULL column without a default fails as soon as the table has a row.",
        "op.add_column() it nullable (or with server_default=...), backfill, then op.alter_column(..., "
        "nullable=False)",
    ),
    # AG4xx: lint, idempotency and transactions
    Code(
        "AG401",
        "ban-concurrently-in-transaction",
        "lint",
        "error",
        "This statement cannot run inside a transaction block, so the migration fails when it gets there.",
        "wrap the operation in `with op.get_context().autocommit_block():` (Alembic runs each revision "
        "in a transaction otherwise)",
    ),
    Code(
        "AG402",
        "require-idempotent-ddl",
        "lint",
        "warning",
        "This statement fails when it runs again on a database where it already ran, so a retried or "
        "drifted migration stops here.",
        "prefer the guarded ops (op.create_table, op.add_column, op.create_index ... with the "
        "alembic_guard plugin) or write IF NOT EXISTS / IF EXISTS / OR REPLACE",
    ),
    Code(
        "AG403",
        "ban-enum-value-in-transaction",
        "lint",
        "error",
        "Before PostgreSQL 12, adding an enum value cannot run inside a transaction block, so the "
        "migration fails here.",
        'run op.execute("ALTER TYPE ... ADD VALUE IF NOT EXISTS ...") inside `with '
        "op.get_context().autocommit_block():`",
    ),
    Code(
        "AG404",
        "ban-new-enum-value-use",
        "lint",
        "error",
        "A new enum value cannot be used in the transaction that added it, so this statement fails with "
        "'unsafe use of new value'.",
        "add the value in its own revision (or inside `with op.get_context().autocommit_block():`) and "
        "use it in a later revision",
    ),
    # AG5xx: drift between the live schema and the revisions (guard-check, guard-repair)
    Code(
        "AG501",
        "missing-column",
        "drift",
        "error",
        "queries that use it fail",
        "run `alembic guard-repair --apply` to add it",
    ),
    Code(
        "AG502",
        "extra-column",
        "drift",
        "warning",
        "no revision creates it, so a later revision adding a column of that name will fail",
        "keep it and add a revision for it, or drop it with `alembic guard-repair --apply "
        "--allow-destructive`",
    ),
    Code(
        "AG503",
        "column-type",
        "drift",
        "error",
        "values may be truncated or rejected and queries may behave differently",
        "change it with `alembic guard-repair --apply --allow-destructive` (rewrites the table), or add "
        "a revision that records the type the database has",
    ),
    Code(
        "AG504",
        "column-nullability",
        "drift",
        "error",
        "rows the application does not expect (NULLs) may be stored, or inserts it expects to work fail",
        "run `alembic guard-repair --apply` (NULLs are counted before SET NOT NULL)",
    ),
    Code(
        "AG505",
        "missing-index",
        "drift",
        "error",
        "queries that rely on it scan the table",
        "run `alembic guard-repair --apply` to build it (CONCURRENTLY)",
    ),
    Code(
        "AG506",
        "invalid-index",
        "drift",
        "error",
        "a failed concurrent build left it INVALID: it is maintained on every write but never used, and "
        "IF NOT EXISTS takes it for the real index",
        "run `alembic guard-repair --apply` to drop and rebuild it CONCURRENTLY",
    ),
    Code(
        "AG507",
        "index-definition",
        "drift",
        "warning",
        "the index of that name indexes something else, so queries the revision planned for scan",
        "rebuild it with `alembic guard-repair --apply --allow-destructive`",
    ),
    Code(
        "AG508",
        "missing-constraint",
        "drift",
        "error",
        "rows that break the rule can be written",
        "run `alembic guard-repair --apply` (existing rows are checked first)",
    ),
    Code(
        "AG509",
        "not-valid-constraint",
        "drift",
        "warning",
        "it was added NOT VALID and never validated: rows written before it may break it",
        "run `alembic guard-repair --apply` to VALIDATE it (existing rows are checked first)",
    ),
    Code(
        "AG510",
        "missing-table",
        "drift",
        "error",
        "everything that reads or writes it fails",
        "run `alembic guard-repair --apply` to create it",
    ),
    Code(
        "AG511",
        "extra-table",
        "drift",
        "warning",
        "no revision creates it, so a later revision creating a table of that name will fail",
        "keep it and add a revision for it, or drop it with `alembic guard-repair --apply "
        "--allow-destructive`",
    ),
    Code(
        "AG512",
        "missing-view",
        "drift",
        "error",
        "queries of the view fail",
        "run `alembic guard-repair --apply` to create it from the definition the revisions give it",
    ),
    Code(
        "AG513",
        "missing-function",
        "drift",
        "error",
        "calls of the function, and triggers using it, fail",
        "run `alembic guard-repair --apply` to create it from the definition the revisions give it",
    ),
    Code(
        "AG514",
        "missing-trigger",
        "drift",
        "error",
        "the work it does on each write silently stops",
        "run `alembic guard-repair --apply` to create it from the definition the revisions give it",
    ),
    Code(
        "AG515",
        "missing-enum-value",
        "drift",
        "error",
        "writes of that value fail",
        "run `alembic guard-repair --apply` to add the value",
    ),
    Code(
        "AG516",
        "column-default",
        "drift",
        "warning",
        "inserts that omit the column store another value than the revisions intend",
        "run `alembic guard-repair --apply` to set the default (no row changes)",
    ),
    Code(
        "AG517",
        "extra-index",
        "drift",
        "warning",
        "no revision creates it, and it slows every write",
        "keep it and add a revision for it, or drop it with `alembic guard-repair --apply "
        "--allow-destructive`",
    ),
    Code(
        "AG518",
        "constraint-definition",
        "drift",
        "error",
        "the constraint of that name enforces another rule than the revisions declare",
        "recreate it with `alembic guard-repair --apply --allow-destructive`",
    ),
    Code(
        "AG519",
        "extra-constraint",
        "drift",
        "warning",
        "it may reject writes the application expects to succeed",
        "keep it and add a revision for it, or drop it with `alembic guard-repair --apply "
        "--allow-destructive`",
    ),
    Code(
        "AG520",
        "view-definition",
        "drift",
        "warning",
        "the view returns something else than the revisions define",
        "recreate it with `alembic guard-repair --apply --allow-destructive`",
    ),
    Code(
        "AG521",
        "missing-type",
        "drift",
        "error",
        "columns and casts using the type cannot be created",
        "run `alembic guard-repair --apply` to create it",
    ),
    Code(
        "AG522",
        "missing-sequence",
        "drift",
        "error",
        "defaults drawing from it (nextval) fail",
        "run `alembic guard-repair --apply` to create it",
    ),
    Code(
        "AG523",
        "missing-extension",
        "drift",
        "error",
        "the types and functions it provides are missing",
        "run `alembic guard-repair --apply` to create it (needs a role allowed to)",
    ),
    Code(
        "AG524",
        "leftover-step",
        "drift",
        "warning",
        "a failed revision's non-transactional step committed it and the rollback could not undo it",
        "keep it (retrying the revision skips it), or undo it with `alembic guard-repair --apply "
        "--allow-destructive`",
    ),
    # AG6xx: guard-check's own checks
    Code(
        "AG601",
        "require-earlier-revision",
        "check",
        "error",
        "A revision needs an object that no earlier revision provides; it fails on a database built by them.",
        "create the table or column in this or an earlier revision, or fix the name",
    ),
    Code(
        "AG602",
        "ban-multiple-heads",
        "check",
        "error",
        "The revisions have more than one head; `alembic upgrade head` refuses to run.",
        "merge the heads with `alembic merge heads -m merge` (or rebase one branch onto the other)",
    ),
    Code(
        "AG603",
        "ban-changed-applied-revision",
        "check",
        "error",
        "A revision file changed after it was applied; databases that ran the old text differ from new ones.",
        "revert the edit and put the change in a new revision",
    ),
    Code(
        "AG604",
        "require-offline-rendering",
        "check",
        "warning",
        "A revision's upgrade() cannot be rendered as SQL offline, so it was not checked.",
        "avoid reading data with op.get_bind() in upgrade(), or check this revision by hand",
    ),
    Code(
        "AG605",
        "ban-unparsable-sql",
        "check",
        "error",
        "A revision emits SQL that PostgreSQL's parser rejects; the upgrade fails at this statement.",
        "fix the SQL passed to op.execute()",
    ),
    Code(
        "AG611",
        "require-preflight",
        "check",
        "error",
        "A pending revision needs an object the database does not have; the upgrade would fail.",
        "add the revision that creates it first, or repair the database (`alembic guard-repair`)",
    ),
    Code(
        "AG612",
        "require-adopted-database",
        "check",
        "warning",
        "The database holds objects the revisions create but no Alembic version: a database built "
        "outside Alembic (a legacy runner) that was not adopted; its drift cannot be judged.",
        "run `alembic guard-adopt` to stamp the revisions that are present, then `alembic upgrade head` "
        "completes the rest through the guards (rows are kept)",
    ),
    Code(
        "AG621",
        "ban-failed-run",
        "check",
        "error",
        "The last attempt at a pending revision failed (from the ledger).",
        "read the error and statement, fix the cause, then run `alembic upgrade head` again",
    ),
    Code(
        "AG622",
        "ban-lenient-debt",
        "check",
        "warning",
        "An applied revision skipped an operation under the lenient policy; the schema lacks what it "
        "should add.",
        "fix the cause and re-run the operation in a new revision (see `alembic guard-status`)",
    ),
    Code(
        "AG641",
        "ban-invalid-index",
        "check",
        "warning",
        "An index is INVALID (a failed concurrent build): it is maintained on writes but never used.",
        "drop it and build it again (`DROP INDEX CONCURRENTLY ...; CREATE INDEX CONCURRENTLY ...`)",
    ),
    Code(
        "AG642",
        "require-validated-constraint",
        "check",
        "warning",
        "A constraint was added NOT VALID and never validated; existing rows are not checked.",
        "run `ALTER TABLE ... VALIDATE CONSTRAINT ...` in a revision",
    ),
    Code(
        "AG651",
        "require-models-match-migrations",
        "check",
        "warning",
        "The application's models and the schema the migrations build differ (autogenerate would emit this).",
        "generate a revision for the model change (`alembic revision --autogenerate`), or fix the models",
    ),
    # AG7xx: lint, the target server's version
    Code(
        "AG701",
        "ban-syntax-newer-than-server",
        "lint",
        "error",
        "The target PostgreSQL version rejects this statement, so the migration fails when it gets there.",
        "rewrite it for the target version, or, if every server already runs a newer PostgreSQL, raise "
        "`server_version` in the profile (or check against the real server with --database)",
    ),
)


def _index(codes: Iterable[Code]) -> dict[str, Code]:
    """``codes`` by code; a code or an id declared twice is a programming error."""
    by_code: dict[str, Code] = {}
    by_id: dict[str, Code] = {}
    for c in codes:
        if c.code in by_code:
            raise ValueError(f"code {c.code} declared twice ({by_code[c.code].id} and {c.id})")
        if c.id in by_id:
            raise ValueError(f"id {c.id} declared twice ({by_id[c.id].code} and {c.code})")
        by_code[c.code] = by_id[c.id] = c
    return by_code


CODES: dict[str, Code] = _index(_ALL)


def get(code: str) -> Code:
    """The declared code ``code``; ``KeyError`` naming it when it is not declared here."""
    try:
        return CODES[code]
    except KeyError:
        raise KeyError(f"{code} is not declared in alembic_guard.codes") from None


def all_codes() -> tuple[Code, ...]:
    """Every code, by code."""
    return tuple(sorted(_ALL, key=lambda c: c.code))


def family(name: Family) -> tuple[Code, ...]:
    """The codes of one family, by code."""
    return tuple(c for c in all_codes() if c.family == name)


_FAMILY_TITLES: tuple[tuple[Family, str], ...] = (
    ("lint", "Lint rules (`guard-check`): AG0xx, AG2xx-AG4xx, AG7xx"),
    ("plan", "Planning raw SQL (`guard-plan`, `guard-import`): AG1xx"),
    ("drift", "Drift (`guard-check` with a database, `guard-repair`): AG5xx"),
    ("check", "`guard-check`'s own checks: AG6xx"),
)


def markdown() -> str:
    """``docs/codes.md``: every code, by family, linked to the page that documents it."""
    lines = [
        "# Codes",
        "",
        "<!-- generated: `python -m alembic_guard.codes > docs/codes.md`; "
        "tests/unit/test_codes.py fails when stale -->",
        "",
        "Every finding carries a stable code (never renumbered, never reused) and an id. "
        "Suppress a lint finding with `-- alembic-guard: ignore[CODE]` (see [rules](rules/index.md)).",
    ]
    for name, title in _FAMILY_TITLES:
        lines += ["", f"## {title}", "", "| code | id | severity | harm | fix |", "|---|---|---|---|---|"]
        for c in family(name):
            link = c.doc_path.removeprefix("docs/")
            summary = c.summary.replace("|", "\\|")
            fix = c.help.replace("|", "\\|")
            lines.append(f"| [{c.code}]({link}) | `{c.id}` | {c.severity} | {summary} | {fix} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
