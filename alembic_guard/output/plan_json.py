"""``guard-plan --format json``: the plan as a versioned, deterministic document.  Pure.

Schema (``"version": 1``; fields are only ever added under this version)::

    {"version": 1, "ok": bool,
     "summary": {"statements": int, "files": int, "moved": int, "split": int,
                 "errors": int, "warnings": int},
     "files": [{"path": str, "order": int, "checksum": str}],
     "steps": [{"position": int, "file": str, "line": int, "col": int,
                "kind": str, "sql": str, "moved": bool, "split": bool, "note": str|null,
                "transactional": bool, "opaque": str|null,
                "creates": [str], "ensures": [str], "requires": [str], "drops": [str], "alters": [str]}],
     "problems": [{"code": str, "severity": "error"|"warning", "message": str, "hint": str|null,
                   "where": str|null, "missing": str|null, "links": [str],
                   "statements": [{"file": str, "line": int, "col": int, "excerpt": str}]}]}

Objects are written as ``ObjRef.describe()`` strings (``column tasks.project_id``).
"""

from __future__ import annotations

from typing import Any

from alembic_guard.output.common import json_document
from alembic_guard.plan.types import Plan

VERSION = 1


def to_dict(plan: Plan) -> dict[str, Any]:
    steps = []
    for k, step in enumerate(plan.steps, 1):
        s, e = step.statement, step.effect
        steps.append(
            {
                "position": k,
                "file": s.file,
                "line": s.line,
                "col": s.col,
                "kind": "AlterTableStmt" if step.split else s.kind,
                "sql": step.sql,
                "moved": step.moved,
                "split": step.split,
                "note": step.note,
                "transactional": e.transactional,
                "opaque": e.opaque,
                "creates": [str(r) for r in e.creates],
                "ensures": [str(r) for r in e.ensures],
                "requires": [str(r.ref) for r in e.requires],
                "drops": [str(r) for r in e.drops],
                "alters": [str(r) for r in e.alters],
            }
        )
    problems = [
        {
            "code": p.code,
            "severity": p.severity,
            "message": p.message,
            "hint": p.hint,
            "where": p.where,
            "missing": str(p.missing) if p.missing is not None else None,
            "links": [str(r) for r in p.links],
            "statements": [
                {"file": s.file, "line": s.line, "col": s.col, "excerpt": s.excerpt(72)} for s in p.statements
            ],
        }
        for p in plan.problems
    ]
    return {
        "version": VERSION,
        "ok": plan.ok,
        "summary": {
            "statements": len(plan.steps),
            "files": len(plan.source_files),
            "moved": plan.moved_count - plan.split_count,
            "split": plan.split_count,
            "errors": len(plan.errors),
            "warnings": len(plan.problems) - len(plan.errors),
        },
        "files": [{"path": f.path, "order": f.order, "checksum": f.checksum} for f in plan.source_files],
        "steps": steps,
        "problems": problems,
    }


def render(plan: Plan) -> str:
    return json_document(to_dict(plan))
