"""What the guarded runtime does instead: lint findings judged on the SQL the runtime really sends.

A revision's ``op.create_index`` renders as a plain ``CREATE INDEX``, which
AG201 flags; under a profile with ``concurrent_indexes`` (``prod``) the
guarded runtime sends ``CREATE INDEX CONCURRENTLY`` in an autocommit block
instead, and ``op.create_unique_constraint`` becomes a unique index built
concurrently and attached with ``USING INDEX``.  :func:`reconcile` compares
the lint findings of the two renderings of the same op calls (Alembic's SQL,
and the guarded operations' SQL under the active profile, both offline):

- a finding on both: kept as it is;
- a finding only on Alembic's SQL: the runtime does not do what it flags, so
  it becomes a ``note`` saying what the runtime sends instead;
- a finding only on the runtime's SQL: kept, saying it comes from the
  runtime's form of the op (e.g. the non-concurrent unique index a unique
  constraint is built through under ``dev``).

Pure: findings and rendered statements in, findings out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from alembic_guard.output.report import Finding

__all__ = ["reconcile"]

# statements the runtime wraps every op in: they say nothing about what the op does
_WRAPPING = ("SET ", "RESET ", "BEGIN", "COMMIT")
# findings about the revision's own text, not about what is sent: judged on Alembic's rendering only
_ABOUT_THE_TEXT = frozenset({"AG001"})


def _key(f: Finding) -> tuple[str | None, int, str]:
    return (f.revision, f.location.line if f.location else 0, f.code)


def runtime_sql(runs: Sequence[Any]) -> dict[tuple[str, int], str]:
    """Per (revision, op line): the statements the guarded runtime sends for that op, ``; ``-joined."""
    out: dict[tuple[str, int], list[str]] = {}
    for run in runs:
        for a in run.analyzed:
            text = " ".join(a.statement.text.split())
            if text.upper().startswith(_WRAPPING):
                continue
            out.setdefault((run.revision, run.rendered.op_line(a.statement.offset)), []).append(text)
    return {k: "; ".join(v) for k, v in out.items()}


def reconcile(
    plain: Sequence[Finding], guarded: Sequence[Finding], sent: dict[tuple[str, int], str], profile: str
) -> list[Finding]:
    """The lint findings of Alembic's rendering, judged against the runtime's (see the module doc).

    ``plain`` / ``guarded``: lint findings of the two renderings, at op lines of the revision
    files; ``sent``: :func:`runtime_sql` of the guarded rendering.
    """
    guarded = [g for g in guarded if g.code not in _ABOUT_THE_TEXT]
    guarded_keys = {_key(f) for f in guarded}
    plain_keys = {_key(f) for f in plain}
    out: list[Finding] = []
    for f in plain:
        if _key(f) in guarded_keys or f.revision is None or f.location is None or f.code in _ABOUT_THE_TEXT:
            out.append(f)
            continue
        instead = sent.get((f.revision, f.location.line))
        runs_as = f": `{instead}`" if instead else " another way"
        out.append(
            dataclasses.replace(
                f,
                severity="note",
                message=f"{f.message} Under profile {profile} the guarded runtime sends this op{runs_as}.",
                help=f"nothing to change while the guarded env.py runs it under profile {profile}; "
                f"elsewhere: {f.help}",
            )
        )
    for g in guarded:
        if _key(g) in plain_keys:
            continue
        out.append(
            dataclasses.replace(
                g,
                message=f"{g.message} (the SQL the guarded runtime sends for this op, profile {profile})",
                help=f"{g.help}; or run migrations under a profile that avoids it "
                "(`alembic guard-check --profile prod` shows what prod sends)",
            )
        )
    return out
