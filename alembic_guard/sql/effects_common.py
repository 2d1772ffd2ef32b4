"""Shared helpers of statement analysis: the collecting context, names, types, source text.

Pure.  Parse trees are pglast's JSON dicts (``{"CreateStmt": {...}}``); every
``location`` is a UTF-8 byte offset into the text that was parsed.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from alembic_guard.model import ObjRef, QName, canonical_type
from alembic_guard.sql.effects_known import SEQUENCE_COLUMNS, SYSTEM_COLUMNS, Known
from alembic_guard.sql.statement import QueryColumns, Requirement

Node = dict[str, Any]

# Schemas whose objects are PostgreSQL's own: never required, never created.
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})

# Types PostgreSQL knows without any migration.  A type name outside this set
# (and outside pg_catalog) is a user type the statement requires.
BUILTIN_TYPES = frozenset(
    """
    bigint bigserial bit bool boolean box bpchar bytea char character cidr circle date decimal double
    float float4 float8 inet int int2 int4 int8 integer interval json jsonb jsonpath line lseg macaddr
    macaddr8 money name numeric oid path pg_lsn point polygon real record regclass regproc regprocedure
    regtype regnamespace regrole regconfig regdictionary regoper regoperator regcollation serial serial2
    serial4 serial8 smallint smallserial text time timestamp timestamptz timetz tsquery tsvector
    txid_snapshot uuid varbit varchar xml void trigger event_trigger unknown refcursor cstring internal
    anyelement anyarray anynonarray anyenum anyrange anymultirange anycompatible anycompatiblearray
    anycompatiblenonarray anycompatiblerange anycompatiblemultirange language_handler fdw_handler
    index_am_handler tsm_handler table_am_handler pg_node_tree aclitem int2vector oidvector
    int4range int8range numrange tsrange tstzrange daterange int4multirange int8multirange nummultirange
    tsmultirange tstzmultirange datemultirange pg_snapshot xid xid8 cid tid
    """.split()  # noqa: SIM905 (a word list reads better than 130 quoted strings)
)

# Types that come with an extension: requiring the extension is what can be planned.
EXTENSION_TYPES = {
    "citext": "citext",
    "hstore": "hstore",
    "ltree": "ltree",
    "lquery": "ltree",
    "cube": "cube",
    "geometry": "postgis",
    "geography": "postgis",
    "vector": "vector",
    "halfvec": "vector",
    "isbn": "isn",
    "ean13": "isn",
}


@functools.lru_cache(maxsize=256)
def _builtin_spelling(name: str) -> str:
    return canonical_type(name)


def sval(node: Any) -> str:
    """The text of a ``{"String": {"sval": ...}}`` node ('' when empty)."""
    s = node.get("String") if isinstance(node, dict) else None
    return s.get("sval", "") if s is not None else ""


def strings(nodes: list[Any] | None) -> list[str]:
    """The texts of a list of ``String`` nodes (a name list: ``["public", "users"]``)."""
    if not nodes:
        return []
    try:
        return [n["String"].get("sval", "") for n in nodes]
    except (KeyError, TypeError):  # a list mixing other nodes (A_Star ...): the slow, careful way
        return [sval(n) for n in nodes]


def const_str(node: Any) -> str | None:
    """The string of an ``A_Const`` (possibly under a ``TypeCast``), else ``None``."""
    if not isinstance(node, dict):
        return None
    if "TypeCast" in node:
        return const_str(node["TypeCast"].get("arg"))
    c = node.get("A_Const")
    if c is None or "sval" not in c:
        return None
    return str(c["sval"].get("sval", ""))


def split_qualified(name: str) -> list[str]:
    """``'app."Users"'`` → ``['app', 'Users']`` with PostgreSQL's folding (regclass literals)."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == '"':
            if quoted and i + 1 < len(name) and name[i + 1] == '"':
                buf.append('"')
                i += 1
            else:
                quoted = not quoted
        elif ch == "." and not quoted:
            parts.append("".join(buf))
            buf = []
        elif quoted:
            buf.append(ch)
        else:
            buf.append(ch.lower())
        i += 1
    parts.append("".join(buf))
    return [p.strip() for p in parts]


def min_location(node: Any) -> int:
    """Smallest ``location`` inside a node (its leftmost token, usually), -1 if none.

    Visits the whole sub-tree (a view's query can be large): exact type checks,
    and only containers go on the stack.
    """
    best = -1
    stack = [node]
    pop, push = stack.pop, stack.append
    while stack:
        n = pop()
        if type(n) is dict:
            for k, v in n.items():
                tv = type(v)
                if tv is dict or tv is list:
                    if k != "location":
                        push(v)
                elif k == "location" and tv is int and v >= 0 and (best < 0 or v < best):
                    best = v
        elif type(n) is list:
            for v in n:
                if type(v) is dict or type(v) is list:
                    push(v)
    return best


# Bytes that matter when scanning SQL text: brackets, separators, quotes, comment and dollar starts.
_TOKEN_CLASS = rb"""[()\[\],;'"$]|--|/\*"""
_TOKENS = re.compile(_TOKEN_CLASS)
_QUOTE_END = re.compile(rb"(?:[^']|'')*'")
_E_QUOTE_END = re.compile(rb"(?:[^'\\]|''|\\.)*'", re.S)
_DOLLAR_TAG = re.compile(rb"\$[A-Za-z_0-9]*\$")


@functools.lru_cache(maxsize=16)
def _stop_pattern(stop_words: frozenset[bytes]) -> re.Pattern[bytes]:
    words = b"|".join(sorted(stop_words))
    return re.compile(_TOKEN_CLASS + rb"|(?P<word>(?i:\b(?:" + words + rb")\b))")


# INTERVAL field masks (1 << YEAR ...), as the grammar stores them in the first type modifier
_INTERVAL_FIELDS = {
    4: "year", 2: "month", 8: "day", 1024: "hour", 2048: "minute", 4096: "second",
    6: "year to month", 1032: "day to hour", 3080: "day to minute", 7176: "day to second",
    3072: "hour to minute", 7168: "hour to second", 6144: "minute to second",
}  # fmt: skip
_INTERVAL_FULL_RANGE = 32767


def _interval_spelling(mods: list[str]) -> str:
    """``interval``, ``interval(3)``, ``interval day to second(2)``: as format_type() prints them."""
    if not mods:
        return "interval"
    fields = _INTERVAL_FIELDS.get(int(mods[0]), "") if mods[0] != str(_INTERVAL_FULL_RANGE) else ""
    text = f"interval {fields}" if fields else "interval"
    return f"{text}({mods[1]})" if len(mods) > 1 else text


class Source:
    """Text a parse tree's byte locations point into, with cheap slicing and scanning."""

    __slots__ = ("data", "text")

    def __init__(self, text: str):
        self.text = text
        # pglast locations are UTF-8 byte offsets; scan bytes so they line up
        self.data = text.encode()

    def slice(self, start: int, end: int) -> str:
        return self.data[start:end].decode(errors="replace").strip()

    def _skip(self, i: int) -> int:
        """If a string, quoted identifier or comment starts at ``i``, the index after it."""
        b = self.data
        ch = b[i]
        if ch == 0x27:  # '...' with '' inside; a backslash escapes only in E'...' strings
            escapes = i > 0 and b[i - 1] in (0x45, 0x65)
            m = (_E_QUOTE_END if escapes else _QUOTE_END).match(b, i + 1)
            return m.end() if m else len(b)
        if ch == 0x22:  # "
            j = b.find(b'"', i + 1)
            return len(b) if j < 0 else j + 1
        if ch == 0x2D and b[i + 1 : i + 2] == b"-":  # -- comment
            j = b.find(b"\n", i)
            return len(b) if j < 0 else j + 1
        if ch == 0x2F and b[i + 1 : i + 2] == b"*":
            j = b.find(b"*/", i + 2)
            return len(b) if j < 0 else j + 2
        if ch == 0x24:  # $tag$ ... $tag$
            m = _DOLLAR_TAG.match(b, i)
            if m:
                k = b.find(m.group(), m.end())
                return len(b) if k < 0 else k + len(m.group())
        return i

    def paren_group(self, start: int) -> tuple[int, int] | None:
        """Span inside the first ``( ... )`` at or after ``start`` (exclusive of the parens)."""
        b = self.data
        i = max(start, 0)
        while True:
            m = _TOKENS.search(b, i)
            if m is None:
                return None
            i = m.start()
            ch = b[i]
            if ch == 0x28:
                return (i + 1, self.expr_end(i + 1, commas=False))
            if ch == 0x3B:
                return None
            j = self._skip(i)
            i = j if j != i else i + 1

    def expr_end(self, start: int, stop_words: frozenset[bytes] = frozenset(), commas: bool = True) -> int:
        """Index where an expression starting at ``start`` ends.

        It ends at a top-level ``,``, ``;`` or unmatched ``)``, at the end of
        the text, or before one of ``stop_words`` (upper-case bytes) standing
        alone at top level.  A regular expression jumps from one token that
        matters to the next, so long expressions cost little.
        """
        b = self.data
        pattern = _stop_pattern(stop_words) if stop_words else _TOKENS
        i = start
        depth = 0
        while True:
            m = pattern.search(b, i)
            if m is None:
                return len(b)
            i = m.start()
            ch = b[i]
            if ch in (0x28, 0x5B):
                depth += 1
            elif ch in (0x29, 0x5D):
                if depth == 0:
                    return i
                depth -= 1
            elif ch == 0x3B or ch == 0x2C:
                if depth == 0 and (ch == 0x3B or commas):
                    return i
            elif m.lastgroup == "word":
                if depth == 0:
                    return i
                i = m.end()
                continue
            else:
                j = self._skip(i)
                i = j if j != i else i + 1
                continue
            i += 1

    def statement_end(self, start: int) -> int:
        """Index of the ``;`` (or unmatched ``)``, or end of text) that ends the statement."""
        i = start
        while True:
            i = self.expr_end(i)
            if i >= len(self.data) or self.data[i] != 0x2C:
                return i
            i += 1

    def text_after_keyword(
        self, node: Any, keyword: bytes, stop_words: frozenset[bytes] = frozenset()
    ) -> str:
        """Source text of expression ``node`` that follows ``keyword`` (e.g. ``DEFAULT``)."""
        loc = min_location(node)
        if loc < 0:
            return ""
        # the keyword stands just before the expression (maybe after "(" or a comment):
        # look back a bounded window, never the whole file
        lo = max(0, loc - 512)
        k = self.data[lo:loc].upper().rfind(keyword)
        start = lo + k + len(keyword) if k >= 0 else loc
        return self.slice(start, self.expr_end(start, stop_words))

    def group_text(self, start: int) -> str:
        """Text inside the first parenthesised group at or after ``start``."""
        span = self.paren_group(start)
        return self.slice(*span) if span else ""

    def split_top(self, start: int, end: int) -> list[str]:
        """Top-level comma-separated parts of ``data[start:end]``."""
        parts = []
        i = start
        while i < end:
            j = self.expr_end(i)
            parts.append(self.slice(i, min(j, end)))
            i = j + 1
        return parts


class Ctx:
    """Collects the facts of one statement (or one embedded statement of a DO block)."""

    __slots__ = (
        "alters",
        "changes",
        "check_bodies",
        "creates",
        "drops",
        "dynamic",
        "ensure_mode",
        "ensures",
        "ignore_names",
        "known",
        "loc_shift",
        "maybe_drops",
        "named_by_server",
        "opaque",
        "query_columns",
        "requires",
        "search_path",
        "src",
        "transactional",
        "uses",
    )

    def __init__(
        self,
        src: Source,
        search_path: tuple[str, ...],
        loc_shift: int | None = 0,
        ensure_mode: bool = False,
        known: Known | None = None,
    ):
        self.src = src
        self.search_path = search_path
        # added to node locations to get file byte offsets; None when unknown (dynamic text)
        self.loc_shift = loc_shift
        self.ensure_mode = ensure_mode
        self.creates: list[ObjRef] = []
        self.ensures: list[ObjRef] = []
        self.requires: list[Requirement] = []
        self.drops: list[ObjRef] = []
        self.alters: list[ObjRef] = []
        self.changes: list[Any] = []
        self.opaque: list[str] = []
        self.transactional = True
        self.ignore_names: frozenset[str] = frozenset()
        self.named_by_server: list[ObjRef] = []  # see Effect.named_by_server
        # what the statements before this one left (columns for SELECT *, row types); see Known
        self.known = known if known is not None else Known()
        self.query_columns: list[QueryColumns] = []
        # run-time / conditional requirements, conditional drops, dynamic SQL (see Effect)
        self.uses: list[Requirement] = []
        self.maybe_drops: list[ObjRef] = []
        self.dynamic: list[str] = []
        # False after SET check_function_bodies = off: SQL function bodies are not checked
        self.check_bodies = True

    @property
    def schema(self) -> str:
        """Where unqualified names are created, and looked for (first search_path entry)."""
        return self.search_path[0] if self.search_path else "public"

    def provide(self, ref: ObjRef, if_not_exists: bool = False) -> None:
        (self.ensures if if_not_exists or self.ensure_mode else self.creates).append(ref)

    def require(self, ref: ObjRef, location: int | None = -1) -> None:
        if ref.schema in SYSTEM_SCHEMAS:
            return
        if ref.kind == "column":
            name, known = ref.name, self.known
            if name in SYSTEM_COLUMNS:
                return  # ctid, xmin ... exist on every table
            if known.open and (ref.schema, ref.parent) in known.open:
                return  # an open relation's columns cannot be judged
            if name in SEQUENCE_COLUMNS and (ref.schema, ref.parent) in known.sequences:
                return  # last_value, is_called ... of a sequence
        if location is None or location < 0 or self.loc_shift is None:
            loc = -1
        else:
            loc = location + self.loc_shift
        self.requires.append(Requirement(ref, loc))

    def require_schema(self, schema: str, location: int | None = -1) -> None:
        if schema != "public" and schema not in SYSTEM_SCHEMAS and not schema.startswith("pg_temp"):
            self.require(ObjRef("schema", "", schema), location)

    def rangevar(self, rv: Node) -> QName:
        """``(schema, name)`` of a RangeVar, unqualified names in the creation schema."""
        schema = rv.get("schemaname")
        name = rv.get("relname", "")
        if schema is None:
            # unqualified pg_* names resolve to pg_catalog, which is always searched first
            schema = "pg_catalog" if name.startswith("pg_") else self.schema
        return (schema, name)

    def qualified(self, names: list[str]) -> QName:
        """``(schema, name)`` of a dotted name list (``[schema, name]`` or ``[name]``)."""
        if len(names) >= 2:
            return (names[-2], names[-1])
        return (self.schema, names[0] if names else "")

    def type_of(self, tn: Node, location_required: bool = True) -> str:
        """Canonical type text of a TypeName node; requires user types (or their extension)."""
        names = strings(tn.get("names"))
        loc = tn.get("location", -1)
        if not names:
            return "unknown"
        if tn.get("pct_type"):
            return self._column_type(names, loc, location_required)
        if (
            len(names) == 2
            and names[0] == "pg_catalog"
            and "typmods" not in tn
            and "arrayBounds" not in tn
            and not tn.get("setof")
        ):
            # the common case (int4, bool, timestamptz ...): no user type, cached spelling
            return _builtin_spelling(names[1])
        if (
            len(names) == 1
            and names[0] in BUILTIN_TYPES
            and "typmods" not in tn
            and "arrayBounds" not in tn
            and not tn.get("setof")
        ):
            return _builtin_spelling(names[0])
        if len(names) >= 2 and names[-2] == "pg_catalog":
            base = names[-1]
        elif len(names) >= 2:
            base = f"{names[-2]}.{names[-1]}"
            if location_required:
                self.require_type((names[-2], names[-1]), loc)
        else:
            base = names[0]
            if not base.islower() or not base.replace("_", "").isalnum():
                base = '"' + base.replace('"', '""') + '"'
            if names[0] in EXTENSION_TYPES:
                if location_required:
                    self.require(ObjRef("extension", "", EXTENSION_TYPES[names[0]]), loc)
            elif names[0] not in BUILTIN_TYPES:
                if location_required:
                    self.require_type((self.schema, names[0]), loc)
                if self.schema != "public":
                    # format_type() qualifies a type outside the default search path
                    base = f"{self.schema}.{base}"
        mods = []
        for m in tn.get("typmods") or ():
            c = m.get("A_Const") if isinstance(m, dict) else None
            if c is not None and "ival" in c:
                mods.append(str(c["ival"].get("ival", 0)))
        bare = names[-1]
        text = base
        if bare == "interval":
            text = _interval_spelling(mods)
        elif mods:
            if bare == "numeric" and len(mods) == 1:
                mods.append("0")  # format_type() spells numeric(5) as numeric(5,0)
            text += "(" + ",".join(mods) + ")"
        bounds = tn.get("arrayBounds")
        if bounds:
            # PostgreSQL does not record array dimensions: int[][] is spelled integer[]
            text += "[]"
        if tn.get("setof"):
            text = "setof " + text
        return canonical_type(text)

    def require_type(self, q: QName, location: int | None = -1) -> None:
        """Require a user type: a table's, view's or sequence's row type is the relation itself, and
        ``_t`` is the array type PostgreSQL makes for every type ``t``."""
        known = self.known
        if q not in known.types:
            if known.is_row_type(q):
                self.require(ObjRef("sequence" if q in known.sequences else "relation", *q), location)
                return
            if q[1].startswith("_") and known.is_type((q[0], q[1][1:])):
                self.require_type((q[0], q[1][1:]), location)
                return
        self.require(ObjRef("type", *q), location)

    def _column_type(self, names: list[str], loc: int, location_required: bool) -> str:
        """``table.column%TYPE``: the column must exist; its type where it is known."""
        if len(names) < 2:
            return "unknown"
        table = self.qualified(names[:-1])
        if location_required:
            self.require(ObjRef.column(table[0], table[1], names[-1]), loc)
        cols = self.known.relation_columns(table)
        typ = cols.get(names[-1]) if cols is not None else None
        return typ or "unknown"

    def merge(self, sub: Ctx) -> None:
        """Add the facts of an embedded statement (DO block, CREATE SCHEMA element) to this one."""
        self.creates.extend(sub.creates)
        self.ensures.extend(sub.ensures)
        self.requires.extend(sub.requires)
        self.drops.extend(sub.drops)
        self.alters.extend(sub.alters)
        self.changes.extend(sub.changes)
        self.uses.extend(sub.uses)
        self.maybe_drops.extend(sub.maybe_drops)
        self.dynamic.extend(p for p in sub.dynamic if p not in self.dynamic)
        for o in sub.opaque:
            self.opaque_part(o)
        self.transactional = self.transactional and sub.transactional
        self.query_columns.extend(sub.query_columns)

    def opaque_part(self, why: str) -> None:
        if why not in self.opaque:
            self.opaque.append(why)
