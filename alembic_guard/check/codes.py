"""The codes ``guard-check`` reports besides the lint rules' and the drift kinds' (family ``AG6xx``).

Declared once here; SARIF's rule list, the docs (``docs/guard-check.md``,
one anchor per id) and every finding read them from this table.  Codes are
never reused.  Drift findings keep the codes of :mod:`alembic_guard.diff` (``AG5xx``).
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic_guard.output.report import Severity


@dataclass(frozen=True, slots=True)
class CheckCode:
    code: str
    id: str
    severity: Severity
    title: str
    help: str

    @property
    def doc_path(self) -> str:
        return f"docs/guard-check.md#{self.id}"


_ALL = (
    CheckCode(
        "AG601",
        "require-earlier-revision",
        "error",
        "A revision needs an object that no earlier revision provides; it fails on a database built by them.",
        "create the table or column in this or an earlier revision, or fix the name",
    ),
    CheckCode(
        "AG602",
        "ban-multiple-heads",
        "error",
        "The revisions have more than one head; `alembic upgrade head` refuses to run.",
        "merge the heads with `alembic merge heads -m merge` (or rebase one branch onto the other)",
    ),
    CheckCode(
        "AG603",
        "ban-changed-applied-revision",
        "error",
        "A revision file changed after it was applied; databases that ran the old text differ from new ones.",
        "revert the edit and put the change in a new revision",
    ),
    CheckCode(
        "AG604",
        "require-offline-rendering",
        "warning",
        "A revision's upgrade() cannot be rendered as SQL offline, so it was not checked.",
        "avoid reading data with op.get_bind() in upgrade(), or check this revision by hand",
    ),
    CheckCode(
        "AG605",
        "ban-unparsable-sql",
        "error",
        "A revision emits SQL that PostgreSQL's parser rejects; the upgrade fails at this statement.",
        "fix the SQL passed to op.execute()",
    ),
    CheckCode(
        "AG611",
        "require-preflight",
        "error",
        "A pending revision needs an object the database does not have; the upgrade would fail.",
        "add the revision that creates it first, or repair the database (`alembic guard-repair`)",
    ),
    CheckCode(
        "AG612",
        "require-adopted-database",
        "warning",
        "The database holds objects the revisions create but no Alembic version: a database built "
        "outside Alembic (a legacy runner) that was not adopted; its drift cannot be judged.",
        "run `alembic guard-adopt` to stamp the revisions that are present, then `alembic upgrade head` "
        "completes the rest through the guards (rows are kept)",
    ),
    CheckCode(
        "AG621",
        "ban-failed-run",
        "error",
        "The last attempt at a pending revision failed (from the ledger).",
        "read the error and statement, fix the cause, then run `alembic upgrade head` again",
    ),
    CheckCode(
        "AG622",
        "ban-lenient-debt",
        "warning",
        "An applied revision skipped an operation under the lenient policy; "
        "the schema lacks what it should add.",
        "fix the cause and re-run the operation in a new revision (see `alembic guard-status`)",
    ),
    CheckCode(
        "AG641",
        "ban-invalid-index",
        "warning",
        "An index is INVALID (a failed concurrent build): it is maintained on writes but never used.",
        "drop it and build it again (`DROP INDEX CONCURRENTLY ...; CREATE INDEX CONCURRENTLY ...`)",
    ),
    CheckCode(
        "AG642",
        "require-validated-constraint",
        "warning",
        "A constraint was added NOT VALID and never validated; existing rows are not checked.",
        "run `ALTER TABLE ... VALIDATE CONSTRAINT ...` in a revision",
    ),
    CheckCode(
        "AG651",
        "require-models-match-migrations",
        "warning",
        "The application's models and the schema the migrations build differ (autogenerate would emit this).",
        "generate a revision for the model change (`alembic revision --autogenerate`), or fix the models",
    ),
)

CODES: dict[str, CheckCode] = {c.code: c for c in _ALL}
if len(CODES) != len(_ALL) or len({c.id for c in _ALL}) != len(_ALL):  # pragma: no cover
    raise ValueError("a guard-check code or id is declared twice")


def all_codes() -> tuple[CheckCode, ...]:
    return _ALL
