"""The importer's edge: read what earlier imports wrote, write new revision files.

The only module of :mod:`alembic_guard.importer` that touches the
filesystem.  Existing revisions are read through Alembic's
``ScriptDirectory`` (which imports each revision module), so a revision
renamed, reformatted or hand-chained by a user is still recognised by the
constants it defines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic_guard.errors import UsageError
from alembic_guard.importer import module as m
from alembic_guard.importer.module import ImportedRevision
from alembic_guard.model import ObjRef

__all__ = ["ImportedRevision", "head_of", "read_revisions", "script_directory", "write_revisions"]


def script_directory(config: Any) -> Any:
    """Alembic's ``ScriptDirectory`` for ``config``; :class:`UsageError` when there is none."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(config)
    except CommandError as exc:
        raise UsageError(
            f"no Alembic environment: {exc}",
            hint="run from the directory holding alembic.ini (or pass -c), "
            "or create one with `alembic guard-init DIR`",
        ) from None


def _refs(values: Any) -> tuple[ObjRef, ...]:
    out = []
    for v in values or ():
        ref = m.parse_ref(v)
        if ref is not None:
            out.append(ref)
    return tuple(out)


def read_revisions(script: Any) -> list[ImportedRevision]:
    """Every revision of ``script``, base first (imports each revision module).

    Raises :class:`UsageError` when the history has several heads: an import
    appends to one line of history.
    """
    heads = script.get_heads()
    if len(heads) > 1:
        raise UsageError(
            f"the versions directory has {len(heads)} heads ({', '.join(sorted(heads))})",
            hint="merge them first (`alembic merge heads`), then import",
        )
    out: list[ImportedRevision] = []
    for sc in reversed(list(script.walk_revisions())):
        mod = sc.module
        down = sc.down_revision
        if isinstance(down, (tuple, list)):
            down = down[0] if down else None
        src = getattr(mod, m.SOURCE_FILE, None)
        out.append(
            ImportedRevision(
                revision=sc.revision,
                down_revision=down,
                path=sc.path,
                doc=(sc.doc or "").strip(),
                source_file=src if isinstance(src, str) else None,
                source_checksum=getattr(mod, m.SOURCE_CHECKSUM, None),
                numbers=tuple(getattr(mod, m.SOURCE_STATEMENTS, ()) or ()),
                statement_count=int(getattr(mod, m.SOURCE_STATEMENT_COUNT, 0) or 0),
                provides=_refs(getattr(mod, m.GUARD_PROVIDES, ())),
                drops=_refs(getattr(mod, m.GUARD_DROPS, ())),
            )
        )
    return out


def head_of(revisions: Sequence[ImportedRevision]) -> str | None:
    return revisions[-1].revision if revisions else None


def write_revisions(versions_dir: str | os.PathLike[str], specs: Sequence[m.RevisionSpec]) -> list[Path]:
    """Write one file per spec into ``versions_dir``; returns the paths written.

    A file that already exists with the same content is left untouched; one
    with other content is refused (:class:`UsageError`) rather than overwritten.
    """
    root = Path(versions_dir)
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    planned = [(root / spec.filename, m.module_text(spec)) for spec in specs]
    for path, text in planned:
        if path.exists() and path.read_text(encoding="utf-8") != text:
            raise UsageError(
                f"{path} exists with other content",
                hint="remove or rename it, or it was hand-edited: import into a clean versions directory",
            )
    for path, text in planned:
        if path.exists():
            continue
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        written.append(path)
    return written
