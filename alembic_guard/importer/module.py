"""Planned statements → imported revisions (specs and the text of their files).

Pure: takes the planner's steps and what earlier imports recorded, returns
:class:`RevisionSpec` values and their Python source; writing them is
:mod:`alembic_guard.importer.writer`'s job.

One revision carries a contiguous run of planned steps from one source file.
Where the planner interleaves files (the seed's 0001 indexes a column 0003
adds), a file becomes two or more revisions and each one says which
statements it carries ("0001_core_tables_idempotent.sql statements 1–3, 5 of 5").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from alembic_guard.importer.naming import describe_numbers, revision_filename, revision_id, slug
from alembic_guard.importer.render import (
    INDENT,
    RenderedStatement,
    py_comment,
    py_str,
    render_statement,
    sql_block,
)
from alembic_guard.importer.transactions import autocommit_reasons
from alembic_guard.model import ObjRef, canonical_type
from alembic_guard.sql.statement import Effect, SourceFile, Statement

__all__ = ["ImportedRevision", "ImportedStep", "RevisionSpec", "StepLike", "build_revisions", "module_text"]

# Module-level constants every imported revision defines; guard-import and
# guard-adopt read them back through Alembic's ScriptDirectory.
SOURCE_FILE = "source_file"
SOURCE_CHECKSUM = "source_checksum"
SOURCE_STATEMENTS = "source_statements"
SOURCE_STATEMENT_COUNT = "source_statement_count"
GUARD_PROVIDES = "guard_provides"
GUARD_DROPS = "guard_drops"


class StepLike(Protocol):
    """What the importer needs of a planned step (``alembic_guard.plan.PlanStep``)."""

    @property
    def statement(self) -> Statement: ...
    @property
    def effect(self) -> Effect: ...
    @property
    def sql(self) -> str: ...
    @property
    def note(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ImportedStep:
    where: str  # file:line:col of the statement
    number: int  # 1-based statement number inside its file
    note: str | None
    rendered: RenderedStatement


@dataclass(frozen=True, slots=True)
class RevisionSpec:
    """One revision to write."""

    revision: str
    down_revision: str | None
    source: SourceFile
    numbers: tuple[int, ...]  # statement numbers carried, in planned order of first appearance
    statement_count: int  # statements in the whole source file
    steps: tuple[ImportedStep, ...]
    provides: tuple[ObjRef, ...]
    drops: tuple[ObjRef, ...]
    split_only: bool = False  # carries only foreign keys the planner split out of a CREATE TABLE
    file_runs: int = 1  # how many revisions its source file became

    @property
    def whole_file(self) -> bool:
        """Carries every statement of its file, and no other revision carries any of them."""
        return self.file_runs == 1 and sorted(self.numbers) == list(range(1, self.statement_count + 1))

    @property
    def title(self) -> str:
        if self.split_only:
            return (
                f"{self.source.path} statement {describe_numbers(sorted(self.numbers))} "
                f"of {self.statement_count}: foreign keys split out of its CREATE TABLE"
            )
        if self.whole_file:
            n = self.statement_count
            return f"{self.source.path} ({n} statement{'s' if n != 1 else ''})"
        word = "statement" if len(self.numbers) == 1 else "statements"
        return f"{self.source.path} {word} {describe_numbers(sorted(self.numbers))} of {self.statement_count}"

    @property
    def filename(self) -> str:
        name = slug(self.source.path, sorted(self.numbers), self.statement_count)
        if self.split_only:
            name += "_fks"
        return revision_filename(self.revision, name)


@dataclass(frozen=True, slots=True)
class ImportedRevision:
    """A revision in the versions directory, with what an import recorded in it.

    ``source_file`` is ``None`` for a revision not written by guard-import.
    """

    revision: str
    down_revision: str | None
    path: str
    doc: str
    source_file: str | None = None
    source_checksum: str | None = None
    numbers: tuple[int, ...] = ()
    statement_count: int = 0
    provides: tuple[ObjRef, ...] = ()
    drops: tuple[ObjRef, ...] = ()

    @property
    def imported(self) -> bool:
        return self.source_file is not None


def _enum_name(statement: Statement) -> str | None:
    body = statement.node.get("CreateEnumStmt")
    if body is None:
        return None
    names = [n["String"]["sval"] for n in body.get("typeName", [])]
    return canonical_type(".".join(names))


def build_revisions(
    steps: Sequence[StepLike],
    *,
    skip_files: Iterable[str] = (),
    head: str | None = None,
) -> list[RevisionSpec]:
    """The revisions for ``steps`` (in planned order), chained after ``head``.

    Steps of files in ``skip_files`` (imported before) are left out; every
    step still counts for the statement totals and for the enum types later
    columns may use.
    """
    skip = set(skip_files)
    counts: dict[str, set[int]] = {}
    enums: set[str] = set()
    for step in steps:
        counts.setdefault(step.statement.file, set()).add(step.statement.index)
        name = _enum_name(step.statement)
        if name is not None:
            enums.add(name)
    known = frozenset(enums)
    # why a step must run outside the revision's transaction (None: it need not)
    reasons = autocommit_reasons([step.statement for step in steps])
    outside_tx = {id(step): why for step, why in zip(steps, reasons, strict=True)}

    runs: list[list[StepLike]] = []
    for step in steps:
        if step.statement.file in skip:
            continue
        if runs and runs[-1][0].statement.file == step.statement.file:
            runs[-1].append(step)
        else:
            runs.append([step])

    file_runs: dict[str, int] = {}
    for run in runs:
        path = run[0].statement.file
        file_runs[path] = file_runs.get(path, 0) + 1

    specs: list[RevisionSpec] = []
    down = head
    for run in runs:
        src = run[0].statement.source
        numbers: list[int] = []
        for step in run:
            n = step.statement.index + 1
            if n not in numbers:
                numbers.append(n)
        split = [bool(getattr(step, "split", False)) for step in run]
        # a run of split-out foreign keys carries the same statement number as
        # the CREATE TABLE's run: mark them so the two ids differ
        key: list[int | str] = (
            [
                f"{step.statement.index + 1}s" if is_split else step.statement.index + 1
                for step, is_split in zip(run, split, strict=True)
            ]
            if any(split)
            else list(numbers)
        )
        rev = revision_id(src.path, key, src.checksum)
        imported = tuple(_imported_step(step, known, outside_tx.get(id(step))) for step in run)
        provides = _unique(ref for step in run for ref in step.effect.provides)
        drops = _unique(ref for step in run for ref in step.effect.drops)
        specs.append(
            RevisionSpec(
                rev,
                down,
                src,
                tuple(numbers),
                len(counts[src.path]),
                imported,
                provides,
                drops,
                split_only=all(split),
                file_runs=file_runs[src.path],
            )
        )
        down = rev
    return specs


def _imported_step(step: StepLike, known: frozenset[str], outside_tx: str | None) -> ImportedStep:
    rendered = render_statement(step.sql, enums_known=known)
    note = step.note
    if outside_tx is not None and not rendered.autocommit:
        rendered = dataclasses.replace(rendered, autocommit=True)
        note = f"{note}; " if note else ""
        note += f"runs outside a transaction: {outside_tx}"
    return ImportedStep(step.statement.where, step.statement.index + 1, note, rendered)


def _unique(refs: Iterable[ObjRef]) -> tuple[ObjRef, ...]:
    seen: dict[ObjRef, None] = {}
    for r in refs:
        seen.setdefault(r, None)
    return tuple(seen)


# --------------------------------------------------------------------------
# The revision file
# --------------------------------------------------------------------------


def _ref_literal(ref: ObjRef) -> str:
    parent = "None" if ref.parent is None else py_str(ref.parent)
    return f"({py_str(ref.kind)}, {py_str(ref.schema)}, {py_str(ref.name)}, {parent})"


def _refs_block(name: str, refs: Sequence[ObjRef]) -> list[str]:
    if not refs:
        return [f"{name}: tuple[tuple[str, str, str, str | None], ...] = ()"]
    return [f"{name} = (", *(f"{INDENT}{_ref_literal(r)}," for r in refs), ")"]


def _body(chunks: Sequence[tuple[list[str], bool]]) -> list[str]:
    """Indent code chunks into a function body; autocommit chunks share one block."""
    out: list[str] = []
    in_block = False
    for lines, autocommit in chunks:
        if autocommit and not in_block:
            if out:
                out.append("")
            out.append(f"{INDENT}# must run outside a transaction block: the work before it is committed")
            out.append(f"{INDENT}with op.get_context().autocommit_block():")
            in_block = True
        elif not autocommit and in_block:
            in_block = False
            out.append("")
        elif out:
            out.append("")
        pad = INDENT * (2 if autocommit else 1)
        for code in lines:
            out.extend(_place(code, pad))
    return out


def _place(code: str, pad: str) -> list[str]:
    """Indent one code item.

    A code item on several lines is an ``op.execute`` of a verbatim SQL string
    (render.sql_block): only its first line is indented, the SQL stays as it is.
    """
    lines = code.split("\n")
    return [pad + lines[0], *lines[1:]]


def _upgrade_chunks(spec: RevisionSpec) -> list[tuple[list[str], bool]]:
    chunks: list[tuple[list[str], bool]] = []
    for step in spec.steps:
        # comments are made of input (a file name, identifiers): one line each, always
        lines = [f"# {py_comment(step.where)}"]
        if step.note:
            lines.append(f"# {py_comment(step.note)}")
        lines.extend(step.rendered.upgrade)
        chunks.append((lines, step.rendered.autocommit))
    return chunks


def _downgrade_lines(spec: RevisionSpec) -> list[str]:
    if spec.whole_file and spec.source.down_text and spec.source.down_text.strip():
        return [
            f"{INDENT}# the source's own down migration",
            *_place("op.execute(" + sql_block(spec.source.down_text.strip()) + ")", INDENT),
        ]
    for step in spec.steps:
        if step.rendered.downgrade is None:
            why = f"irreversible: {step.where}: {step.rendered.irreversible}"
            return [f"{INDENT}raise NotImplementedError({py_str(why)})"]
    chunks: list[tuple[list[str], bool]] = []
    for step in reversed(spec.steps):
        assert step.rendered.downgrade is not None
        chunks.append((list(step.rendered.downgrade), step.rendered.autocommit))
    return _body(chunks) or [f"{INDENT}pass"]


def module_text(spec: RevisionSpec) -> str:
    """The Python source of one imported revision (deterministic: no dates, no randomness)."""
    up = _body(_upgrade_chunks(spec))
    down = _downgrade_lines(spec)
    code = "\n".join(up + down)
    imports = ["from alembic import op"]
    if "sa." in code:
        imports.insert(0, "import sqlalchemy as sa")
    if "postgresql." in code:
        imports.append("from sqlalchemy.dialects import postgresql")
    checksum = spec.source.checksum
    if checksum and ":" not in checksum:
        checksum = f"sha256:{checksum}"
    lines = [
        f'"""{py_comment(spec.title)}',
        "",
        "Imported from raw SQL by `alembic guard-import`; the source's checksum is",
        "recorded below.  Do not edit the source file: write a new migration instead.",
        "",
        f"Revision ID: {spec.revision}",
        f"Revises: {py_comment(str(spec.down_revision))}",
        '"""',
        "",
        *imports,
        "",
        f"revision = {py_str(spec.revision)}",
        f"down_revision = {py_str(spec.down_revision) if spec.down_revision else None}",
        "branch_labels = None",
        "depends_on = None",
        "",
        "# where this revision comes from; read back by guard-import and guard-adopt",
        f"{SOURCE_FILE} = {py_str(spec.source.path)}",
        f"{SOURCE_CHECKSUM} = {py_str(checksum)}",
        f"{SOURCE_STATEMENTS} = ({', '.join(map(str, spec.numbers))}{',' if len(spec.numbers) == 1 else ''})",
        f"{SOURCE_STATEMENT_COUNT} = {spec.statement_count}",
        "# what the statements leave behind / remove (kind, schema, name, owning table)",
        *_refs_block(GUARD_PROVIDES, spec.provides),
        *_refs_block(GUARD_DROPS, spec.drops),
        "",
        "",
        "def upgrade() -> None:",
        *(up or [f"{INDENT}pass"]),
        "",
        "",
        "def downgrade() -> None:",
        *down,
        "",
    ]
    return "\n".join(lines)


def parse_ref(value: Any) -> ObjRef | None:
    """An ``ObjRef`` from a ``guard_provides`` entry; ``None`` for a malformed one."""
    try:
        kind, schema, name, parent = value
    except (TypeError, ValueError):
        return None
    return ObjRef(kind, schema, name, parent)
