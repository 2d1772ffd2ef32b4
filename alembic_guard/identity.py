"""Object identity: what an object is called, when two definitions are the same, how one reads.

The one place for each of these, used by the guarded operations (through
:mod:`alembic_guard.decide`), drift (:mod:`alembic_guard.diff`), repair and
rollback:

* names by PostgreSQL's rule (:func:`choose_constraint_name`, after
  ``ChooseConstraintName`` / ``ChooseRelationName``: ``makeObjectName``'s
  63-byte shortening, then a digit appended to the label on a clash);
* ``same_*``: two definitions are the same object when every property that
  changes behaviour is equal — an index's table, keys, method, INCLUDE,
  predicate and uniqueness; a foreign key's columns, target and ON DELETE /
  ON UPDATE; a CHECK's expression;
* :func:`normalize_expression`, the one expression normaliser (it keeps
  string literals exactly: ``'Open'`` is not ``'open'``);
* ``describe_*``: the one-line text of a fact for logs, refusals and drift.

Pure: no connection, no filesystem.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import Any

from alembic_guard.model import (
    Column,
    Constraint,
    ConstraintKind,
    Index,
    QName,
    SchemaModel,
    format_qname,
    pg_object_name,
)

# -- expressions ---------------------------------------------------------------------

_STRING = re.compile(r"'(?:[^']|'')*'")
# a cast the catalog adds: ::text, ::character varying(20), ::timestamp with time zone, ::regclass, ::int[]
_CAST = re.compile(
    r"::\s*(?:\"[^\"]+\"|[a-z_][a-z0-9_.]*)(?:\s+(?:varying|precision|with(?:out)?\s+time\s+zone))*"
    r"(?:\s*\([0-9,\s]*\))?(?:\s*\[\])*"
)


def normalize_expression(text: str | None) -> str:
    """Expression text with the spelling differences of source SQL and ``pg_catalog`` removed.

    Outside string literals: lower case, casts (``::text``) dropped,
    parentheses, double quotes and whitespace dropped.  String literals are
    kept exactly (``'Todo'`` and ``'todo'`` are different values).  Loose by
    design — two texts equal after this are taken to mean the same; the
    normalization can hide a difference only in casts or grouping.
    """
    if text is None:
        return ""
    out: list[str] = []
    pos = 0
    for m in _STRING.finditer(text):
        out.append(_squash(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_squash(text[pos:]))
    return "".join(out)


def _squash(part: str) -> str:
    part = _CAST.sub("", part.lower())
    return re.sub(r"[\s()\"]", "", part)


def same_expression(a: str | None, b: str | None) -> bool:
    """Do two expression texts mean the same (as loosely as :func:`normalize_expression`)?

    When the texts differ, their parse trees are compared, casts aside: the
    catalog writes SQL-syntax functions in its own spelling (``trim(x)``
    comes back as ``TRIM(BOTH FROM x)``, ``substring(x from 2)`` as
    ``SUBSTRING(x FROM 2)``), which is the same tree.
    """
    if normalize_expression(a) == normalize_expression(b):
        return True
    if a is None or b is None:
        return False
    ta, tb = _expression_tree(a), _expression_tree(b)
    return ta is not None and ta == tb


@lru_cache(maxsize=4096)
def _expression_tree(text: str) -> Any:
    """The parse tree of an expression, locations and casts removed; ``None`` if it does not parse."""
    import pglast
    from pglast.parser import ParseError

    try:
        parsed = pglast.parse_sql(f"SELECT ({text}\n)")
    except ParseError:
        return None
    targets = getattr(parsed[0].stmt, "targetList", None) if len(parsed) == 1 else None
    if not targets or len(targets) != 1:
        return None
    return _without_casts(targets[0].val(skip_none=True))


def _without_casts(tree: Any) -> Any:
    if isinstance(tree, dict):
        if tree.get("@") == "TypeCast" and "arg" in tree:
            return _without_casts(tree["arg"])
        return repr(sorted((k, _without_casts(v)) for k, v in tree.items() if k != "location"))
    if isinstance(tree, list | tuple):
        return tuple(_without_casts(x) for x in tree)
    return tree


# -- names -----------------------------------------------------------------------------

_LABELS: dict[ConstraintKind, str] = {
    "primary_key": "pkey",
    "foreign_key": "fkey",
    "unique": "key",
    "check": "check",
    "exclude": "excl",
}


def choose_constraint_name(
    model: SchemaModel,
    table: QName,
    kind: ConstraintKind,
    columns: Collection[str] = (),
) -> str:
    """The name PostgreSQL gives an unnamed constraint added to ``table`` now.

    ``columns``: the key columns (foreign key, UNIQUE) or, for a CHECK, the
    columns its expression reads — PostgreSQL names a CHECK after its column
    only when it reads exactly one (``t_n_check``), else ``t_check``.  On a
    clash with a constraint of the schema (or, for index-backed kinds, a
    relation) the label gets a digit: ``t_check1``, ``t_check2``, as
    PostgreSQL's ``ChooseConstraintName`` does.
    """
    cols = list(dict.fromkeys(columns))
    if kind == "primary_key":
        name2 = None
    elif kind == "check":
        name2 = cols[0] if len(cols) == 1 else None
    else:
        name2 = "_".join(cols) or None
    label = _LABELS[kind]
    taken = _names_taken(model, table[0], index_backed=kind in ("primary_key", "unique", "exclude"))
    n = 0
    while True:
        name = pg_object_name(table[1], name2, label if n == 0 else f"{label}{n}")
        if name not in taken:
            return name
        n += 1


def _names_taken(model: SchemaModel, schema: str, *, index_backed: bool) -> set[str]:
    taken = {name for (s, _, name) in model.constraints if s == schema}
    if index_backed:
        # the constraint's index is a relation: its name must be free among them too
        taken.update(n for (s, n) in model.indexes if s == schema)
        taken.update(n for (s, n) in model.tables if s == schema)
        taken.update(n for (s, n) in model.views if s == schema)
        taken.update(n for (s, n) in model.sequences if s == schema)
    return taken


# -- equivalence -----------------------------------------------------------------------


def _action(value: str | None) -> str:
    """ON DELETE / ON UPDATE: ``None`` is PostgreSQL's default, NO ACTION."""
    return (value or "no action").lower().replace("_", " ")


def same_constraint(have: Constraint, want: Constraint, *, expressions: bool = True) -> bool:
    """Same kind and the same definition (names are not compared).

    ``expressions=False`` leaves CHECK / EXCLUDE text uncompared (drift does,
    when one side's text is not ``pg_catalog``'s).
    """
    if have.kind != want.kind:
        return False
    if want.kind == "foreign_key":
        return (
            have.columns == want.columns
            and have.ref_table == want.ref_table
            and have.ref_columns == want.ref_columns
            and _action(have.on_delete) == _action(want.on_delete)
            and _action(have.on_update) == _action(want.on_update)
        )
    if want.kind in ("check", "exclude"):
        return not expressions or same_expression(have.expression, want.expression)
    return have.columns == want.columns


def same_index(have: Index, want: Index, *, expressions: bool = True) -> bool:
    """Same table, keys, method, INCLUDE, uniqueness and predicate (names and validity aside)."""
    if (have.table, have.unique, have.method, have.include) != (
        want.table,
        want.unique,
        want.method,
        want.include,
    ):
        return False
    if len(have.columns) != len(want.columns) or not all(
        same_expression(h, w) for h, w in zip(have.columns, want.columns, strict=True)
    ):
        return False
    if have.predicate is None or want.predicate is None:
        return have.predicate is None and want.predicate is None
    return not expressions or same_expression(have.predicate, want.predicate)


# "schema".rest or schema.rest: a type written with its schema (rest may carry [] or a modifier)
_QUALIFIED_TYPE = re.compile(r'^(?:"((?:[^"]|"")+)"|([a-z_][a-z0-9_$]*))\.(.+)$')


def same_type(have: str, want: str, path: Collection[str] | None = None) -> bool:
    """Are two column types the same, as the model writes one and ``format_type()`` the other?

    The model writes a user type with its schema (``storage.kind``) unless it
    is in ``public``; ``format_type()`` leaves the schema out wherever the
    session's ``search_path`` finds the type (``kind`` under ``search_path =
    storage, public``).  ``path``: that search path (default: the run's, see
    :mod:`alembic_guard.search_path`).
    """
    if have == want:
        return True
    if path is None:
        from alembic_guard.search_path import search_path

        path = search_path()
    h, w = _split_type(have), _split_type(want)
    if (h[0] is None) == (w[0] is None):
        return h == w  # both qualified (quoting aside), or both not: the same text
    # one written with its schema, the other without: the same where the search_path finds it
    schema = h[0] if h[0] is not None else w[0]
    return schema in path and h[1] == w[1]


def _split_type(typ: str) -> tuple[str | None, str]:
    m = _QUALIFIED_TYPE.match(typ)
    if m is None:
        return None, typ
    return (m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2)), m.group(3)


def compatible_column(have: Column, want: Column) -> bool:
    """Same type, identity and generation; nullability the same or stricter in the database.

    A column the migration adds as NULL but finds NOT NULL was tightened by a
    later change (``alter_column(nullable=False)``); re-running the history
    must not refuse it.  The reverse (NULL where NOT NULL is wanted) could
    hide NULLs the application does not expect.  Defaults are not compared:
    they do not change stored rows.  An identity the migration declares must be there (one the database has
    and the migration does not name may be ``serial``'s sequence).
    """
    return (
        same_type(have.type, want.type)
        and (have.nullable == want.nullable or want.nullable)
        and (have.identity or not want.identity)
        and (have.generated is None) == (want.generated is None)
        and same_expression(have.generated, want.generated)
    )


def fold_redundant_keys(constraints: Sequence[Constraint], explicit: Collection[str]) -> list[Constraint]:
    """One index per key, as PostgreSQL's ``CREATE TABLE`` / ``ALTER TABLE`` makes them: a UNIQUE
    with the columns of the primary key (or of an earlier UNIQUE) of the same statement is folded
    into it, which takes its name when only the folded one's was written (``explicit``).  Other
    constraints are kept as they are, in order."""
    keys = [c for c in constraints if c.kind == "primary_key"]
    keys += [c for c in constraints if c.kind == "unique"]
    kept: dict[tuple[tuple[str, ...], bool], Constraint] = {}
    renamed: dict[int, Constraint] = {}
    dropped: set[int] = set()
    for c in keys:
        first = kept.get((c.columns, c.deferrable))
        if first is None:
            kept[(c.columns, c.deferrable)] = c
            continue
        dropped.add(id(c))
        if first.name not in explicit and c.name in explicit:
            better = dataclasses.replace(first, name=c.name)
            renamed[id(first)] = better
            kept[(c.columns, c.deferrable)] = better
    return [renamed.get(id(c), c) for c in constraints if id(c) not in dropped]


def find_same_constraint(model: SchemaModel, want: Constraint) -> Constraint | None:
    """A constraint on ``want``'s table with ``want``'s definition, whatever its name."""
    for have in model.constraints_of(*want.table):
        if same_constraint(have, want):
            return have
    return None


# -- text forms --------------------------------------------------------------------------


def describe_column(c: Column) -> str:
    """``integer NOT NULL DEFAULT 0``: what a column is, for logs, refusals and drift."""
    text = f"{c.type} {'NULL' if c.nullable else 'NOT NULL'}"
    if c.generated is not None:
        return text + f" GENERATED ALWAYS AS ({c.generated}) STORED"
    if c.identity and (c.default is None or not c.default.startswith("nextval(")):
        return text + " GENERATED AS IDENTITY"
    return text + (f" DEFAULT {c.default}" if c.default is not None else "")


def describe_index(ix: Index) -> str:
    text = (
        f"{'UNIQUE ' if ix.unique else ''}{ix.method} on {format_qname(ix.table)} ({', '.join(ix.columns)})"
    )
    if ix.include:
        text += f" INCLUDE ({', '.join(ix.include)})"
    text += f" WHERE {ix.predicate}" if ix.predicate else ""
    return text + ("" if ix.valid else " INVALID")


def describe_constraint(c: Constraint) -> str:
    if c.kind == "foreign_key":
        ref = format_qname(c.ref_table) if c.ref_table else "?"
        text = f"FOREIGN KEY ({', '.join(c.columns)}) REFERENCES {ref} ({', '.join(c.ref_columns)})"
        if _action(c.on_delete) != "no action":
            text += f" ON DELETE {c.on_delete.upper()}"  # type: ignore[union-attr]
        if _action(c.on_update) != "no action":
            text += f" ON UPDATE {c.on_update.upper()}"  # type: ignore[union-attr]
    elif c.kind == "check":
        text = f"CHECK ({c.expression})"
    elif c.kind == "exclude":
        text = f"EXCLUDE {c.expression}"
    else:
        text = f"{c.kind.replace('_', ' ').upper()} ({', '.join(c.columns)})"
    return text + ("" if c.validated else " NOT VALID")


def both(have: str, want: str, source: str = "migration") -> str:
    """The two definitions a refusal shows, one under the other."""
    return f"  in the database:  {have}\n  in the {source}: {' ' * (9 - len(source))}{want}"
