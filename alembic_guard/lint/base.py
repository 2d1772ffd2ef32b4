"""The lint contract: rules, findings, the registry, suppressions and :func:`lint`.

Pure: no connection, no file I/O.

A rule is one object declared once, in its own module under
:mod:`alembic_guard.lint.rules`: a stable code (``AG2xx`` locking, ``AG3xx``
data safety, ``AG4xx`` idempotency and transactions, ``AG7xx`` the target
server's version, ``AG0xx`` the linter itself) whose id (grouped by verb:
``require-*``, ``ban-*``), severity, one-sentence message naming the harm
and help line giving the safe alternative in Alembic terms are declared
with every other code in :mod:`alembic_guard.codes`; the rule adds a
Problem / Solution text and examples.  The examples are its tests and its
documentation.  Registering a code twice fails at import.

Inline suppression: ``-- alembic-guard: ignore[AG201]`` (codes or ids,
comma-separated) on its own line just above a statement, or at the end of
the statement's first line.  A suppression that matches no finding is
itself reported (``AG001 unused-suppression``), so stale ones do not pile up.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from alembic_guard import codes
from alembic_guard.codes import Code, Severity
from alembic_guard.lint.scope import LintContext, Scope
from alembic_guard.sql.statement import AnalyzedStatement, Effect, SourceFile, Statement

__all__ = [
    "Example",
    "Finding",
    "LintContext",
    "Rule",
    "Scope",
    "all_rules",
    "get_rule",
    "lint",
    "register",
]

Check = Callable[[Statement, Scope], Iterable[str]]
"""A rule's check: yields one *subject* (``"index ix on table tasks"``) per problem found."""

_CODE_RE = re.compile(r"^AG\d{3}$")
_ID_RE = re.compile(r"^(require|ban|prefer|unused)-[a-z0-9-]+$")


@dataclass(frozen=True, slots=True)
class Example:
    """SQL a rule must flag (``bad``) or must leave alone (``good``).

    ``setup`` is SQL of earlier revisions: it builds the model the example
    runs against (its tables exist, with data).  ``line`` is the line the
    finding must be reported on; by default the last statement's line.
    """

    sql: str
    setup: str = ""
    in_transaction: bool = True
    server_version: int = 15
    note: str = ""
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """A lint rule: its code (id, severity, message and help are the code's, in :mod:`alembic_guard.codes`),
    the Problem / Solution text of its page, its examples and its check."""

    code: str
    problem: str
    solution: str
    bad: tuple[Example, ...]
    good: tuple[Example, ...]
    check: Check
    # parse node types the check reads (``("IndexStmt",)``); ``None`` = every statement
    kinds: tuple[str, ...] | None = None

    @property
    def meta(self) -> Code:
        return codes.get(self.code)

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def severity(self) -> Severity:
        return self.meta.severity

    @property
    def message(self) -> str:
        """One sentence naming the harm."""
        return self.meta.summary

    @property
    def help(self) -> str:
        """The safe alternative, in Alembic terms."""
        return self.meta.help

    @property
    def doc_path(self) -> str:
        """Where the rule's page lives, relative to the repository."""
        return self.meta.doc_path


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at one place: what (code, message), how bad, what to do, where."""

    code: str
    rule_id: str
    severity: Severity
    message: str
    help: str
    file: str
    line: int
    col: int
    statement_excerpt: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def __str__(self) -> str:
        return f"{self.where}: {self.severity} {self.code} {self.rule_id}: {self.message}"


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------

_BY_CODE: dict[str, Rule] = {}
_BY_ID: dict[str, Rule] = {}


def register(rule: Rule) -> Rule:
    """Add ``rule`` to the registry; a code declared twice, or not declared as a lint code, is a
    programming error."""
    if not _CODE_RE.match(rule.code):
        raise ValueError(f"rule code {rule.code!r} must look like AG201")
    declared = codes.CODES.get(rule.code)
    if declared is None or declared.family != "lint":
        raise ValueError(f"rule code {rule.code} is not declared as a lint code in alembic_guard.codes")
    if not _ID_RE.match(rule.id):
        raise ValueError(f"rule id {rule.id!r} must start with a verb: require-, ban-, prefer-")
    if rule.code in _BY_CODE:
        raise ValueError(f"rule code {rule.code} declared twice ({_BY_CODE[rule.code].id} and {rule.id})")
    _BY_CODE[rule.code] = rule
    _BY_ID[rule.id] = rule
    return rule


def all_rules() -> list[Rule]:
    """Every registered rule, by code."""
    _load_rules()
    return [_BY_CODE[c] for c in sorted(_BY_CODE)]


def get_rule(code_or_id: str) -> Rule | None:
    _load_rules()
    return _BY_CODE.get(code_or_id.upper()) or _BY_ID.get(code_or_id.lower())


def _load_rules() -> None:
    # the rules package imports every rule module; importing it registers them
    import alembic_guard.lint.rules  # noqa: F401


# --------------------------------------------------------------------------
# Suppressions
# --------------------------------------------------------------------------

_SUPPRESS_RE = re.compile(r"--[ \t]*alembic-guard:[ \t]*ignore\[([^\]\n]*)\]", re.IGNORECASE)
UNUSED_SUPPRESSION = "AG001"


@dataclass(slots=True)
class _Suppression:
    source: SourceFile
    offset: int
    line: int
    col: int
    own_line: bool
    names: tuple[str, ...]
    excerpt: str
    target: Statement | None = None


def _suppressions(source: SourceFile, statements: list[Statement]) -> list[_Suppression]:
    """Find suppression comments in ``source`` and the statement each one governs."""
    text = source.text
    out: list[_Suppression] = []
    offsets = [st.offset for st in statements]
    for m in _SUPPRESS_RE.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.end())
        line_end = len(text) if line_end == -1 else line_end
        own_line = not text[line_start : m.start()].strip()
        line, col = source.line_col(m.start())
        names = tuple(n.strip() for n in m.group(1).split(",") if n.strip())
        s = _Suppression(source, m.start(), line, col, own_line, names, text[m.start() : line_end].strip())
        i = bisect.bisect_right(offsets, m.start())
        if own_line and i < len(statements):
            # the first statement below, with only comments and blank lines between
            st = statements[i]
            between = text[line_end : st.offset]
            if all(not ln.strip() or ln.strip().startswith("--") for ln in between.splitlines()):
                s.target = st
        elif not own_line and i > 0 and statements[i - 1].line == line:
            # the statement whose first line carries the comment
            s.target = statements[i - 1]
        out.append(s)
    return out


def _matches(name: str, finding: Finding) -> bool:
    return name.upper() == finding.code or name.lower() == finding.rule_id


# --------------------------------------------------------------------------
# lint()
# --------------------------------------------------------------------------


def _finding(rule: Rule, subject: str, statement: Statement) -> Finding:
    return Finding(
        code=rule.code,
        rule_id=rule.id,
        severity=rule.severity,
        message=f"{subject}: {rule.message}" if subject else rule.message,
        help=rule.help,
        file=statement.file,
        line=statement.line,
        col=statement.col,
        statement_excerpt=statement.excerpt(),
    )


class _Dispatch:
    """The rules that can fire on each statement kind, in code order (most rules read one kind)."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = rules
        self._by_kind: dict[str, list[Rule]] = {}

    def __call__(self, kind: str) -> list[Rule]:
        found = self._by_kind.get(kind)
        if found is None:
            found = [r for r in self.rules if r.kinds is None or kind in r.kinds]
            self._by_kind[kind] = found
        return found


def _check_all(rules: Sequence[Rule], statement: Statement, scope: Scope) -> Iterator[Finding]:
    for rule in rules:
        for subject in rule.check(statement, scope):
            yield _finding(rule, subject, statement)


def lint(
    statements: Sequence[Statement | AnalyzedStatement],
    context: LintContext | None = None,
    *,
    rules: Sequence[Rule] | None = None,
) -> list[Finding]:
    """Check ``statements`` (in the order they run) and return the findings, by position.

    Each source file is one unit (one revision): "new table", transaction
    mode and ``lock_timeout`` start afresh in it, while the model carries
    over from file to file.  When :class:`AnalyzedStatement` values are given
    their effects keep the model current; plain statements are read directly.
    Pure.
    """
    context = context or LintContext()
    active = list(rules) if rules is not None else all_rules()
    scope = Scope(context)
    dispatch = _Dispatch(active)
    per_statement: dict[int, list[Finding]] = {}
    order: dict[str, tuple[int, str]] = {}
    sources: dict[int, tuple[SourceFile, list[Statement]]] = {}
    current: SourceFile | None = None
    for item in statements:
        effect: Effect | None = None
        if isinstance(item, AnalyzedStatement):
            st, effect = item.statement, item.effect
        else:
            st = item
        if st.source is not current:
            current = st.source
            scope.start_unit(st.file)
            sources.setdefault(id(current), (current, []))
            order.setdefault(st.file, (current.order, st.file))
        sources[id(st.source)][1].append(st)
        per_statement[id(st)] = list(_check_all(dispatch(st.kind), st, scope))
        scope.advance(st, effect)

    findings: list[Finding] = []
    unused_rule = get_rule(UNUSED_SUPPRESSION)
    for source, stmts in sources.values():
        sups = _suppressions(source, sorted(stmts, key=lambda s: s.offset))
        used: set[tuple[int, str]] = set()
        for sup in sups:
            if sup.target is None:
                continue
            kept = []
            for f in per_statement[id(sup.target)]:
                hit = [n for n in sup.names if _matches(n, f)]
                if hit:
                    used.update((id(sup), n) for n in hit)
                else:
                    kept.append(f)
            per_statement[id(sup.target)] = kept
        if unused_rule is None or (rules is not None and unused_rule not in active):
            continue
        for sup in sups:
            for name in sup.names:
                if (id(sup), name) in used:
                    continue
                named = get_rule(name)
                if named is not None and named not in active:
                    continue  # its rule did not run, so "unused" would be a guess
                subject = f"ignore[{name}]" if named is not None else f"ignore[{name}] names no rule"
                findings.append(
                    Finding(
                        code=unused_rule.code,
                        rule_id=unused_rule.id,
                        severity=unused_rule.severity,
                        message=f"{subject}: {unused_rule.message}",
                        help=unused_rule.help,
                        file=source.path,
                        line=sup.line,
                        col=sup.col,
                        statement_excerpt=sup.excerpt,
                    )
                )
    for fs in per_statement.values():
        findings.extend(fs)
    findings.sort(key=lambda f: (order.get(f.file, (0, f.file)), f.line, f.col, f.code, f.message))
    return findings
