"""Static checks of an Alembic script directory: no database.

For every revision, in order (base → heads): its ``upgrade()`` rendered as
SQL offline, parsed and analyzed, then checked against the schema replayed
from the revisions before it — so a table an earlier revision created is
an existing table with rows, not a "new" one — with the lint rules and a
reference check (a column no earlier revision provides).  Plus: more than
one head.

Reads the revision files (Alembic imports them); opens no connection.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from alembic_guard import changes as ch
from alembic_guard import codes
from alembic_guard.check.offline_sql import OfflineRenderer, Rendered
from alembic_guard.errors import SourceError, UsageError
from alembic_guard.model import SchemaModel
from alembic_guard.output.report import Finding, Location, RevisionInfo, StatementInfo
from alembic_guard.sql.statement import AnalyzedStatement, SourceFile, Statement

# rules the guarded operations make moot: they skip what exists, so every op is idempotent
_GUARDED_BY_OPS = frozenset({"AG402"})


@dataclass(slots=True)
class RevisionRun:
    """One revision as the checks see it: its script, its file, its SQL and analyzed statements."""

    revision: str
    down_revisions: tuple[str, ...]
    message: str
    file: str  # relative to the project root, "/"-separated
    path: str  # absolute, for checksums
    rendered: Rendered
    analyzed: list[AnalyzedStatement] = field(default_factory=list)
    parse_error: SourceError | None = None

    def location(self, statement: Statement | None) -> Location:
        if statement is None:
            return Location(self.file, 1, 1)
        return Location(self.file, self.rendered.op_line(statement.offset), 1)


def finding(
    code: str,
    message: str,
    *,
    revision: str | None = None,
    location: Location | None = None,
    sql: str | None = None,
    severity: str | None = None,
    source: str = "check",
) -> Finding:
    """A finding of one of guard-check's own codes (declared in :mod:`alembic_guard.codes`)."""
    c = codes.get(code)
    return Finding(
        code=c.code,
        rule_id=c.id,
        severity=c.severity if severity is None else severity,  # type: ignore[arg-type]
        message=message,
        help=c.help,
        source=source,
        revision=revision,
        location=location,
        sql=sql,
    )


def load_script_directory(config: Any) -> Any:
    """Alembic's ``ScriptDirectory`` for ``config``; a missing or bad one is a :class:`UsageError`."""
    from alembic.script import ScriptDirectory

    if config.config_file_name and not os.path.exists(config.config_file_name):
        raise UsageError(
            f"no Alembic configuration: {config.config_file_name} does not exist",
            hint="run from the directory holding alembic.ini, or pass -c path/to/alembic.ini",
        )
    try:
        return ScriptDirectory.from_config(config)
    except Exception as exc:  # alembic raises CommandError for a missing script_location
        from alembic_guard.cli import explain_failure

        explained = explain_failure(exc, config)  # an unreadable alembic.ini / pyproject.toml, named
        if explained is not None:
            raise explained from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot read the migration scripts: {first}", hint="check script_location in alembic.ini"
        ) from exc


def ordered_scripts(script_dir: Any) -> list[Any]:
    """Every revision, base first; branches in Alembic's topological order.  Imports the revision files."""
    try:
        return list(reversed(list(script_dir.walk_revisions("base", "heads"))))
    except Exception as exc:  # a revision that does not import, a cycle, a missing down_revision
        from alembic_guard.revision_files import check

        check(script_dir)  # names the file and what is wrong with it, when it can tell
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot load the revisions in {script_dir.dir}: {first}",
            hint="fix the revision file named above (alembic history shows the same error)",
        ) from exc


def project_root(config: Any) -> str:
    """Paths in reports are relative to alembic.ini's directory (a repository root, usually)."""
    name = getattr(config, "config_file_name", None)
    return os.path.dirname(os.path.abspath(name)) if name else os.getcwd()


def _relative(path: str, root: str) -> str:
    rel = os.path.relpath(os.path.abspath(path), root)
    return rel.replace(os.sep, "/")


def render_all(scripts: Sequence[Any], root: str, guard_settings: Any = None) -> list[RevisionRun]:
    """Render, parse and analyze every revision (one analysis pass, so renames carry over).  Pure
    apart from importing the revision modules Alembic loaded already.

    ``guard_settings``: render what the guarded runtime sends under them (see :class:`OfflineRenderer`).
    Unqualified names resolve through the current :func:`~alembic_guard.search_path.search_path`.
    """
    from alembic_guard.search_path import search_path
    from alembic_guard.sql.effects import analyze_all
    from alembic_guard.sql.parse import parse_source

    renderer = OfflineRenderer(guard_settings)
    runs: list[RevisionRun] = []
    statements: list[Statement] = []
    owner: dict[int, RevisionRun] = {}
    for order, sc in enumerate(scripts):
        down = sc.down_revision
        downs = tuple(down) if isinstance(down, (tuple, list)) else ((down,) if down else ())
        path = str(sc.path)
        rel = _relative(path, root)
        rendered = renderer.render(sc.module.upgrade, path)
        doc = (sc.doc or "").strip().splitlines()
        run = RevisionRun(str(sc.revision), downs, doc[0] if doc else "", rel, path, rendered)
        runs.append(run)
        if rendered.sql is None:
            continue
        try:
            stmts = parse_source(SourceFile(path=rel, text=rendered.sql, order=order))
        except SourceError as exc:
            run.parse_error = exc
            continue
        for st in stmts:
            owner[id(st)] = run
        statements.extend(stmts)
    for a in analyze_all(statements, search_path=search_path()):
        owner[id(a.statement)].analyzed.append(a)
    return runs


@dataclass(slots=True)
class StaticResult:
    findings: list[Finding]
    revisions: list[RevisionInfo]
    # the replayed model after each revision, by revision id (for drift: expected = applied ones)
    models: dict[str, SchemaModel]


def check_static(
    runs: Sequence[RevisionRun],
    heads: Sequence[str],
    *,
    report_from: int = 0,
    lock_timeout_set: bool = False,
    guarded: bool = False,
    keep_models: bool = False,
    server_version: int | None = None,
) -> StaticResult:
    """Findings for ``runs[report_from:]``; earlier runs only build the model.  Pure.

    ``server_version``: the PostgreSQL major version the revisions will meet
    (the live server's, or the profile's ``server_version``); ``None`` when
    unknown, and then no statement is judged against a version (AG701).

    ``guarded``: env.py runs the guarded operations, which skip what already
    exists, so "not idempotent" (AG402) would flag every op and is left out.
    """
    from alembic_guard.lint import LintContext, all_rules, lint, lock_level
    from alembic_guard.runtime.preflight import check as requirements_check
    from alembic_guard.sql.statement import may_create

    findings: list[Finding] = []
    infos: list[RevisionInfo] = []
    models: dict[str, SchemaModel] = {}
    model = SchemaModel()
    before_reported: SchemaModel | None = None
    blind = False  # a revision could not be read: later "missing" references may be its doing
    dynamic: list[str] = []  # what the dynamic SQL of the revisions so far may create
    for i, run in enumerate(runs):
        reported = i >= report_from
        if reported and before_reported is None:
            before_reported = model.copy()
        if run.rendered.sql is None or run.parse_error is not None:
            blind = True
            if reported:
                findings.append(_unreadable(run))
        # what the revision made that the schema model never holds (a temporary table): its
        # later statements may use it
        session: set[tuple[str, str]] = set()
        for a in run.analyzed:
            if reported:
                for p in requirements_check([a], model):
                    if dynamic and may_create(dynamic, p.ref):
                        continue  # dynamic SQL of an earlier revision may create it: known when it runs
                    if (p.ref.table or (p.ref.schema, p.ref.name)) in session:
                        continue
                    note = (
                        "" if not blind else " (an earlier revision could not be checked: it may provide it)"
                    )
                    findings.append(
                        finding(
                            "AG601",
                            f"revision {run.revision} requires {p.ref.describe()}, which no earlier revision "
                            f"provides{note}",
                            revision=run.revision,
                            location=run.location(a.statement),
                            sql=a.statement.text,
                            severity="warning" if blind else None,
                            source="reference",
                        )
                    )
            for change in a.effect.changes:
                ch.apply(model, change)
            session.update(
                (r.schema, r.name) for r in a.effect.creates if r.kind == "relation" and not model.has(r)
            )
            dynamic.extend(a.effect.dynamic)
        if keep_models:
            models[run.revision] = model.copy()
        if reported:
            infos.append(
                RevisionInfo(
                    revision=run.revision,
                    down_revisions=run.down_revisions,
                    message=run.message,
                    file=run.file,
                    state="unknown",
                    rendered=run.rendered.sql is not None and run.parse_error is None,
                    statements=tuple(
                        StatementInfo(
                            sql=a.statement.text,
                            line=run.rendered.op_line(a.statement.offset),
                            lock=lock_level(a),
                            transactional=a.effect.transactional,
                        )
                        for a in run.analyzed
                    ),
                )
            )
    reported_runs = list(runs[report_from:])
    stmts = [a for run in reported_runs for a in run.analyzed]
    if stmts:
        context = LintContext(
            model=before_reported, lock_timeout_set=lock_timeout_set, server_version=server_version
        )
        rules = [r for r in all_rules() if not (guarded and r.code in _GUARDED_BY_OPS)]
        findings.extend(_lint_findings(reported_runs, lint(stmts, context, rules=rules)))
    if len(heads) > 1:
        findings.append(
            finding(
                "AG602",
                f"{len(heads)} heads: {', '.join(sorted(heads))}",
                source="heads",
            )
        )
    return StaticResult(findings, infos, models)


def _unreadable(run: RevisionRun) -> Finding:
    if run.parse_error is not None:
        exc = run.parse_error
        return finding(
            "AG605",
            f"revision {run.revision} emits SQL the parser rejects: {exc.message}",
            revision=run.revision,
            location=Location(
                run.file, run.rendered.op_line(_offset_of_line(run.rendered.sql or "", exc.line)), 1
            ),
            sql=None,
            source="render",
        )
    return finding(
        "AG604",
        f"revision {run.revision}: upgrade() cannot be rendered offline ({run.rendered.error})",
        revision=run.revision,
        location=Location(run.file, 1, 1),
        source="render",
    )


def _offset_of_line(text: str, line: int | None) -> int:
    if not line or line <= 1:
        return 0
    pos = 0
    for _ in range(line - 1):
        nxt = text.find("\n", pos)
        if nxt == -1:
            break
        pos = nxt + 1
    return pos


def _lint_findings(runs: Sequence[RevisionRun], found: Sequence[Any]) -> list[Finding]:
    """Lint findings, moved from the rendered SQL to the op call in the revision file."""
    by_file = {run.file: run for run in runs}
    out: list[Finding] = []
    for f in found:
        run = by_file.get(f.file)
        if run is None:  # pragma: no cover - lint only reports files it was given
            continue
        statement = _statement_at(run, f.line)
        out.append(
            Finding(
                code=f.code,
                rule_id=f.rule_id,
                severity=f.severity,
                message=f.message,
                help=f.help,
                source="lint",
                revision=run.revision,
                location=run.location(statement),
                sql=statement.text if statement is not None else f.statement_excerpt,
            )
        )
    return out


def _statement_at(run: RevisionRun, line: int) -> Statement | None:
    """The statement starting on rendered ``line``, else the first one after it (a comment's)."""
    after: Statement | None = None
    for a in run.analyzed:
        st = a.statement
        if st.line == line:
            return st
        if st.line > line and after is None:
            after = st
    return after
