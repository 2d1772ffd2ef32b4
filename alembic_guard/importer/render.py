"""One SQL statement → the Alembic operation code that expresses it.

Pure: works on the statement's text (re-parsed with pglast's Python AST) and
returns code lines; nothing is executed or written.  Defaults, CHECK, index
keys and WHERE expressions are the statement's own text
(:mod:`alembic_guard.importer.source_text`): pglast's deparser re-spells
SQL-syntax functions, which PostgreSQL would store as other definitions.

A statement becomes a structured ``op.*`` call only when that call means
exactly what the SQL means on PostgreSQL (same names, types, defaults,
nullability, constraints).  Anything the renderer is not sure about — a
function, a view, a DO block, a data statement, an unusual type, a storage
option — becomes ``op.execute`` of the verbatim SQL, so the imported history
never silently differs from the legacy one.

The generated revisions call Alembic's plain operations; with alembic_guard's
environment they are the guarded, idempotent ones: ``op.create_table`` skips
an existing compatible table and adds the columns an older one lacks.
``IF NOT EXISTS`` is passed on (``if_not_exists=True``): the guard then keeps
an object of that name and another definition, as PostgreSQL does, instead
of refusing it.
"""

from __future__ import annotations

import ast as pyast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pglast
from pglast import ast, enums
from pglast.parser import ParseError
from pglast.stream import RawStream

from alembic_guard.importer.source_text import NoFaithfulText, expression_text, parenthesized, unparenthesized
from alembic_guard.model import SERIAL_TYPES, canonical_type
from alembic_guard.quoting import quote_ident
from alembic_guard.search_path import op_schema

__all__ = ["RenderedStatement", "escape_binds", "py_comment", "py_str", "render_statement", "sql_block"]

INDENT = "    "
LINE_LIMIT = 100


@dataclass(frozen=True, slots=True)
class RenderedStatement:
    """The code for one statement.

    ``upgrade`` / ``downgrade`` are code lines without the function's
    indentation; ``downgrade`` is ``None`` when the inverse is unknown, and
    ``irreversible`` then says why.  ``autocommit`` marks statements that must
    run outside a transaction block (``CREATE INDEX CONCURRENTLY`` ...).
    ``op`` names what was rendered (``create_table``, ``execute`` ...), for
    tests and summaries.
    """

    op: str
    upgrade: tuple[str, ...]
    downgrade: tuple[str, ...] | None
    irreversible: str | None = None
    autocommit: bool = False


class _Fallback(Exception):
    """The statement has a feature no structured op expresses exactly."""


# --------------------------------------------------------------------------
# Python literals
# --------------------------------------------------------------------------


def py_str(value: str) -> str:
    """A double-quoted Python string literal of ``value`` (black's preference)."""
    r = repr(value)
    if r.startswith("'") and '"' not in value:
        r = '"' + r[1:-1].replace("\\'", "'") + '"'
    return r


def py_comment(text: str) -> str:
    """``text`` for a ``#`` comment or a docstring line: one line that can end nothing and start no code.

    Input (a file name, an identifier, a note naming one) may hold anything a
    file system or a quoted identifier allows.  Backslashes are doubled, every
    character that is not printable is written as its escape sequence --- every
    line break Python or an editor knows (``\\n``, ``\\r``, ``\\x0b``,
    ``\\x0c``, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028, U+2029) among them ---
    and ``\"\"\"`` is broken up so that it cannot close a docstring.
    """
    escaped = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
        for ch in text.replace("\\", "\\\\")
    )
    return escaped.replace('"""', '\\"\\"\\"')


# A ``:name`` in text given to sa.text() is a bind parameter, and ``\\:name``
# an escaped colon that sa.text() turns into ``:name``; SQL such as
# ``SELECT 'a :b'``, a PL/pgSQL ``:=`` or ``E'\\:'`` must reach PostgreSQL
# unchanged.  A backslash goes before each colon SQLAlchemy would read either
# way (its own patterns, TextClause._bind_params_regex and the compiler's
# BIND_PARAMS_ESC), and sa.text() takes exactly that backslash away again.
_BIND_RE = re.compile(r"(?<![:\w\\]):(?=\w+(?![:\w]))|(?<=\\):(?=\w*(?![:\w]))")


def escape_binds(sql: str) -> str:
    """``sql`` for ``sqlalchemy.text``: what it compiles to is ``sql`` again, with no bind parameter."""
    return _BIND_RE.sub(r"\\:", sql)


def sql_block(sql: str) -> str:
    """The Python literal ``op.execute`` is given for ``sql``: PostgreSQL receives ``sql`` byte for byte.

    SQL on several lines is a raw triple-quoted string, verbatim (continuation
    lines at column 0: indenting them would change the SQL), when a raw string
    can hold it exactly: no ``\"\"\"`` (the SQL would close the string), no
    trailing ``"`` or backslash (it would join the closing quotes), and nothing
    but printable characters, newlines and tabs (Python reads a ``\\r`` as a
    line end; form feeds, U+2028 and the like are line breaks to editors).
    Anything else, and one-line SQL, is an ordinary literal with escapes
    (:func:`py_str`).  ``:name`` patterns are escaped for ``sa.text``
    (:func:`escape_binds`), which ``op.execute`` applies to a string.
    """
    text = escape_binds(sql)
    if (
        "\n" not in text
        or '"""' in text
        or text.endswith(('"', "\\"))
        or not all(ch.isprintable() or ch in "\n\t" for ch in text)
    ):
        return py_str(text)
    return 'r"""' + text + '"""'


def _call(func: str, args: Sequence[str], indent: str = "") -> list[str]:
    """``func(a, b)`` on one line when it fits in 100 columns, else one argument per line.

    An argument that is itself a call too long for its line is split the same
    way (black's layout, without black).
    """
    one = f"{func}({', '.join(args)})"
    if len(indent) + len(one) <= LINE_LIMIT and "\n" not in one:
        return [one]
    out = [f"{func}("]
    inner = indent + INDENT
    for a in args:
        split = _split_call(a) if len(inner) + len(a) + 1 > LINE_LIMIT else None
        if split is None:
            out.append(f"{INDENT}{a},")
            continue
        sub = _call(split[0], split[1], inner)
        out.extend(INDENT + line for line in sub[:-1])
        out.append(f"{INDENT}{sub[-1]},")
    out.append(")")
    return out


def _split_call(code: str) -> tuple[str, list[str]] | None:
    """``("f", ["a", "b=1"])`` for the call expression ``f(a, b=1)``; None for anything else."""
    try:
        tree = pyast.parse(code, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(tree, pyast.Call) or "\n" in code:
        return None
    func = pyast.get_source_segment(code, tree.func)
    parts = [pyast.get_source_segment(code, a) for a in tree.args]
    for k in tree.keywords:
        value = pyast.get_source_segment(code, k.value)
        parts.append(f"{k.arg}={value}" if k.arg else f"**{value}")
    if func is None or any(p is None for p in parts):
        return None
    return func, [p for p in parts if p is not None]


# pglast's AST classes type every field as optional; the code below checks
# what it relies on, so nodes are handled as Any.

# --------------------------------------------------------------------------
# Pieces: names, types, expressions
# --------------------------------------------------------------------------


def _deparse(node: Any) -> str:
    return str(RawStream()(node))


def _expr(node: Any, src: str) -> str:
    """An expression of the statement ``src`` as text PostgreSQL stores exactly as the raw SQL's."""
    try:
        return expression_text(node, src)
    except NoFaithfulText as e:
        raise _Fallback(f"expression {e} has no text that parses back to it") from None


def _check_expr(c: Any, src: str) -> str:
    """A CHECK's expression, without the parentheses of ``CHECK (...)`` (Alembic writes them)."""
    return unparenthesized(_expr(c.raw_expr, src))


def _schema_kw(schema: str | None) -> list[str]:
    """``schema=`` for a name the SQL qualifies, unless that schema is where unqualified names resolve."""
    kept = op_schema(schema) if schema else None
    return [f"schema={py_str(kept)}"] if kept else []


def _names(nodes: Sequence[Any] | None) -> list[str]:
    return [n.sval for n in nodes or ()]


_SIMPLE_TYPES = {
    "integer": "sa.Integer()",
    "bigint": "sa.BigInteger()",
    "smallint": "sa.SmallInteger()",
    "text": "sa.Text()",
    "boolean": "sa.Boolean()",
    "date": "sa.Date()",
    "real": "sa.REAL()",
    "double precision": "postgresql.DOUBLE_PRECISION()",
    "uuid": "postgresql.UUID()",
    "json": "postgresql.JSON()",
    "jsonb": "postgresql.JSONB()",
    "bytea": "postgresql.BYTEA()",
    "inet": "postgresql.INET()",
    "cidr": "postgresql.CIDR()",
    "interval": "postgresql.INTERVAL()",
    "numeric": "sa.Numeric()",
    "character varying": "sa.String()",
    "timestamp with time zone": "postgresql.TIMESTAMP(timezone=True)",
    "timestamp without time zone": "postgresql.TIMESTAMP()",
    "time without time zone": "postgresql.TIME()",
    "time with time zone": "postgresql.TIME(timezone=True)",
}

_TYPE_MOD_RE = re.compile(r"^(?P<base>[a-z ]+)\((?P<mods>[\d,]+)\)(?P<zone> with(?:out)? time zone)?$")


def sa_type(spec: str, enums_known: frozenset[str] = frozenset()) -> str:
    """SQLAlchemy type expression for a canonical PostgreSQL type, or raise :class:`_Fallback`."""
    if spec.endswith("[]"):
        return f"postgresql.ARRAY({sa_type(spec[:-2], enums_known)})"
    if spec in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[spec]
    m = _TYPE_MOD_RE.match(spec)
    if m:
        base, mods, zone = m.group("base"), m.group("mods").split(","), m.group("zone") or ""
        full = base + zone
        if base == "character varying" and len(mods) == 1:
            return f"sa.String({mods[0]})"
        if base == "character" and len(mods) == 1:
            return f"sa.CHAR({mods[0]})"
        if base == "numeric" and len(mods) in (1, 2):
            return f"sa.Numeric({', '.join(mods)})"
        if full == "timestamp with time zone" and len(mods) == 1:
            return f"postgresql.TIMESTAMP(timezone=True, precision={mods[0]})"
        if full == "timestamp without time zone" and len(mods) == 1:
            return f"postgresql.TIMESTAMP(precision={mods[0]})"
    if spec == "character":
        return "sa.CHAR(1)"
    if spec in enums_known:
        # the type exists already (created by an earlier statement): reference it
        schema, _, name = spec.rpartition(".")
        extra = f", schema={py_str(schema)}" if schema else ""
        return f"postgresql.ENUM(name={py_str(name)}{extra}, create_type=False)"
    raise _Fallback(f"type {spec}")


def _type_spec(tn: Any) -> tuple[str, bool]:
    """(canonical type, is serial) of a column's type name."""
    if tn.setof or tn.pct_type:
        raise _Fallback("%TYPE / SETOF")
    names = _names(tn.names)
    if names and names[-1] in SERIAL_TYPES and len(names) == 1 and not tn.arrayBounds:
        return canonical_type(names[-1]), True
    spec = _deparse(tn)
    return canonical_type(spec), False


def _if_not_exists(flag: bool | None) -> list[str]:
    """``IF NOT EXISTS`` kept: the guard then does what PostgreSQL does with an object of that name
    and another definition (keeps it, with a warning) instead of refusing."""
    return ["if_not_exists=True"] if flag else []


def _text_arg(sql: str) -> str:
    return f"sa.text({py_str(escape_binds(sql))})"


_FK_ACTIONS = {"a": None, "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _fk_kwargs(c: Any) -> list[str]:
    if (_flag(c.fk_matchtype) and c.fk_matchtype != "s") or c.fk_del_set_cols or c.fk_with_period:
        raise _Fallback("foreign key MATCH FULL / SET (...) / PERIOD")
    kw: list[str] = []
    for attr, key in (("fk_del_action", "ondelete"), ("fk_upd_action", "onupdate")):
        action = _FK_ACTIONS.get(getattr(c, attr) or "a", "?")
        if action == "?":
            raise _Fallback("foreign key action")
        if action:
            kw.append(f"{key}={py_str(action)}")
    kw.extend(_deferrable_kwargs(c))
    return kw


def _deferrable_kwargs(c: Any) -> list[str]:
    kw: list[str] = []
    if c.deferrable:
        kw.append("deferrable=True")
    if c.initdeferred:
        kw.append('initially="DEFERRED"')
    return kw


def _check_plain(c: Any) -> None:
    """Features of a constraint the structured ops cannot express."""
    if c.skip_validation:
        raise _Fallback("NOT VALID")
    if c.is_no_inherit or c.including or c.options or c.indexspace or c.indexname:
        raise _Fallback("constraint storage / NO INHERIT / USING INDEX")
    if c.nulls_not_distinct or c.without_overlaps:
        raise _Fallback("NULLS NOT DISTINCT / WITHOUT OVERLAPS")
    if c.contype == enums.ConstrType.CONSTR_CHECK and c.is_enforced is False and c.initially_valid:
        raise _Fallback("NOT ENFORCED")


def _ref_columns(c: Any, where: str) -> tuple[str | None, str, list[str]]:
    pk = c.pktable
    cols = _names(c.pk_attrs)
    if not cols:
        # REFERENCES t without a column list means t's primary key, which only
        # the schema knows: keep the SQL
        raise _Fallback("REFERENCES without a column list")
    return pk.schemaname, pk.relname, cols


def _ref_strings(schema: str | None, table: str, cols: list[str]) -> list[str]:
    prefix = f"{schema}.{table}" if schema else table
    return [py_str(f"{prefix}.{col}") for col in cols]


# --------------------------------------------------------------------------
# CREATE TABLE
# --------------------------------------------------------------------------


@dataclass
class _Col:
    name: str
    type_expr: str
    serial: bool
    nullable: bool = True
    default: str | None = None
    pk: bool = False


def _render_create_table(stmt: Any, enums_known: frozenset[str], src: str) -> RenderedStatement:
    rel = stmt.relation
    if (
        stmt.inhRelations
        or stmt.partbound
        or stmt.partspec
        or stmt.ofTypename
        or stmt.options
        or stmt.tablespacename
        or stmt.accessMethod
        or (stmt.oncommit not in (None, enums.OnCommitAction.ONCOMMIT_NOOP))
        or rel.relpersistence != "p"
    ):
        raise _Fallback("inheritance / partitioning / storage options / temporary table")
    cols: list[_Col] = []
    table_constraints: list[str] = []
    pk_cols: list[str] = []
    pk_name: str | None = None
    for elt in stmt.tableElts or ():
        if isinstance(elt, ast.ColumnDef):
            col, inline = _column(elt, enums_known, src)
            cols.append(col)
            for kind, c in inline:
                if kind == "pk":
                    if pk_cols:
                        raise _Fallback("two primary keys")
                    pk_cols, pk_name = [col.name], c.conname
                else:
                    table_constraints.append(_table_constraint(c, [col.name], src))
        elif isinstance(elt, ast.Constraint):
            if elt.contype == enums.ConstrType.CONSTR_PRIMARY:
                _check_plain(elt)
                if pk_cols:
                    raise _Fallback("two primary keys")
                pk_cols, pk_name = _names(elt.keys), elt.conname
            else:
                table_constraints.append(_table_constraint(elt, None, src))
        else:
            raise _Fallback("LIKE clause")
    for col in cols:
        if col.name in pk_cols:
            col.pk = True
            col.nullable = False
        if col.serial and not (col.pk and len(pk_cols) == 1):
            # SQLAlchemy renders SERIAL only for the single-column primary key
            raise _Fallback("serial column outside a single-column primary key")
    args = [py_str(rel.relname)]
    for col in cols:
        args.append(_column_expr(col, pk_cols))
    if pk_cols:
        pk_args = [py_str(c) for c in pk_cols]
        if pk_name:
            pk_args.append(f"name={py_str(pk_name)}")
        args.insert(1 + len(cols), f"sa.PrimaryKeyConstraint({', '.join(pk_args)})")
    args.extend(table_constraints)
    args.extend(_schema_kw(rel.schemaname))
    args.extend(_if_not_exists(stmt.if_not_exists))
    up = _call("op.create_table", args, INDENT)
    down = _call("op.drop_table", [py_str(rel.relname), *_schema_kw(rel.schemaname)], INDENT)
    return RenderedStatement("create_table", tuple(up), tuple(down))


def _flag(value: str | None) -> bool:
    """pglast gives unset char fields as ``"\\x00"``."""
    return value not in (None, "", "\x00")


def _column(elt: Any, enums_known: frozenset[str], src: str) -> tuple[_Col, list[tuple[str, Any]]]:
    if elt.collClause or _flag(elt.identity) or _flag(elt.generated) or elt.compression or elt.storage_name:
        raise _Fallback("collation / identity / generated / storage of a column")
    spec, serial = _type_spec(elt.typeName)
    type_expr = sa_type(spec, enums_known)
    col = _Col(elt.colname, type_expr, serial)
    inline: list[tuple[str, ast.Constraint]] = []
    for c in elt.constraints or ():
        t = c.contype
        if t == enums.ConstrType.CONSTR_NOTNULL:
            col.nullable = False
        elif t == enums.ConstrType.CONSTR_NULL:
            col.nullable = True
        elif t == enums.ConstrType.CONSTR_DEFAULT:
            col.default = _expr(c.raw_expr, src)
        elif t == enums.ConstrType.CONSTR_PRIMARY:
            _check_plain(c)
            inline.append(("pk", c))
        elif t in (
            enums.ConstrType.CONSTR_UNIQUE,
            enums.ConstrType.CONSTR_FOREIGN,
            enums.ConstrType.CONSTR_CHECK,
        ):
            inline.append(("other", c))
        else:
            raise _Fallback(f"column constraint {t.name}")
    if serial and col.default is not None:
        raise _Fallback("serial with a default")
    return col, inline


_INTEGER_TYPES = ("sa.Integer()", "sa.BigInteger()", "sa.SmallInteger()")


def _column_expr(col: _Col, pk_cols: list[str]) -> str:
    parts = [py_str(col.name), col.type_expr]
    if col.serial:
        parts.append("autoincrement=True")
    elif col.pk and len(pk_cols) == 1 and col.type_expr in _INTEGER_TYPES:
        # a plain integer key must not turn into SERIAL
        parts.append("autoincrement=False")
    if col.default is not None:
        parts.append(f"server_default={_text_arg(col.default)}")
    if not col.nullable:
        parts.append("nullable=False")
    return f"sa.Column({', '.join(parts)})"


def _table_constraint(c: Any, column: list[str] | None, src: str) -> str:
    """``sa.ForeignKeyConstraint(...)`` etc. for a constraint inside CREATE TABLE."""
    _check_plain(c)
    t = c.contype
    name = [f"name={py_str(c.conname)}"] if c.conname else []
    if t == enums.ConstrType.CONSTR_UNIQUE:
        cols = column if column is not None else _names(c.keys)
        return f"sa.UniqueConstraint({', '.join([*map(py_str, cols), *name, *_deferrable_kwargs(c)])})"
    if t == enums.ConstrType.CONSTR_CHECK:
        return f"sa.CheckConstraint({', '.join([py_str(escape_binds(_check_expr(c, src))), *name])})"
    if t == enums.ConstrType.CONSTR_FOREIGN:
        cols = column if column is not None else _names(c.fk_attrs)
        schema, table, refcols = _ref_columns(c, "")
        local = "[" + ", ".join(map(py_str, cols)) + "]"
        remote = "[" + ", ".join(_ref_strings(schema, table, refcols)) + "]"
        return f"sa.ForeignKeyConstraint({', '.join([local, remote, *name, *_fk_kwargs(c)])})"
    raise _Fallback(f"constraint {t.name}")


# --------------------------------------------------------------------------
# ALTER TABLE
# --------------------------------------------------------------------------


def _render_alter_table(stmt: Any, enums_known: frozenset[str], src: str) -> RenderedStatement:
    if stmt.objtype != enums.ObjectType.OBJECT_TABLE or stmt.missing_ok:
        raise _Fallback("ALTER of something else than a table / IF EXISTS")
    rel = stmt.relation
    if not rel.inh:
        raise _Fallback("ALTER TABLE ONLY")
    table, schema = rel.relname, rel.schemaname
    up: list[str] = []
    down: list[list[str]] = []
    irreversible: str | None = None
    ops: list[str] = []
    for cmd in stmt.cmds:
        op, u, d, why = _alter_cmd(cmd, table, schema, enums_known, src)
        ops.append(op)
        up.extend(u)
        if d is None:
            irreversible = irreversible or why
        else:
            down.append(d)
    down_lines: tuple[str, ...] | None = None
    if irreversible is None:
        down_lines = tuple(line for d in reversed(down) for line in d)
    return RenderedStatement("+".join(ops), tuple(up), down_lines, irreversible)


def _alter_cmd(
    cmd: Any, table: str, schema: str | None, enums_known: frozenset[str], src: str
) -> tuple[str, list[str], list[str] | None, str | None]:
    """(op name, upgrade lines, downgrade lines or None, why irreversible)."""
    T = enums.AlterTableType
    t = cmd.subtype
    tbl = [py_str(table)]
    skw = _schema_kw(schema)
    if cmd.behavior == enums.DropBehavior.DROP_CASCADE:
        raise _Fallback("CASCADE")
    if t == T.AT_AddColumn:
        col, inline = _column(cmd.def_, enums_known, src)
        if inline or col.serial:
            # a constraint on the added column: keep ADD COLUMN ... REFERENCES as one statement
            raise _Fallback("ADD COLUMN with constraints / serial")
        up = _call(
            "op.add_column", [*tbl, _column_expr(col, []), *skw, *_if_not_exists(cmd.missing_ok)], INDENT
        )
        down = _call("op.drop_column", [*tbl, py_str(col.name), *skw], INDENT)
        return "add_column", up, down, None
    if t == T.AT_AddConstraint:
        return _add_constraint(cmd.def_, table, schema, src)
    if t in (T.AT_SetNotNull, T.AT_DropNotNull):
        nullable = t == T.AT_DropNotNull
        up = _call("op.alter_column", [*tbl, py_str(cmd.name), f"nullable={nullable}", *skw], INDENT)
        down = _call("op.alter_column", [*tbl, py_str(cmd.name), f"nullable={not nullable}", *skw], INDENT)
        return "alter_column", up, down, None
    if t == T.AT_ColumnDefault:
        value = f"server_default={_text_arg(_expr(cmd.def_, src))}" if cmd.def_ else "server_default=None"
        up = _call("op.alter_column", [*tbl, py_str(cmd.name), value, *skw], INDENT)
        return "alter_column", up, None, "the previous default is not known"
    if t == T.AT_AlterColumnType:
        d = cmd.def_
        if d.collClause:
            raise _Fallback("COLLATE")
        spec, serial = _type_spec(d.typeName)
        if serial:
            raise _Fallback("TYPE serial")
        args = [*tbl, py_str(cmd.name), f"type_={sa_type(spec, enums_known)}"]
        if d.raw_default is not None:
            args.append(f"postgresql_using={py_str(escape_binds(_expr(d.raw_default, src)))}")
        up = _call("op.alter_column", [*args, *skw], INDENT)
        return "alter_column", up, None, "the previous type is not known"
    if t == T.AT_DropColumn:
        if cmd.missing_ok:
            raise _Fallback("DROP COLUMN IF EXISTS")
        up = _call("op.drop_column", [*tbl, py_str(cmd.name), *skw], INDENT)
        return "drop_column", up, None, f"dropped column {cmd.name} and its data"
    if t == T.AT_DropConstraint:
        if cmd.missing_ok:
            raise _Fallback("DROP CONSTRAINT IF EXISTS")
        up = _call("op.drop_constraint", [py_str(cmd.name), *tbl, *skw], INDENT)
        return "drop_constraint", up, None, f"the definition of dropped constraint {cmd.name} is not known"
    raise _Fallback(f"ALTER TABLE {t.name}")


def _add_constraint(
    c: Any, table: str, schema: str | None, src: str
) -> tuple[str, list[str], list[str] | None, str | None]:
    _check_plain(c)
    if not c.conname:
        # the ops need a name; PostgreSQL's own choice is kept by running the SQL
        raise _Fallback("unnamed constraint")
    name, tbl, skw = py_str(c.conname), py_str(table), _schema_kw(schema)
    t = c.contype
    if t == enums.ConstrType.CONSTR_FOREIGN:
        rschema, rtable, refcols = _ref_columns(c, "")
        args = [
            name,
            tbl,
            py_str(rtable),
            "[" + ", ".join(map(py_str, _names(c.fk_attrs))) + "]",
            "[" + ", ".join(map(py_str, refcols)) + "]",
            *(["source_schema=" + py_str(schema)] if schema else []),
            *(["referent_schema=" + py_str(rschema)] if rschema else []),
            *_fk_kwargs(c),
        ]
        op, type_ = "create_foreign_key", "foreignkey"
    elif t == enums.ConstrType.CONSTR_UNIQUE:
        cols = "[" + ", ".join(map(py_str, _names(c.keys))) + "]"
        args = [name, tbl, cols, *skw, *_deferrable_kwargs(c)]
        op, type_ = "create_unique_constraint", "unique"
    elif t == enums.ConstrType.CONSTR_CHECK:
        args = [name, tbl, py_str(escape_binds(_check_expr(c, src))), *skw]
        op, type_ = "create_check_constraint", "check"
    elif t == enums.ConstrType.CONSTR_PRIMARY:
        cols = "[" + ", ".join(map(py_str, _names(c.keys))) + "]"
        args = [name, tbl, cols, *skw]
        op, type_ = "create_primary_key", "primary"
    else:
        raise _Fallback(f"constraint {t.name}")
    up = _call(f"op.{op}", args, INDENT)
    down = _call("op.drop_constraint", [name, tbl, f"type_={py_str(type_)}", *skw], INDENT)
    return op, up, down, None


# --------------------------------------------------------------------------
# CREATE INDEX, DROP
# --------------------------------------------------------------------------


def _render_index(stmt: Any, src: str) -> RenderedStatement:
    if not stmt.idxname:
        raise _Fallback("unnamed index")  # PostgreSQL picks the name; keep the SQL
    if stmt.options or stmt.tableSpace or stmt.nulls_not_distinct or not stmt.relation.inh:
        raise _Fallback("index storage options / NULLS NOT DISTINCT / ONLY")
    rel = stmt.relation
    cols: list[str] = []
    for p in stmt.indexParams:
        if p.opclass or p.collation or p.opclassopts or p.indexcolname:
            raise _Fallback("operator class / collation")
        if p.ordering not in (None, enums.SortByDir.SORTBY_DEFAULT) or p.nulls_ordering not in (
            None,
            enums.SortByNulls.SORTBY_NULLS_DEFAULT,
        ):
            raise _Fallback("ASC / DESC / NULLS")
        # an expression key needs parentheses of its own: sa.text() is emitted as it is
        cols.append(py_str(p.name) if p.name else _text_arg(parenthesized(_expr(p.expr, src))))
    args = [py_str(stmt.idxname), py_str(rel.relname), "[" + ", ".join(cols) + "]"]
    if stmt.unique:
        args.append("unique=True")
    args.extend(_schema_kw(rel.schemaname))
    if stmt.accessMethod and stmt.accessMethod != "btree":
        args.append(f"postgresql_using={py_str(stmt.accessMethod)}")
    if stmt.indexIncludingParams:
        inc = [py_str(p.name) for p in stmt.indexIncludingParams]
        args.append("postgresql_include=[" + ", ".join(inc) + "]")
    if stmt.whereClause is not None:
        args.append(f"postgresql_where={_text_arg(_expr(stmt.whereClause, src))}")
    if stmt.concurrent:
        args.append("postgresql_concurrently=True")
    args.extend(_if_not_exists(stmt.if_not_exists))
    up = _call("op.create_index", args, INDENT)
    down_args = [py_str(stmt.idxname), f"table_name={py_str(rel.relname)}", *_schema_kw(rel.schemaname)]
    if stmt.concurrent:
        down_args.append("postgresql_concurrently=True")
    down = _call("op.drop_index", down_args, INDENT)
    return RenderedStatement("create_index", tuple(up), tuple(down), autocommit=bool(stmt.concurrent))


def _render_drop(stmt: Any) -> RenderedStatement:
    kinds = enums.ObjectType
    if stmt.missing_ok or stmt.behavior == enums.DropBehavior.DROP_CASCADE or len(stmt.objects) != 1:
        raise _Fallback("DROP IF EXISTS / CASCADE / several objects")
    if stmt.removeType not in (kinds.OBJECT_TABLE, kinds.OBJECT_INDEX):
        # functions (ObjectWithArgs), types (TypeName), schemas and extensions (String)
        # name themselves in other node shapes: those statements stay raw SQL
        raise _Fallback("DROP of this kind")
    names = _names(stmt.objects[0])
    schema, name = (names[0], names[1]) if len(names) == 2 else (None, names[-1])
    if stmt.removeType == kinds.OBJECT_TABLE:
        up = _call("op.drop_table", [py_str(name), *_schema_kw(schema)], INDENT)
        return RenderedStatement("drop_table", tuple(up), None, f"dropped table {name} and its data")
    if stmt.removeType == kinds.OBJECT_INDEX:
        # op.drop_index without the table name is fine on PostgreSQL
        args = [py_str(name), *_schema_kw(schema)]
        if stmt.concurrent:
            args.append("postgresql_concurrently=True")
        up = _call("op.drop_index", args, INDENT)
        return RenderedStatement(
            "drop_index",
            tuple(up),
            None,
            f"the definition of dropped index {name} is not known",
            autocommit=bool(stmt.concurrent),
        )
    raise _Fallback("DROP of this kind")


# --------------------------------------------------------------------------
# Raw SQL and its inverse
# --------------------------------------------------------------------------

_NON_TRANSACTIONAL = (ast.VacuumStmt, ast.CreatedbStmt, ast.DropdbStmt, ast.AlterSystemStmt)


def _execute(sql: str, node: Any | None, autocommit: bool) -> RenderedStatement:
    up = ["op.execute(" + sql_block(sql) + ")"]
    down, why = _raw_inverse(node)
    if node is not None and isinstance(node, _NON_TRANSACTIONAL):
        autocommit = True
    if isinstance(node, ast.ReindexStmt) and any(
        getattr(p, "defname", None) == "concurrently" for p in node.params or ()
    ):
        autocommit = True
    return RenderedStatement("execute", tuple(up), down, why, autocommit)


def _qual(schema: str | None, name: str) -> str:
    # a schema the SQL names is kept, public included: the downgrade names what the upgrade named
    return f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)


def _raw_inverse(node: Any | None) -> tuple[tuple[str, ...] | None, str | None]:
    """The inverse of a statement kept as raw SQL, when it is a plain creation."""
    # branch on the node's class name: pglast's stubs make every field optional
    kind = type(node).__name__ if node is not None else "unparsed statement"
    n: Any = node
    drop: str | None = None
    if kind == "ViewStmt":
        drop = f"DROP VIEW {_qual(n.view.schemaname, n.view.relname)}"
    elif kind == "CreateTableAsStmt" and n.objtype == enums.ObjectType.OBJECT_MATVIEW:
        drop = f"DROP MATERIALIZED VIEW {_qual(n.into.rel.schemaname, n.into.rel.relname)}"
    elif kind == "CreateEnumStmt":
        drop = f"DROP TYPE {'.'.join(quote_ident(x) for x in _names(n.typeName))}"
    elif kind == "CreateSeqStmt":
        drop = f"DROP SEQUENCE {_qual(n.sequence.schemaname, n.sequence.relname)}"
    elif kind == "CreateSchemaStmt" and not n.schemaElts:
        drop = f"DROP SCHEMA {quote_ident(n.schemaname)}"
    elif kind == "CreateExtensionStmt":
        drop = f"DROP EXTENSION {quote_ident(n.extname)}"
    elif kind == "CreateTrigStmt" and not n.replace:
        drop = f"DROP TRIGGER {quote_ident(n.trigname)} ON {_qual(n.relation.schemaname, n.relation.relname)}"
    elif kind == "IndexStmt" and n.idxname:
        drop = f"DROP INDEX {_qual(n.relation.schemaname, n.idxname)}"
    elif kind == "CreateStmt":
        drop = f"DROP TABLE {_qual(n.relation.schemaname, n.relation.relname)}"
    if drop is None:
        return None, f"{kind} has no known inverse"
    return (f"op.execute({py_str(drop)})",), None


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def render_statement(sql: str, *, enums_known: frozenset[str] = frozenset()) -> RenderedStatement:
    """The Alembic code for one SQL statement (pure).

    ``enums_known``: canonical names of enum types created earlier in the
    import, which a column may then reference as ``postgresql.ENUM(...,
    create_type=False)``.
    """
    try:
        parsed = pglast.parse_sql(sql)
    except ParseError:
        return _execute(sql, None, False)
    if len(parsed) != 1:
        return _execute(sql, None, False)
    node = parsed[0].stmt
    try:
        if isinstance(node, ast.CreateStmt):
            return _render_create_table(node, enums_known, sql)
        if isinstance(node, ast.AlterTableStmt):
            return _render_alter_table(node, enums_known, sql)
        if isinstance(node, ast.IndexStmt):
            return _render_index(node, sql)
        if isinstance(node, ast.DropStmt):
            return _render_drop(node)
    except _Fallback:
        pass
    autocommit = isinstance(node, ast.IndexStmt) and bool(node.concurrent)
    return _execute(sql, node, autocommit)
