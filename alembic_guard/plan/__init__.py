"""Statement-level dependency planning.  Pure (``plan_directory`` reads files).

``plan(analyzed, start=None)`` orders analysed statements so that every
object is created before it is used, moving as little as possible: a set
without problems keeps its order exactly.  See :mod:`alembic_guard.plan.graph`
for the edges and the tie-breaking, :mod:`alembic_guard.plan.split` for
mutual foreign keys, and ``docs/guard-plan.md`` for the user's view.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence

from alembic_guard import changes as ch
from alembic_guard.model import DEFAULT_SCHEMA, Extension, ObjRef, QName, SchemaModel
from alembic_guard.outside import Outside
from alembic_guard.plan.graph import DATA_KINDS, Graph, Node, build, cycles, shortest_cycle, topological_order
from alembic_guard.plan.split import split_effects, split_foreign_keys
from alembic_guard.plan.types import Plan, PlanStep, Problem
from alembic_guard.sql.parse import gc_paused, parse_source
from alembic_guard.sql.statement import AnalyzedStatement, Statement, bounded, may_create

__all__ = [
    "Plan",
    "PlanStep",
    "Problem",
    "may_create",
    "plan",
    "plan_directory",
    "position_of",
]


def position_of(stmt: Statement, byte_location: int) -> tuple[int, int]:
    """1-based (line, col) of a pglast byte location in ``stmt``'s source file.

    ``-1`` (unknown) gives the statement's own position.  pglast counts UTF-8
    bytes; :meth:`SourceFile.line_col` wants characters.
    """
    if byte_location < 0:
        return stmt.line, stmt.col
    text = stmt.source.text
    if text.isascii():
        char = byte_location
    else:
        char = len(text.encode("utf-8")[:byte_location].decode("utf-8", errors="ignore"))
    return stmt.source.line_col(char)


DEFAULT_VERSION_TABLE = "alembic_version"


ExtensionObjects = Mapping[str, tuple[ObjRef, ...]]
"""Extension name → the objects it provides; schema ``""`` means "the schema it is created in"."""
ExtensionLookup = Callable[[Sequence[tuple[str, str | None]]], ExtensionObjects]
"""Given the (name, version) of the extensions a set creates, what each provides (those it knows)."""


def plan(
    analyzed: Sequence[AnalyzedStatement],
    start: SchemaModel | None = None,
    *,
    version_table: str = DEFAULT_VERSION_TABLE,
    open_relations: frozenset[QName] = frozenset(),
    extensions: ExtensionObjects | None = None,
) -> Plan:
    """Order ``analyzed`` statements; problems explain what cannot be ordered.

    ``start`` is what the database already has (a live snapshot, and the
    objects declared outside the set): its objects satisfy requirements, and
    ``IF NOT EXISTS`` statements are judged against it.  ``open_relations``
    are relations of ``start`` declared by name only: any column, constraint
    or trigger of theirs is taken as present.  ``extensions`` says what each
    extension the set creates provides (asked of PostgreSQL by the caller);
    an extension it does not cover is assumed to provide, in its schema,
    what nothing else does (AG107, a warning).  ``version_table`` is the
    table Alembic will keep its revision in (``version_table`` in env.py): a
    set creating a table of that name is reported (AG105).  Reads nothing but
    its arguments.
    """
    # planning allocates hundreds of thousands of small objects while millions of
    # parse-tree dicts are alive: each automatic full collection would walk them all
    with gc_paused():
        return _plan(analyzed, start, version_table, open_relations, extensions)


def _plan(
    analyzed: Sequence[AnalyzedStatement],
    start: SchemaModel | None,
    version_table: str = DEFAULT_VERSION_TABLE,
    open_relations: frozenset[QName] = frozenset(),
    extensions: ExtensionObjects | None = None,
) -> Plan:
    items = sorted(analyzed, key=lambda a: a.sort_key)
    unknown_ext = _extension_objects(items, extensions)
    nodes = [Node(a.statement, a.effect, a.statement.text, (*a.sort_key, 0)) for a in items]
    files = {id(a.statement.source): a.statement.source for a in items}
    sources = tuple(sorted(files.values(), key=lambda s: (s.order, s.path)))

    split_done: set[int] = set()
    while True:
        g = build(nodes, start, open_relations)
        order, left, _released = topological_order(g)
        comps = cycles(g, left) if left else []
        replacement = _try_split(g, comps, split_done)
        if replacement is None:
            break
        nodes = replacement
    problems = _problems(g, comps, left, start, unknown_ext)
    problems += _version_table_clash(g, version_table)
    problems.sort(key=_problem_order)
    steps = _steps(g, order)
    return Plan(tuple(steps), tuple(problems), sources)


def plan_directory(
    path: str | os.PathLike[str],
    order: str = "auto",
    start: SchemaModel | None = None,
    *,
    version_table: str = DEFAULT_VERSION_TABLE,
    outside: Outside | None = None,
    extension_lookup: ExtensionLookup | None = None,
    search_path: Sequence[str] | None = None,
) -> Plan:
    """Load, parse, analyse and plan a directory of SQL migrations.

    ``search_path``: the one every file starts with (the database's or role's
    ``SET search_path``: unqualified names are created in its first schema);
    ``None``: the declared one of ``outside``, else ``public``.

    ``outside`` (:mod:`alembic_guard.outside`) adds the objects declared outside
    the set to ``start``; ``extension_lookup`` is asked what the extensions the
    set creates provide (see :func:`plan`).  Reads the files (raises
    :class:`~alembic_guard.errors.SourceError` / ``UsageError`` for unreadable
    files and syntax errors), and whatever ``extension_lookup`` reads.
    """
    from alembic_guard.sql.effects import analyze_all
    from alembic_guard.sql.source import load_directory

    open_relations: frozenset[QName] = frozenset()
    if outside:
        merged = start.copy() if start is not None else SchemaModel()
        merged.merge(outside.model)
        start, open_relations = merged, outside.open_relations
    sources = load_directory(path, order=order)
    with gc_paused():  # parse trees and effects create no cycles either
        statements = [s for src in sources for s in parse_source(src)]
        if search_path is None and outside is not None:
            search_path = outside.search_path
        analyzed = analyze_all(statements, start, search_path=search_path or (DEFAULT_SCHEMA,))
        wanted = _extensions_created(analyzed)
        extensions = extension_lookup(wanted) if wanted and extension_lookup is not None else None
        result = _plan(analyzed, start, version_table, open_relations, extensions)
    if len(result.source_files) != len(sources):  # files without statements still count
        return Plan(result.steps, result.problems, tuple(sources))
    return result


# --------------------------------------------------------------------------
# extensions
# --------------------------------------------------------------------------

UnknownExtension = tuple[tuple[int, int], str, str, Statement]
"""(statement's place, extension name, its schema, the CREATE EXTENSION statement)."""


def _created_extension(a: AnalyzedStatement) -> Extension | None:
    if a.statement.kind != "CreateExtensionStmt":
        return None
    return next((c.extension for c in a.effect.changes if type(c) is ch.PutExtension), None)


def _extensions_created(analyzed: Sequence[AnalyzedStatement]) -> list[tuple[str, str | None]]:
    """(name, version) of each extension the statements create, in order, once each."""
    out: list[tuple[str, str | None]] = []
    for a in analyzed:
        ext = _created_extension(a)
        if ext is not None and (ext.name, ext.version) not in out:
            out.append((ext.name, ext.version))
    return out


def _extension_objects(
    items: list[AnalyzedStatement], known: ExtensionObjects | None
) -> list[UnknownExtension]:
    """Give each CREATE EXTENSION the objects the extension provides (in the schema it is created
    in); return the extensions whose objects are not known.  Replaces entries of ``items``."""
    unknown: list[UnknownExtension] = []
    for i, a in enumerate(items):
        ext = _created_extension(a)
        if ext is None:
            continue
        objects = known.get(ext.name) if known is not None else None
        if objects is None:
            unknown.append((a.sort_key, ext.name, ext.schema, a.statement))
            continue
        placed = tuple(ObjRef(r.kind, r.schema or ext.schema, r.name, r.parent) for r in objects)
        items[i] = AnalyzedStatement(
            a.statement, dataclasses.replace(a.effect, ensures=a.effect.ensures + placed)
        )
    return unknown


# --------------------------------------------------------------------------
# mutual foreign keys
# --------------------------------------------------------------------------


def _try_split(g: Graph, comps: list[list[int]], done: set[int]) -> list[Node] | None:
    """Nodes with one CREATE TABLE's cycle-closing foreign keys split out, or None.

    The CREATE TABLE chosen is the earliest one whose foreign key points
    *forward* (to a table created later in the original order): splitting
    that key lets every statement keep its place, and the ALTER TABLE runs as
    soon as the referenced table exists.
    """
    for comp in comps:
        members = set(comp)
        targets: dict[int, set[ObjRef]] = {}
        for u in comp:
            for v in g.succ[u]:
                if v not in members or v in done:
                    continue
                kind, obj = g.reason(u, v)
                if kind != "requires" or obj is None or g.nodes[v].statement.kind != "CreateStmt":
                    continue
                rel = obj if obj.kind == "relation" else ObjRef.relation(obj.schema, obj.parent or "")
                if obj.kind not in ("relation", "column"):
                    continue
                targets.setdefault(v, set()).add(rel)
        # forward keys first (u > v), earliest CREATE first
        ranked = sorted(targets, key=lambda v: (not any(u > v for u in comp if (u, v) in g.reasons), v))
        for v in ranked:
            node = g.nodes[v]
            result = split_foreign_keys(node.sql, targets[v])
            if result is None:
                continue
            table = next((r for r in node.effect.provides if r.kind == "relation"), None)
            if table is None:
                continue
            create_eff, key_effs = split_effects(node.effect, table, result.keys)
            names = ", ".join(k.name for k in result.keys)
            others = ", ".join(sorted(str(k.ref_table) for k in result.keys))
            new_nodes = list(g.nodes)
            new_nodes[v] = Node(
                node.statement,
                create_eff,
                result.create_sql,
                node.rank,
                note=f"foreign key {names} split out into a later ALTER TABLE: {table} and {others} "
                "reference each other",
            )
            for j, (key, eff) in enumerate(zip(result.keys, key_effs, strict=True)):
                new_nodes.append(
                    Node(
                        node.statement,
                        eff,
                        key.sql,
                        (node.rank[0], node.rank[1], 1 + j),
                        note=f"foreign key {key.name} of {table} split out of the CREATE TABLE at "
                        f"{node.statement.where}",
                        split=True,
                    )
                )
            new_nodes.sort(key=lambda n: n.rank)
            done.update(i for i, n in enumerate(new_nodes) if n.statement is node.statement)
            return new_nodes
    return None


# --------------------------------------------------------------------------
# steps and problems
# --------------------------------------------------------------------------


def _steps(g: Graph, order: list[int]) -> list[PlanStep]:
    steps: list[PlanStep] = []
    highest = -1
    preds: dict[int, list[int]] | None = None
    for i in order:
        node = g.nodes[i]
        moved = highest > i
        highest = max(highest, i)
        note = node.note
        if moved and not node.split:
            why = _why_moved(g, i, preds)
            if why is None:
                preds = preds or _predecessors(g)
                why = _why_moved(g, i, preds)
            note = f"{note}; {why}" if note else why
        if i in g.skipped_ensures:
            cols = ", ".join(str(r) for r in g.skipped_ensures[i])
            extra = (
                f"the table exists in the database: this statement does nothing, so {cols} will not be added"
            )
            note = f"{note}; {extra}" if note else extra
        steps.append(PlanStep(node.statement, node.effect, node.sql, note, moved or node.split, node.split))
    return steps


def _predecessors(g: Graph) -> dict[int, list[int]]:
    preds: dict[int, list[int]] = {}
    for u, v in g.reasons:
        preds.setdefault(v, []).append(u)
    return preds


def _why_moved(g: Graph, i: int, preds: dict[int, list[int]] | None) -> str | None:
    """Why node ``i`` runs after a statement that came later; None if ``preds`` is needed."""
    if g.forward[i]:
        parts = [f"{obj} from {g.nodes[p].statement.where}" for p, obj in sorted(g.forward[i].items())]
        return "moved: needs " + ", ".join(parts)
    if preds is None:
        return None
    latest = max(preds.get(i, [i]))
    if latest == i:
        return "moved: follows the statements it depends on"
    kind, obj = g.reason(latest, i)
    what = f" ({kind} {obj})" if obj is not None else f" ({kind})"
    return f"moved: keeps its order after {g.nodes[latest].statement.where}{what}"


def _describe_edge(g: Graph, u: int, v: int) -> str:
    kind, obj = g.reason(u, v)
    a, b = g.nodes[u].statement, g.nodes[v].statement
    if kind == "requires":
        return f"{b.where} needs {obj} from {a.where}"
    if kind == "drop":
        return f"{b.where} drops {obj}, which {a.where} uses before it"
    if kind == "rows":
        return f"{b.where} changes rows of {obj} after {a.where}"
    if kind == "barrier":
        return f"{b.where} keeps its place after the unanalysed statement {a.where}"
    if kind == "file":
        return f"{b.where} keeps its place after {a.where} in its file"
    return f"{b.where} keeps its order after {a.where} (both touch {obj})"


# what an extension nearly always brings: functions and types (a table of the same schema is far
# more often a previous tool's bookkeeping, or a typo, than an extension's)
_EXTENSION_KINDS = frozenset({"function", "type"})


def _problems(
    g: Graph,
    comps: list[list[int]],
    left: list[int],
    start: SchemaModel | None,
    unknown_ext: Sequence[UnknownExtension] = (),
) -> list[Problem]:
    found: list[tuple[tuple[int, int, int], Problem]] = []
    for comp in comps:
        path = shortest_cycle(g, comp)
        hops = [_describe_edge(g, u, path[(k + 1) % len(path)]) for k, u in enumerate(path)]
        links = tuple(
            sorted({obj for k, u in enumerate(path) if (obj := g.reason(u, path[(k + 1) % len(path)])[1])})
        )
        stmts = tuple(g.nodes[i].statement for i in comp)
        waiting = len(left) - sum(len(c) for c in comps)
        listing = "\n".join(f"    {s.where}: {s.excerpt(60)}" for s in stmts)
        message = (
            f"{len(stmts)} statements depend on each other in a cycle: " + "; ".join(hops) + f"\n{listing}"
        )
        if waiting > 0:
            message += f"\n    ({waiting} more statements wait on a cycle)"
        found.append(
            (
                g.nodes[comp[0]].rank,
                Problem(
                    "AG101",
                    message,
                    stmts,
                    hint="break the cycle: create the objects in an order where each statement uses only "
                    "earlier ones (views: create one without the reference, then CREATE OR REPLACE it)",
                    where=stmts[0].where,
                    links=links,
                ),
            )
        )
    dynamic = [(i, n.effect.dynamic) for i, n in enumerate(g.nodes) if n.effect.dynamic]
    dynamic_shown: set[tuple[int, str, str]] = set()
    for u in g.unresolved:
        node = g.nodes[u.node]
        stmt = node.statement
        line, col = position_of(stmt, u.requirement.location)
        ref = u.requirement.ref
        where = f"{stmt.file}:{line}:{col}"
        maker = None
        if u.dropped_by is None and u.skipped_by is None:
            # the statement whose names say so most precisely: a pattern naming part of the
            # name beats "anything" (an opaque EXECUTE), and the nearest one before wins
            makers = [j for j, pats in dynamic if j < u.node and may_create(pats, ref)]
            precise = [
                j for j in makers if may_create([p for p in g.nodes[j].effect.dynamic if bounded(p)], ref)
            ]
            candidates = precise or makers
            maker = candidates[-1] if candidates else None
        ext = None
        if maker is None and u.dropped_by is None and u.skipped_by is None and ref.kind in _EXTENSION_KINDS:
            ext = next((e for e in unknown_ext if e[0] < node.rank[:2] and e[2] == ref.schema), None)
        if ext is not None:
            found.append(
                (
                    node.rank,
                    Problem(
                        "AG107",
                        f"{ref} is created by no statement; taken to come with extension {ext[1]} "
                        f"(created at {ext[3].where}), whose objects are not known without a database "
                        f"(in: {stmt.excerpt(60)})",
                        (ext[3], stmt),
                        missing=ref,
                        hint="plan with --database URL: a scratch database on that server tells what the "
                        "extension provides; or declare the object in outside_objects",
                        where=where,
                        links=(ref,),
                    ),
                )
            )
            continue
        if maker is not None:
            shown = (u.node, ref.schema, ref.parent if ref.parent is not None else ref.name)
            if shown in dynamic_shown:
                continue  # the columns of a relation already reported add nothing
            dynamic_shown.add(shown)
            dyn = g.nodes[maker].statement
            found.append(
                (
                    node.rank,
                    Problem(
                        "AG106",
                        f"{ref} is created by no statement, but the dynamic SQL at {dyn.where} may create "
                        f"it (in: {stmt.excerpt(60)})",
                        (dyn, stmt),
                        missing=ref,
                        hint="check that it does: what dynamic SQL creates is known only when it runs; "
                        "the plan keeps both statements in their order",
                        where=where,
                        links=(ref,),
                    ),
                )
            )
            continue
        if u.dropped_by is not None:
            message = (
                f"{ref} was dropped at {g.nodes[u.dropped_by].statement.where} and nothing creates it again"
            )
            hint = "move the statement before the DROP, or re-create the object before using it"
        elif u.skipped_by is not None:
            ens = g.nodes[u.skipped_by].statement
            message = (
                f"{ref} does not exist: the table is already in the database without it, so the "
                f"CREATE TABLE IF NOT EXISTS at {ens.where} will not add it"
            )
            hint = f"add it explicitly: ALTER TABLE {ref.parent} ADD COLUMN IF NOT EXISTS {ref.name} ..."
        else:
            db = " and the database does not have it" if start is not None else ""
            message = f"{ref} is used here but no statement creates it{db}"
            hint = (
                "create it in an earlier migration or fix the name; if it comes from outside the set "
                "(a platform, a previous tool), declare it: --outside-sql FILE, outside_objects in "
                "[tool.alembic_guard]" + ("" if start is not None else ", or plan with --database URL")
            )
        found.append(
            (
                node.rank,
                Problem(
                    "AG102",
                    f"{message} (in: {stmt.excerpt(60)})",
                    (stmt,),
                    missing=ref,
                    hint=hint,
                    where=where,
                    links=(ref,),
                ),
            )
        )
    for i, ref in g.exists_in_start:
        stmt = g.nodes[i].statement
        found.append(
            (
                g.nodes[i].rank,
                Problem(
                    "AG104",
                    f"{ref} already exists in the database; this CREATE would fail",
                    (stmt,),
                    missing=None,
                    hint="use CREATE ... IF NOT EXISTS, or drop the statement if the object is already right",
                    where=stmt.where,
                    links=(ref,),
                ),
            )
        )
    for node in g.nodes:
        if node.effect.opaque is not None and not node.split:
            stmt = node.statement
            found.append(
                (
                    node.rank,
                    Problem(
                        "AG103",
                        f"not fully understood ({node.effect.opaque}); it keeps its place relative to the "
                        "statements touching what it mentions (or all statements)",
                        (stmt,),
                        hint="check this statement by hand; a plan cannot move statements across it",
                        where=stmt.where,
                    ),
                )
            )
    found.sort(key=lambda t: (t[1].severity != "error", t[0], t[1].code))
    return [p for _, p in found]


def _problem_order(p: Problem) -> tuple[bool, tuple[int, int], str]:
    first = p.statements[0].sort_key if p.statements else (-1, -1)
    return (p.severity != "error", first, p.code)


def _version_table_clash(g: Graph, version_table: str) -> list[Problem]:
    """AG105: the set creates (and maybe fills) a table named like Alembic's version table.

    Alembic would take that table for its own: its rows read as revision ids
    (``stamp`` / ``upgrade`` fail, ``guard-adopt`` says "already stamped").
    Matched by name in any schema: where Alembic looks depends on env.py.
    """
    creators: list[Statement] = []
    links: list[ObjRef] = []
    for n in g.nodes:
        made = [r for r in n.effect.provides if r.kind == "relation" and r.name == version_table]
        if made and not n.split:
            creators.append(n.statement)
            links.extend(r for r in made if r not in links)
    if not creators:
        return []
    fills = [
        n.statement
        for n in g.nodes
        if n.statement.kind in DATA_KINDS
        and any(q.ref.kind == "relation" and q.ref.name == version_table for q in n.effect.requires)
    ]
    first = creators[0]
    filled = f" and fills it at {fills[0].where}" if fills else ""
    return [
        Problem(
            "AG105",
            f"this set creates a table named {version_table}{filled}: that is the table Alembic keeps "
            "its revision in, so after import Alembic would read these rows as revision ids and "
            f"stamp, upgrade and guard-adopt would fail (in: {first.excerpt(60)})",
            (*creators, *fills),
            hint=f"rename the table in the SQL (e.g. legacy_{version_table}, in every statement that uses "
            "it), or keep it and give Alembic another version table: "
            'context.configure(..., version_table="alembic_version_app") in env.py, then plan and import '
            "with --version-table alembic_version_app",
            where=first.where,
            links=tuple(links),
        )
    ]
