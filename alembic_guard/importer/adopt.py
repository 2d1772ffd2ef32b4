"""Decide, revision by revision, how much of an imported history a live database already has.

Pure: takes the revisions (with the objects each one leaves behind, recorded
by guard-import), the live schema model and what a legacy runner's tracking
table claims; returns the verdicts and the revision to stamp.  Reading the
database and stamping are :mod:`alembic_guard.commands.adopt`'s job.

History counts (:func:`decide` with each revision's model changes): a
revision is judged by what it *and the later revisions* leave behind.  The
changes of every revision are replayed in order (``M_k``: the model after
revision ``k``); the stamp is the last revision ``k`` at which the live schema
agrees with ``M_k`` on every object revisions 1..k touch (an object created
and later dropped is expected gone, a renamed one under its new name, a
changed column with its latest type).  A database the raw files built agrees
at the head.  Each revision's verdict lists what differs: for revisions up to
the stamp nothing (they agree by construction), for the later ones against
the model of the whole history (what ``upgrade head`` still has to do).

The live schema is the only authority: a legacy tracking table is reported
against it, never trusted over it.  The one thing the schema cannot show is a
revision that changes no schema object (data statements only); such a
revision continues the adopted prefix only when the legacy table says its file
ran, and otherwise ends it (``upgrade head`` then runs it, through the guards).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from alembic_guard import changes as ch
from alembic_guard.decide.history import Judged, Unknown, Unsure, footprint, judge, unsure_of
from alembic_guard.importer.module import ImportedRevision
from alembic_guard.model import ObjRef, SchemaModel

__all__ = ["AdoptDecision", "LegacyClaim", "Unsure", "Verdict", "decide", "match_version", "unsure_of"]

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
    # objects there with another definition than the history gives them: (object, expected, live)
    different: tuple[tuple[ObjRef, str, str], ...] = ()
    # data only, and a later revision is present: the legacy runner ran the files in order
    inferred: bool = False
    # objects the history cannot tell the state of (see Unsure): not judged
    unjudged: tuple[ObjRef, ...] = ()


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
    history: Sequence[Sequence[ch.Change] | None] | None = None,
    unsure: Sequence[Unsure] | None = None,
) -> AdoptDecision:
    """Classify every revision (base first) and pick the revision to stamp.

    ``legacy_rows``: ``(version, dirty)`` rows of the legacy tracking table, or
    ``None`` when there is no such table.  ``history``: each revision's model
    changes (``None`` for one whose changes are unknown), aligned with
    ``revisions``; without it each revision is judged on its own and the fully
    present prefix is stamped.  ``unsure``: what each revision may have done
    beyond its changes (aligned with ``revisions``; see :class:`Unsure`).
    Read-only.
    """
    files = sorted({r.source_file for r in revisions if r.source_file})
    claims = tuple(
        LegacyClaim(version, match_version(version, files), dirty) for version, dirty in (legacy_rows or ())
    )
    claimed_files = {c.source_file for c in claims if c.source_file and not c.dirty}
    if history is not None:
        return _decide_with_history(
            revisions, model, history, unsure or [Unsure()] * len(revisions), claimed_files, claims
        )
    verdicts = tuple(classify(r, model, r.source_file in claimed_files) for r in revisions)
    adopted = 0
    for v in verdicts:
        if v.status == "present" or (v.status == "unverifiable" and v.claimed):
            adopted += 1
            continue
        break
    stamp = verdicts[adopted - 1].revision.revision if adopted else None
    return AdoptDecision(verdicts, stamp, adopted, claims)


def _decide_with_history(
    revisions: Sequence[ImportedRevision],
    live: SchemaModel,
    history: Sequence[Sequence[ch.Change] | None],
    unsure: Sequence[Unsure],
    claimed_files: set[str],
    claims: tuple[LegacyClaim, ...],
) -> AdoptDecision:
    states: list[SchemaModel] = []  # M_k after each revision
    model = SchemaModel()
    for changes in history:
        model = model.copy()
        for c in changes or ():
            try:
                ch.apply(model, c)
            except (KeyError, AssertionError, ValueError):  # replay is tolerant; an odd change is skipped
                continue
        states.append(model)
    end = states[-1] if states else SchemaModel()
    # what the revision's changes touch, and what guard-import recorded it leaves behind or
    # removes (the analysis names what PostgreSQL names: the key behind an inline UNIQUE)
    feet = [
        footprint((*c, *(ch.DropObject(r) for r in rev.drops))) + tuple(rev.provides) + u.maybe_dropped
        if c is not None
        else ()
        for rev, c, u in zip(revisions, history, unsure, strict=True)
    ]
    feet = [tuple(dict.fromkeys(f)) for f in feet]
    # what the history cannot tell after each revision: the objects whose last touch is a
    # conditional drop, and what dynamic SQL so far may have made
    unknown: list[Unknown] = []
    doubt: set[ObjRef] = set()
    patterns: list[str] = []
    for f, u in zip(feet, unsure, strict=True):
        doubt.difference_update(f)
        doubt.update(u.maybe_dropped)
        patterns.extend(p for p in u.dynamic if p not in patterns)
        unknown.append(Unknown(frozenset(doubt), tuple(patterns)))
    at_end = unknown[-1] if unknown else Unknown()

    last_touch = {ref: k for k, f in enumerate(feet, start=1) for ref in f}
    # against the whole history: what each revision still lacks (what `upgrade head` would do)
    final: list[Verdict] = []
    for k, rev in enumerate(revisions, start=1):
        claimed = rev.source_file in claimed_files
        if not rev.imported:
            final.append(Verdict(rev, "foreign", claimed=claimed))
        elif history[k - 1] is None:
            final.append(classify(rev, live, claimed))
        elif not feet[k - 1]:
            final.append(Verdict(rev, "unverifiable", claimed=claimed))
        else:
            # each object is judged with the last revision that touches it (that one gives it
            # its final shape); a revision whose objects later ones all touch again is judged on
            # all of them
            mine = tuple(r for r in feet[k - 1] if last_touch[r] == k) or feet[k - 1]
            final.append(_verdict(rev, judge(mine, end, live, at_end), claimed))

    # the stamp: the last revision whose state the live schema shows on everything touched so
    # far; or, when the database holds the whole history but for a few objects, the run of
    # revisions present against the whole history (the rest is completed by `upgrade head`)
    matched = 0
    seen: dict[ObjRef, None] = {}
    for k, rev in enumerate(revisions, start=1):
        if not rev.imported or (history[k - 1] is None and final[k - 1].status != "present"):
            break  # not written by guard-import (nothing recorded to trust it by), or not there
        for ref in feet[k - 1]:
            seen.setdefault(ref, None)
        j = judge(tuple(seen), states[k - 1], live, unknown[k - 1])
        if not (j.missing or j.still or j.different):
            matched = k
    prefix = 0
    for k, v in enumerate(final, start=1):
        if v.status != "present" and v.status != "unverifiable":
            break
        if v.status == "present":
            prefix = k
    stamp_at = max(matched, prefix)
    # a data-only revision can't be seen in the schema: at the end of the stamped run it needs
    # the legacy table's word
    while stamp_at and final[stamp_at - 1].status == "unverifiable":
        if revisions[stamp_at - 1].source_file in claimed_files:
            break
        stamp_at -= 1

    verdicts: list[Verdict] = []
    for k, v in enumerate(final, start=1):
        if k <= stamp_at and v.status == "unverifiable":
            v = dataclasses.replace(v, inferred=not v.claimed)
        elif k <= matched and v.status not in ("present", "foreign"):
            # it agrees with the state after the stamp; what the later revisions change is theirs
            v = Verdict(v.revision, "present", claimed=v.claimed)
        verdicts.append(v)
    stamp = revisions[stamp_at - 1].revision if stamp_at else None
    return AdoptDecision(tuple(verdicts), stamp, stamp_at, claims)


def _verdict(rev: ImportedRevision, j: Judged, claimed: bool) -> Verdict:
    if not (j.missing or j.still or j.different):
        status: Status = "present"
    elif j.agreed == 0:
        status = "absent"
    else:
        status = "partial"
    return Verdict(
        rev,
        status,
        tuple(j.missing),
        tuple(j.still),
        tuple(j.invalid),
        claimed,
        tuple(j.different),
        unjudged=tuple(j.unjudged),
    )


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
        for ref, want, have in v.different:
            lines.append(f"{'':16}another definition: {ref.describe()}: {have} (the history gives {want})")
        if v.inferred:
            lines.append(f"{'':16}data only: taken as applied, a later revision is present")
        if v.unjudged:
            lines.append(
                f"{'':16}not judged (a conditional drop, or dynamic SQL, leaves them unknown): "
                + _refs_text(v.unjudged)
            )
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
