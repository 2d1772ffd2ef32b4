"""Read a directory of raw SQL migrations the way the tool that wrote them reads it.

The only module of :mod:`alembic_guard.sql` that touches the filesystem.

Layouts understood (only the *up* part is analysed; the down part is kept in
``SourceFile.down_text``):

- plain files, one migration each: ``0001_init.sql``, ``2_add.sql``;
- golang-migrate / sqlx pairs: ``N_name.up.sql`` + ``N_name.down.sql``;
- Flyway: ``V1__init.sql``, ``V1_1__x.sql`` (= 1.1), repeatable ``R__views.sql``
  (after all versioned ones), undo ``U1__init.sql`` (kept as the down part of V1);
- one directory per migration holding ``up.sql`` / ``down.sql`` (Diesel:
  ``2024-01-01-000000_create_users/up.sql``);
- one file with sections: dbmate ``-- migrate:up`` / ``-- migrate:down``,
  goose ``-- +goose Up`` / ``-- +goose Down``.  ``SourceFile.base_line`` is
  the line the up section starts on, so positions point into the real file.

Order (``order=``): ``auto`` (default) recognises each name's scheme - Flyway
version, dashed timestamp, integer prefix - and compares versions as numbers
(``2_x`` < ``10_x``, ``V2`` < ``V2.1`` < ``V10``); ``numeric``, ``flyway`` and
``timestamp`` accept only that scheme as a version; ``text`` is plain name order.
Names without a version come after the versioned ones, repeatable Flyway
migrations last.  Ties are broken by name, then by relative path.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pglast.parser import ParseError, scan

from alembic_guard.errors import SourceError, UsageError
from alembic_guard.sql.statement import SourceFile

__all__ = ["ORDERS", "load_directory", "load_file", "sort_key"]

ORDERS = ("auto", "numeric", "flyway", "timestamp", "text")

# Group of a name in the order: versioned first, then unversioned, then Flyway repeatables.
_VERSIONED, _UNVERSIONED, _REPEATABLE = 0, 1, 2

_FLYWAY = re.compile(r"([VvUu])(\d+(?:[._]\d+)*)__")
_REPEATABLE_NAME = re.compile(r"[Rr]__")
# 2024-01-01-000000_x (Diesel), 2024_01_01_120000_x, 2024-01-01T12:00:00_x, 2024-01-01_x
_DASHED_TIMESTAMP = re.compile(r"(\d{4})([-_])(\d{2})\2(\d{2})(?:[-_T](\d{2}):?(\d{2}):?(\d{2}))?(?!\d)")
_INTEGER = re.compile(r"\d+")

_SECTION_MARKER = re.compile(
    r"^[ \t]*--[ \t]*(?:migrate:(?P<dbmate>up|down)|\+goose[ \t]+(?P<goose>up|down))\b[^\n]*",
    re.IGNORECASE | re.MULTILINE,
)
# Each tool's marker for a file that runs outside a transaction block (each statement on
# its own): goose, dbmate (on its up marker), sqlx (first line), postgres-migrations; popx
# by the file name (below).
# golang-migrate has none: such statements are found by what they do (importer.transactions).
_NO_TRANSACTION = re.compile(
    r"^[ \t]*--[ \t]*(?:\+goose[ \t]+NO[ \t]+TRANSACTION"
    r"|migrate:up\b[^\n]*\btransaction:false"
    r"|postgres-migrations[ \t]+disable-transaction"
    r"|no-transaction)\b",
    re.IGNORECASE | re.MULTILINE,
)
# ory/x popx marks such a file by its name instead: N_name[.dialect].autocommit.up.sql
_NO_TRANSACTION_NAME = re.compile(r"\.autocommit(?:\.up)?\.sql$", re.IGNORECASE)
_BOM = b"\xef\xbb\xbf"
_UTF8_HINT = "the file must be UTF-8: convert it (e.g. `iconv -f latin1 -t utf-8`) and run again"


def sort_key(name: str, order: str = "auto") -> tuple[int, tuple[int, ...], str]:
    """Sort key of one migration name (file or directory name) under ``order``.

    ``(group, version, name)``: versions compare as tuples of integers, so
    ``2_x`` < ``10_x`` and ``V2`` < ``V2.1`` < ``V10``; ``0001_`` is 1.
    """
    if order == "text":
        return (_VERSIONED, (), name)
    if order in ("auto", "flyway"):
        m = _FLYWAY.match(name)
        if m:
            return (_VERSIONED, _flyway_version(m.group(2)), name)
        if _REPEATABLE_NAME.match(name):
            return (_REPEATABLE, (), name)
        if order == "flyway":
            return (_UNVERSIONED, (), name)
    if order in ("auto", "timestamp"):
        m = _DASHED_TIMESTAMP.match(name)
        if m:
            year, _sep, month, day, hh, mm, ss = m.groups()
            digits = f"{year}{month}{day}{hh or '00'}{mm or '00'}{ss or '00'}"
            return (_VERSIONED, (int(digits),), name)
    if order in ("auto", "numeric", "timestamp"):
        m = _INTEGER.match(name)
        if m:
            return (_VERSIONED, (int(m.group()),), name)
        return (_UNVERSIONED, (), name)
    raise UsageError(f"unknown file order {order!r}", hint=f"use one of: {', '.join(ORDERS)}")


def _flyway_version(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.split(r"[._]", text)]
    # Flyway treats 1.0 and 1 as the same version
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


@dataclass(frozen=True, slots=True)
class _Migration:
    """One migration found on disk before it is read."""

    name: str  # what the order is computed from
    rel: str  # path of the analysed file, relative to the root, posix separators
    up: Path
    down: Path | None
    down_rel: str = ""


def load_directory(path: str | os.PathLike[str], order: str = "auto") -> list[SourceFile]:
    """Read every migration under ``path`` (recursively), in the tool's order.

    Reads files only; hidden files and directories are skipped.  Raises
    :class:`SourceError` (exit 2) for a missing or empty directory, an
    unreadable or non-UTF-8 file, or SQL outside a file's up/down sections.
    """
    if order not in ORDERS:
        raise UsageError(f"unknown file order {order!r}", hint=f"use one of: {', '.join(ORDERS)}")
    root = Path(path)
    shown = os.fspath(path)
    if not root.exists():
        raise SourceError("directory not found", file=shown, hint="check the path to the SQL migrations")
    if not root.is_dir():
        raise SourceError(
            "is not a directory", file=shown, hint="give the directory that holds the .sql migrations"
        )
    migrations = _discover(root)
    if not migrations:
        raise SourceError(
            "no .sql files in this directory",
            file=shown,
            hint="give the directory that holds the .sql migrations",
        )
    migrations.sort(key=lambda m: (sort_key(m.name, order), m.rel))
    return [_read_migration(m, i) for i, m in enumerate(migrations)]


def load_file(path: str | os.PathLike[str], name: str | None = None, order: int = 0) -> SourceFile:
    """Read one migration file (its up section, if it has sections); ``name`` is the path shown."""
    p = Path(path)
    return _read_migration(_Migration(p.name, name or os.fspath(path), p, None), order)


def _discover(root: Path) -> list[_Migration]:
    found: list[_Migration] = []
    undo: dict[tuple[int, ...], Path] = {}
    for dirpath, dirnames, filenames in os.walk(root, onerror=_unlistable(root)):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        sql = sorted(f for f in filenames if f.lower().endswith(".sql") and not f.startswith("."))
        names = set(sql)
        by_lower = {f.lower(): f for f in sql}
        if "up.sql" in names:  # Diesel: the directory is the migration
            down = here / "down.sql" if "down.sql" in names else None
            found.append(
                _Migration(
                    here.name,
                    _rel(here / "up.sql", root),
                    here / "up.sql",
                    down,
                    _rel(here / "down.sql", root),
                )
            )
            names.discard("up.sql")
            names.discard("down.sql")
        for fname in sorted(names):
            lower = fname.lower()
            if lower.endswith(".down.sql"):
                continue  # read as the down part of its .up.sql, or not at all
            if lower.endswith(".up.sql"):
                stem = fname[: -len(".up.sql")]
                pair = by_lower.get(stem.lower() + ".down.sql")
                down = here / pair if pair else None
                found.append(
                    _Migration(
                        stem,
                        _rel(here / fname, root),
                        here / fname,
                        down,
                        _rel(here / pair, root) if pair else "",
                    )
                )
                continue
            m = _FLYWAY.match(fname)
            if m and m.group(1) in "Uu":
                undo.setdefault(_flyway_version(m.group(2)), here / fname)
                continue
            found.append(_Migration(fname, _rel(here / fname, root), here / fname, None))
    if undo:
        for i, mig in enumerate(found):
            m = _FLYWAY.match(mig.name)
            if m and mig.down is None:
                undo_path = undo.get(_flyway_version(m.group(2)))
                if undo_path is not None:
                    found[i] = _Migration(mig.name, mig.rel, mig.up, undo_path, _rel(undo_path, root))
    return found


def _unlistable(root: Path) -> Callable[[OSError], None]:
    """os.walk skips a directory it cannot list; a missing migration must not go unseen."""

    def fail(exc: OSError) -> None:
        where = Path(exc.filename).relative_to(root).as_posix() if exc.filename else os.fspath(root)
        raise SourceError(
            f"cannot list this directory: {exc.strerror or exc}",
            file=where or ".",
            hint="check that the directory is readable by this user",
        )

    return fail


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _read_migration(mig: _Migration, order: int) -> SourceFile:
    data, text = _read_text(mig.up, mig.rel)
    checksum = hashlib.sha256(data).hexdigest()
    down_text: str | None = None
    if mig.down is not None:
        down_text = _read_text(mig.down, mig.down_rel or mig.down.name)[1]
    base_line = 1
    no_transaction = (
        _NO_TRANSACTION.search(text) is not None or _NO_TRANSACTION_NAME.search(mig.up.name) is not None
    )
    if "migrate:" in text or "+goose" in text:
        text, base_line, section_down = _split_sections(text, mig.rel)
        if section_down is not None:
            down_text = section_down
    return SourceFile(
        path=mig.rel,
        text=text,
        order=order,
        base_line=base_line,
        down_text=down_text,
        checksum=checksum,
        no_transaction=no_transaction,
    )


def _read_text(path: Path, shown: str) -> tuple[bytes, str]:
    """The file's bytes and its text (BOM stripped, CRLF as LF); reads the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(
            f"cannot be read: {exc.strerror or exc}",
            file=shown,
            hint="check that the file exists and is readable by this user",
        )
    body = data[len(_BOM) :] if data.startswith(_BOM) else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start
        line = body.count(b"\n", 0, bad) + 1
        line_start = body.rfind(b"\n", 0, bad) + 1
        col = len(body[line_start:bad].decode("utf-8", errors="replace")) + 1
        offset = bad + (len(data) - len(body))
        raise SourceError(
            f"is not valid UTF-8: byte {offset} (0x{body[bad]:02x}) cannot be decoded",
            file=shown,
            line=line,
            col=col,
            hint=_UTF8_HINT,
        )
    if "\r" in text:
        # CRLF files: LF keeps every line and column where it is and keeps \r out of statement text
        text = text.replace("\r\n", "\n")
    return data, text


def _split_sections(text: str, shown: str) -> tuple[str, int, str | None]:
    """(up text, line where it starts, down text) of a dbmate / goose file.

    A section runs from the line after its marker to the next marker.  A file
    without markers is all up.
    """
    markers = list(_SECTION_MARKER.finditer(text))
    if not markers:
        return text, 1, None
    sections: dict[str, tuple[int, str]] = {}
    for i, m in enumerate(markers):
        kind = (m.group("dbmate") or m.group("goose")).lower()
        start = m.end() + 1 if m.end() < len(text) else m.end()
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        line = text.count("\n", 0, m.start()) + 1
        if kind in sections:
            raise SourceError(
                f"a second '{m.group().strip()}' marker",
                file=shown,
                line=line,
                col=1,
                hint="keep one up and one down section per file",
            )
        sections[kind] = (line + 1, text[start:end])
    if "up" not in sections:
        first = markers[0]
        raise SourceError(
            "has a down section but no up section",
            file=shown,
            line=text.count("\n", 0, first.start()) + 1,
            col=1,
            hint="add the up marker (`-- migrate:up` or `-- +goose Up`) above the up statements",
        )
    _check_only_comments(text[: markers[0].start()], shown)
    up_line, up_text = sections["up"]
    down = sections.get("down")
    return up_text, up_line, (down[1] if down else None)


def _check_only_comments(prefix: str, shown: str) -> None:
    """Refuse SQL above the first section marker: the tool would not run it as we would."""
    if not prefix.strip():
        return
    try:
        tokens = scan(prefix)
    except ParseError:
        tokens = []
        position = 0
    else:
        code = [t for t in tokens if t.name not in ("SQL_COMMENT", "C_COMMENT")]
        if not code:
            return
        position = code[0].start
    line = prefix.count("\n", 0, position) + 1
    col = position - (prefix.rfind("\n", 0, position) + 1) + 1
    raise SourceError(
        "SQL above the first up/down section marker",
        file=shown,
        line=line,
        col=col,
        hint="move it into the up section (below `-- migrate:up` or `-- +goose Up`)",
    )
