"""Decide, revision by revision, how much of an imported history a live database already has.

Pure: takes the revisions (with the objects each one leaves behind, recorded
by guard-import), the live schema model and what a legacy runner's tracking
table claims; returns the verdicts and the revision to stamp.  Reading the
database and stamping are :mod:`alembic_guard.commands.adopt`'s job.

The live schema is the only authority: a legacy tracking table is reported
against it, never trusted over it.  The one thing the schema cannot show is a
revision that changes no schema object (data statements only); such a
revision continues the adopted prefix only when the legacy table says its file
ran, and otherwise ends it (``upgrade head`` then runs it, through the guards).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from alembic_guard.importer.module import ImportedRevision
from alembic_guard.model import ObjRef, SchemaModel

__all__ = ["AdoptDecision", "LegacyClaim", "Verdict", "decide", "match_version"]

Status = Literal["present", "partial", "absent", "unverifiable", "foreign"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the live schema says about one revision.

    - ``present``: everything it creates exists (and what it drops is gone);
    - ``partial``: some of it exists, ``missing`` lists the rest;
    - ``absent``: none of it exists;
    - ``unverifiable``: it changes no schema object (data statements only);
    - ``foreign``: not written by guard-import (nothing recorded to check).

    ``invalid`` are indexes that exist but are INVALID (a failed concurrent
    build): counted as missing, since ``upgrade head`` must rebuild them.
    """

    revision: ImportedRevision
    status: Status
    missing: tuple[ObjRef, ...] = ()
    still_there: tuple[ObjRef, ...] = ()  # objects it drops that still exist
    invalid: tuple[ObjRef, ...] = ()
    claimed: bool = False  # its source file is listed in the legacy table


@dataclass(frozen=True, slots=True)
class LegacyClaim:
    """One row of the legacy tracking table and what it corresponds to."""

    version: str
    source_file: str | None  # the imported source file it names, if any
    dirty: bool = False


@dataclass(frozen=True, slots=True)
class AdoptDecision:
    verdicts: tuple[Verdict, ...]
    stamp: str | None  # last revision of the adopted prefix; None: nothing to adopt
    adopted: int  # length of that prefix
    claims: tuple[LegacyClaim, ...] = ()

    @property
    def anything_present(self) -> bool:
        return any(v.status in ("present", "partial") for v in self.verdicts)


def _missing(model: SchemaModel, ref: ObjRef) -> tuple[bool, bool]:
    """(missing, invalid) for one object the revision provides."""
    if not model.has(ref):
        return True, False
    if ref.kind == "index":
        ix = model.indexes.get((ref.schema, ref.name))
        if ix is not None and not ix.valid:
            return True, True
    return False, False


def classify(rev: ImportedRevision, model: SchemaModel, claimed: bool = False) -> Verdict:
    """The verdict for one revision against the live model (read-only)."""
    if not rev.imported:
        return Verdict(rev, "foreign", claimed=claimed)
    if not rev.provides and not rev.drops:
        return Verdict(rev, "unverifiable", claimed=claimed)
    missing: list[ObjRef] = []
    invalid: list[ObjRef] = []
    for ref in rev.provides:
        gone, bad = _missing(model, ref)
        if gone:
            missing.append(ref)
        if bad:
            invalid.append(ref)
    still = [ref for ref in rev.drops if model.has(ref)]
    done = len(rev.provides) - len(missing) + len(rev.drops) - len(still)
    if not missing and not still:
        status: Status = "present"
    elif done == 0:
        status = "absent"
    else:
        status = "partial"
    return Verdict(rev, status, tuple(missing), tuple(still), tuple(invalid), claimed)


_LEADING_NUMBER = re.compile(r"^[Vv]?(\d+)")


def match_version(version: str, source_files: Sequence[str]) -> str | None:
    """The source file a legacy tracking row names: same stem, same prefix, or same number."""
    v = version.strip()
    if not v:
        return None
    names = {f: f.rsplit("/", 1)[-1] for f in source_files}
    for f, name in names.items():
        stem = name.split(".", 1)[0]
        if v in (f, name, stem):
            return f
    m = _LEADING_NUMBER.match(v)
    for f, name in names.items():
        if name.startswith(v + "_") or name.startswith(v + "."):
            return f
        if m:
            fm = _LEADING_NUMBER.match(name)
            if fm and int(fm.group(1)) == int(m.group(1)) and v.isdigit():
                return f
    return None


def decide(
    revisions: Sequence[ImportedRevision],
    model: SchemaModel,
    legacy_rows: Sequence[tuple[str, bool]] | None = None,
) -> AdoptDecision:
    """Classify every revision (base first) and pick the fully present prefix to stamp.

    ``legacy_rows``: ``(version, dirty)`` rows of the legacy tracking table, or
    ``None`` when there is no such table.  Read-only.
    """
    files = sorted({r.source_file for r in revisions if r.source_file})
    claims = tuple(
        LegacyClaim(version, match_version(version, files), dirty) for version, dirty in (legacy_rows or ())
    )
    claimed_files = {c.source_file for c in claims if c.source_file and not c.dirty}
    verdicts = tuple(classify(r, model, r.source_file in claimed_files) for r in revisions)
    adopted = 0
    for v in verdicts:
        if v.status == "present" or (v.status == "unverifiable" and v.claimed):
            adopted += 1
            continue
        break
    stamp = verdicts[adopted - 1].revision.revision if adopted else None
    return AdoptDecision(verdicts, stamp, adopted, claims)


def _refs_text(refs: Sequence[ObjRef]) -> str:
    """``column tasks.project_id, index ix``; the parts of a missing relation are implied by it,
    and so is the index behind a missing primary key / unique constraint (same name)."""
    gone = {(r.schema, r.name) for r in refs if r.kind == "relation"}
    keys = {(r.schema, r.name) for r in refs if r.kind == "constraint"}
    shown = [
        r
        for r in refs
        if (r.parent is None or (r.schema, r.parent) not in gone)
        and not (r.kind == "index" and (r.schema, r.name) in keys)
    ]
    return ", ".join(r.describe() for r in shown)


def render_decision(decision: AdoptDecision, *, legacy_table: str | None) -> list[str]:
    """The report, one line per entry (deterministic: history order, then table order)."""
    lines = ["Revisions, base first (checked against the live schema):"]
    for i, v in enumerate(decision.verdicts):
        mark = "*" if i < decision.adopted else " "
        rev = v.revision
        lines.append(f" {mark} {v.status:<12} {rev.revision}  {rev.doc.splitlines()[0] if rev.doc else ''}")
        if v.missing:
            lines.append(f"{'':16}missing: {_refs_text(v.missing)}")
        if v.invalid:
            lines.append(f"{'':16}INVALID (to rebuild): {_refs_text(v.invalid)}")
        if v.still_there:
            lines.append(f"{'':16}should be dropped but still there: {_refs_text(v.still_there)}")
    if legacy_table is not None:
        if not decision.claims:
            lines.append(f"Legacy table {legacy_table}: not found or empty; decided from the schema alone.")
        else:
            lines.append(f"Legacy table {legacy_table} claims {len(decision.claims)} migration(s) applied:")
            by_file: dict[str, list[Verdict]] = {}
            for v in decision.verdicts:
                if v.revision.source_file:
                    by_file.setdefault(v.revision.source_file, []).append(v)
            for c in decision.claims:
                dirty = " (marked dirty: it failed half-way)" if c.dirty else ""
                if c.source_file is None:
                    lines.append(f"   {c.version}{dirty}: no imported source file matches it")
                    continue
                vs = by_file.get(c.source_file, [])
                gaps = [v for v in vs if v.status not in ("present", "unverifiable")]
                if not gaps:
                    lines.append(f"   {c.version} → {c.source_file}{dirty}: claimed applied, and it is")
                    continue
                what = "; ".join(
                    f"{v.revision.revision} {v.status}"
                    + (f" (missing {_refs_text(v.missing)})" if v.missing else "")
                    for v in gaps
                )
                lines.append(f"   {c.version} → {c.source_file}{dirty}: claimed applied, but {what}")
    return lines
