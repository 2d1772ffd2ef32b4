"""Objects from outside the migration set: what users declare once so planning can rely on it.

A hosting platform's schemas, tables, functions and roles (``auth.users``,
``auth.uid()``, ``authenticated``), a previous tool's bookkeeping table: the
set uses them, no statement of it creates them.  Users say so in one of three
ways, all merged into the model planning starts from:

- ``[tool.alembic_guard]`` in ``pyproject.toml``: ``outside_objects = {tables =
  ["auth.users"], functions = ["auth.uid"], roles = ["authenticated"], schemas =
  ["auth"]}`` (kinds: ``schemas``, ``tables``, ``views``, ``functions``,
  ``types``, ``sequences``, ``extensions``, ``roles``) and/or ``outside_sql =
  "path/to/stub.sql"`` (relative to the ``pyproject.toml``);
- ``--outside-sql FILE`` on ``guard-plan`` / ``guard-import``: a stub SQL file
  creating the outside objects, analysed like the set itself;
- ``--database URL``: plan against a database that has them.

A table declared by name only has unknown columns: any column, constraint or
trigger of it is taken as present.  Roles are accepted and recorded; the
analysis never requires a role, so they change nothing today.

Reads files (the stub SQL, ``pyproject.toml``); everything else is pure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic_guard.errors import UsageError
from alembic_guard.model import (
    DEFAULT_SCHEMA,
    EnumType,
    Extension,
    Function,
    QName,
    SchemaModel,
    Table,
)
from alembic_guard.model import Sequence as SequenceFact

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KINDS = ("schemas", "tables", "views", "functions", "types", "sequences", "extensions", "roles")


@dataclass(slots=True)
class Outside:
    """What planning may take as present though no statement creates it.

    ``model`` holds the objects; ``open_relations`` the tables and views
    declared by name only, whose columns, constraints and triggers are all
    taken as present; ``sources`` says where the declarations came from.
    """

    model: SchemaModel = field(default_factory=SchemaModel)
    open_relations: frozenset[QName] = frozenset()
    roles: frozenset[str] = frozenset()
    sources: tuple[str, ...] = ()
    # the search_path the set's files run under, as declared (None: not declared)
    search_path: tuple[str, ...] | None = None

    def __bool__(self) -> bool:
        return bool(self.sources)

    def declare_search_path(self, path: tuple[str, ...], where: str) -> None:
        """The files run under ``path``: its schemas exist (PostgreSQL creates in none that does not)."""
        self.search_path = path
        self.model.schemas.update(path)
        self.sources += (where,)

    def add(self, other: Outside) -> None:
        """Merge ``other`` in; its ``search_path``, when it declares one, is the one that counts."""
        self.model.merge(other.model)
        self.open_relations |= other.open_relations
        self.roles |= other.roles
        self.sources += other.sources
        if other.search_path is not None:
            self.search_path = other.search_path


def _qname(text: str) -> QName:
    from alembic_guard.sql.effects_common import split_qualified

    parts = split_qualified(text)
    return (parts[-2], parts[-1]) if len(parts) >= 2 else (DEFAULT_SCHEMA, parts[0])


def declared(decl: Mapping[str, Any], where: str) -> Outside:
    """The objects of an ``outside_objects`` table (pure).  Bad input raises :class:`UsageError`."""
    if not isinstance(decl, Mapping):
        raise UsageError(
            f"{where}: outside_objects must be a table of kinds to names",
            hint='e.g. outside_objects = {tables = ["auth.users"], schemas = ["auth"]}',
        )
    out = Outside(sources=(where,))
    m = out.model
    opened: set[QName] = set()
    roles: set[str] = set()
    for kind, names in decl.items():
        if kind not in KINDS:
            raise UsageError(f"{where}: unknown kind {kind!r}", hint=f"kinds: {', '.join(KINDS)}")
        if (
            isinstance(names, str)
            or not isinstance(names, Sequence)
            or not all(isinstance(n, str) for n in names)
        ):
            raise UsageError(
                f"{where}: {kind} must be a list of names",
                hint=f'e.g. {kind} = ["name", "schema.name"]',
            )
        for name in names:
            if kind == "schemas":
                m.schemas.add(name)
                continue
            if kind == "roles":
                roles.add(name)
                continue
            if kind == "extensions":
                m.extensions[name] = Extension(name)
                continue
            q = _qname(name)
            if q[0] != DEFAULT_SCHEMA:
                m.schemas.add(q[0])
            if kind in ("tables", "views"):
                m.tables[q] = Table(q[0], q[1], ())
                opened.add(q)
            elif kind == "functions":
                m.functions[q] = Function(q[0], q[1])
            elif kind == "types":
                m.enums[q] = EnumType(q[0], q[1], ())
            elif kind == "sequences":
                m.sequences[q] = SequenceFact(q[0], q[1])
    out.open_relations = frozenset(opened)
    out.roles = frozenset(roles)
    return out


def from_sql(path: str | os.PathLike[str]) -> Outside:
    """The objects a stub SQL file creates (reads the file; errors name it, line and column)."""
    from alembic_guard.changes import replay
    from alembic_guard.sql.effects import analyze_all
    from alembic_guard.sql.parse import parse_text

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{p}: cannot read the outside-objects SQL: {exc}", hint="give a readable UTF-8 .sql file"
        )
    statements = parse_text(text, str(p))  # a syntax error names the file, line, column
    declared_path = database_search_path(st.node for st in statements)
    analyzed = analyze_all(statements, search_path=declared_path or (DEFAULT_SCHEMA,))
    out = Outside(model=replay(analyzed), sources=(str(p),))
    if declared_path is not None:
        out.declare_search_path(declared_path, f"{p}: ALTER ... SET search_path")
    return out


def database_search_path(nodes: Iterable[Mapping[str, Any]]) -> tuple[str, ...] | None:
    """The ``search_path`` statements give a database or role (``ALTER DATABASE d SET search_path =
    storage, public``, ``ALTER ROLE r [IN DATABASE d] SET ...``), the last one counting; ``None``:
    none, or a ``RESET``.  A plain ``SET search_path`` lasts one session: it declares nothing.  Pure."""
    from alembic_guard.search_path import split_search_path
    from alembic_guard.sql.effects_common import const_str

    found: tuple[str, ...] | None = None
    for node in nodes:
        alter = node.get("AlterDatabaseSetStmt") or node.get("AlterRoleSetStmt")
        setstmt = (alter or {}).get("setstmt") or {}
        if setstmt.get("name") != "search_path":
            continue
        if setstmt.get("kind") != "VAR_SET_VALUE":
            found = None
            continue
        schemas: list[str] = []
        for arg in setstmt.get("args") or ():
            value = const_str(arg)
            schemas.extend(split_search_path(value) if value is not None else ())
        found = tuple(s for s in schemas if s not in ("$user", "pg_catalog")) or None
    return found


def from_pyproject(path: str | os.PathLike[str]) -> Outside:
    """``outside_objects`` / ``outside_sql`` of ``[tool.alembic_guard]`` (nothing when absent)."""
    p = Path(path)
    if not p.is_file():
        return Outside()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{p}: not valid TOML: {exc}", hint="fix the file's syntax")
    except OSError:
        return Outside()
    section = data.get("tool", {}).get("alembic_guard", {})
    out = Outside()
    if not isinstance(section, dict):
        return out
    if "outside_objects" in section:
        out.add(declared(section["outside_objects"], f"{p} [tool.alembic_guard] outside_objects"))
    if "search_path" in section:
        from alembic_guard.runtime.config import parse_search_path_setting

        where = f"{p} [tool.alembic_guard]"
        declared_path = parse_search_path_setting(section["search_path"], where=where)
    else:
        declared_path = None
    stub = section.get("outside_sql")
    if stub is not None:
        stubs = [stub] if isinstance(stub, str) else stub
        if not isinstance(stubs, list) or not all(isinstance(s, str) for s in stubs):
            raise UsageError(
                f"{p} [tool.alembic_guard]: outside_sql must be a path (or a list of paths)",
                hint='e.g. outside_sql = "db/outside.sql"',
            )
        for s in stubs:
            out.add(from_sql(p.parent / s))
    if declared_path is not None:  # said in so many words: it wins over what the stubs imply
        out.declare_search_path(declared_path, f"{p} [tool.alembic_guard] search_path")
    return out


def load(*, pyproject: str | os.PathLike[str] | None = None, outside_sql: Sequence[str] = ()) -> Outside:
    """Every declaration: ``pyproject.toml`` (default: the working directory's), then the files
    given with ``--outside-sql``."""
    out = from_pyproject(pyproject if pyproject is not None else Path.cwd() / "pyproject.toml")
    for path in outside_sql:
        out.add(from_sql(path))
    return out
