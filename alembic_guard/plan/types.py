"""What the planner hands back: ordered steps and the problems that stop a plan.

Pure data.  Problem codes (``AG1xx``) are stable (users grep CI logs for them
and the docs link them); each is declared once in :mod:`alembic_guard.codes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alembic_guard import codes
from alembic_guard.codes import Severity
from alembic_guard.model import ObjRef
from alembic_guard.sql.statement import Effect, SourceFile, Statement


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One statement in planned order.

    ``sql`` is what to execute: the statement's own text, except for a
    ``CREATE TABLE`` whose foreign keys were split out (``split`` True on the
    synthesized ``ALTER TABLE ... ADD CONSTRAINT`` step, which points at the
    statement it came from).  ``moved`` is True when the step runs after a
    statement that came later in the original order; ``note`` says why.
    """

    statement: Statement
    effect: Effect
    sql: str
    note: str | None = None
    moved: bool = False
    split: bool = False

    @property
    def where(self) -> str:
        return self.statement.where


@dataclass(frozen=True, slots=True)
class Problem:
    """Why (part of) the statements cannot be planned, or a warning.

    ``statements`` are every statement involved, in original order; ``where``
    is the most precise position known (a requirement's own position for
    AG102); ``links`` the objects that tie the statements together.
    """

    code: str
    message: str
    statements: tuple[Statement, ...]
    missing: ObjRef | None = None
    hint: str | None = None
    where: str | None = None
    links: tuple[ObjRef, ...] = ()

    @property
    def severity(self) -> Severity:
        """The code's severity (:mod:`alembic_guard.codes`): errors stop the plan, warnings do not."""
        return codes.get(self.code).severity

    def render(self) -> str:
        """``AG102 file:line:col: message`` on one line (hint excluded)."""
        at = f" {self.where}:" if self.where else ""
        return f"{self.code}{at} {self.message}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The planned order and the problems found.

    When ``ok`` is False (an error problem), ``steps`` is *partial*: the
    statements that could be ordered, without those caught in or waiting on a
    cycle.  It is shown to explain the problem and must not be executed.
    """

    steps: tuple[PlanStep, ...]
    problems: tuple[Problem, ...]
    source_files: tuple[SourceFile, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    @property
    def errors(self) -> Sequence[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def moved_count(self) -> int:
        return sum(1 for s in self.steps if s.moved)

    @property
    def split_count(self) -> int:
        return sum(1 for s in self.steps if s.split)
