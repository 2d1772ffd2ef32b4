"""Split SQL text into positioned statements with PostgreSQL's own grammar.

Pure: reads only the text it is given.  The parse is pglast's
``parse_sql_json`` (libpg_query, PostgreSQL 18's grammar) followed by one
``json.loads``: building pglast's Python AST instead is about 18 times slower
and the analysis has to reach 10 MB/s.

libpg_query reports ``stmt_location`` / ``stmt_len`` and every node
``location`` as UTF-8 *byte* offsets into the parsed text, while
:class:`~alembic_guard.sql.statement.SourceFile` positions are characters.
The conversion walks the encoded text once per file, statement after
statement (ASCII text, the common case, needs none).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from pglast.parser import ParseError, parse_sql_json, scan

try:  # optional: decodes pglast's JSON about 1.4 times faster than the standard library
    import orjson

    _json_loads: Any = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _json_loads = json.loads

from alembic_guard.errors import SourceError
from alembic_guard.sql.statement import SourceFile, Statement

__all__ = ["gc_paused", "parse_source", "parse_sources", "parse_text"]

_HINT = "fix the statement, or move the file out of the migration directory"
_WS = " \t\n\r\f\v"
# what can come before a statement's first token: whitespace and empty statements
_NOISE = _WS + ";"


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk analysis, then restore it.

    Parse trees are millions of small acyclic dicts and lists kept alive until
    planning ends; each full collection rescans all of them, which made the
    whole pipeline several times slower on a 10 MB migration set (see
    docs/benchmarks.md).  Reference counting still frees everything; only
    reference cycles wait until the block ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_sources(sources: Iterable[SourceFile]) -> list[Statement]:
    """The statements of several files, in the files' order, with the collector paused."""
    with gc_paused():
        return [stmt for src in sources for stmt in parse_source(src)]


def parse_text(text: str, path: str = "<string>") -> list[Statement]:
    """Statements of ``text``, as if it were the whole file ``path``."""
    return parse_source(SourceFile(path=path, text=text))


def parse_source(src: SourceFile) -> list[Statement]:
    """The statements of one source file, in order, each with its position and parse tree.

    ``Statement.offset`` / ``line`` / ``col`` point at the statement's first
    token (leading comments and blank lines skipped); ``Statement.text`` has
    neither leading nor trailing comments nor the closing semicolon.

    Raises :class:`SourceError` with ``file:line:col`` of the first syntax error.
    """
    # the collector stays paused for the whole file: the Statement objects made
    # below would otherwise trigger full collections rescanning every tree kept so far
    with gc_paused():
        return _parse_source(src)


def _parse_source(src: SourceFile) -> list[Statement]:
    text = src.text
    if "\x00" in text:
        # libpg_query reads a C string: everything after a NUL would vanish unseen
        line, col = src.line_col(text.index("\x00"))
        raise SourceError(
            "contains a NUL character",
            file=src.path,
            line=line,
            col=col,
            hint="remove it; SQL text cannot hold NUL",
        )
    try:
        raw = parse_sql_json(text)
    except ParseError as exc:
        raise _syntax_error(src, exc) from None
    entries: list[dict[str, Any]] = _loads(raw)["stmts"]
    if not entries:
        return []

    ascii_text = text.isascii()
    data = b"" if ascii_text else text.encode("utf-8")
    total_bytes = len(text) if ascii_text else len(data)
    # running (byte, char) cursor: statements come in order, so converting every
    # statement's byte offsets decodes each byte of the file at most once
    cur_byte = cur_char = 0
    # running line count, for the same reason: no per-statement search from the top
    line, line_start, counted_to = src.base_line, 0, 0

    statements: list[Statement] = []
    for index, entry in enumerate(entries):
        begin = entry.get("stmt_location", 0)
        length = entry.get("stmt_len", 0)
        end = begin + length if length else total_bytes  # stmt_len 0: to the end of the text
        if ascii_text:
            start, stop = begin, end
        else:
            start = cur_char + len(data[cur_byte:begin].decode("utf-8"))
            stop = start + len(data[begin:end].decode("utf-8"))
            cur_byte, cur_char = end, stop
        body = text[start:stop]
        if body and (body[0] in _NOISE or body.startswith(("--", "/*"))):
            # PostgreSQL 18 already starts a statement at its first token; older
            # grammars start it right after the previous semicolon
            skip = _leading_noise(body)
            body = body[skip:]
            start += skip
            begin += skip if ascii_text else len(text[start - skip : start].encode("utf-8"))
        body = _strip_trailing(body)
        newlines = text.count("\n", counted_to, start)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", counted_to, start) + 1
        counted_to = start
        col = start - line_start + 1
        statements.append(Statement(src, index, body, start, line, col, entry["stmt"], begin))
    return statements


def _loads(raw: str) -> dict[str, Any]:
    """pglast's JSON decoded (``orjson`` when installed, else ``json``), with the collector
    paused: collections triggered while a tree is being built rescan every tree kept so
    far, and a tree cannot hold a cycle."""
    with gc_paused():
        tree: dict[str, Any] = _json_loads(raw)
        return tree


def _leading_noise(body: str) -> int:
    """Length of the whitespace, comments and semicolons before the first token of ``body``."""
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch in _NOISE:
            i += 1
        elif body.startswith("--", i):
            nl = body.find("\n", i)
            i = n if nl == -1 else nl + 1
        elif body.startswith("/*", i):
            # comments nest in PostgreSQL
            depth, i = 1, i + 2
            while i < n and depth:
                if body.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif body.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        else:
            break
    return i


def _strip_trailing(body: str) -> str:
    """``body`` without the whitespace and comments between its last token and its semicolon.

    The scanner runs only when the tail can hold a comment (its last line has
    ``--`` or it ends with ``*/``), so most statements cost one ``rstrip``.
    """
    body = body.rstrip(_WS)
    last_line = body[body.rfind("\n") + 1 :]
    if "--" not in last_line and not body.endswith("*/"):
        return body
    try:
        tokens = scan(body)
    except ParseError:  # cannot happen for text the parser accepted; keep it as it is
        return body
    for token in reversed(tokens):
        if token.name not in ("SQL_COMMENT", "C_COMMENT"):
            # token ends are inclusive character offsets
            return body[: token.end + 1]
    return body


def _syntax_error(src: SourceFile, exc: ParseError) -> SourceError:
    """A :class:`SourceError` at the position of the parser's first error in ``src``."""
    message = _shorten(str(exc.args[0]) if exc.args else "syntax error")
    location = exc.args[1] if len(exc.args) > 1 else None
    if isinstance(location, int):
        line, col = src.line_col(location)
        return SourceError(message, file=src.path, line=line, col=col, hint=_HINT)
    # "syntax error at end of input": the last statement is unfinished (a missing
    # closing parenthesis, END, or quote); point at where that statement starts
    start = _last_statement_start(src.text)
    line, col = src.line_col(start)
    return SourceError(
        f"{message}: the statement starting here is not complete",
        file=src.path,
        line=line,
        col=col,
        hint=_HINT,
    )


def _shorten(message: str) -> str:
    """The parser's message with its ``at or near "..."`` cut to one short line.

    For an unterminated quote or comment the parser quotes the whole rest of the file.
    """
    head, sep, near = message.partition(' at or near "')
    if not sep:
        return message
    near = near.removesuffix('"')
    first = near.split("\n", 1)[0]
    if first != near or len(first) > 40:
        first = first[:40] + "…"
    return f'{head}{sep}{first}"'


def _last_statement_start(text: str) -> int:
    """Character offset of the first token after the last top-level semicolon of ``text``."""
    try:
        tokens = scan(text)
    except ParseError:
        return 0
    start, depth, after_semicolon = 0, 0, True
    for token in tokens:
        name = token.name
        if name in ("SQL_COMMENT", "C_COMMENT"):
            continue
        if after_semicolon:
            start, after_semicolon = token.start, False
        if name == "ASCII_40":  # (
            depth += 1
        elif name == "ASCII_41":  # )
            depth = max(depth - 1, 0)
        elif name == "ASCII_59" and depth == 0:  # ;
            after_semicolon = True
    return start
