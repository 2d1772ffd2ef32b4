"""The statement-level dependency graph and its stable topological order.  Pure.

Nodes are statements in original order (file order, then position), so a
node's index *is* its original rank and comparing indexes compares places.

Edges (provider → consumer), each with the object that justifies it:

- **requires**: a statement needs an object.  The provider is the statement
  that last created/ensured it earlier in original order (if it was not
  dropped since); failing that ``start`` (the database) when it has it;
  failing that the *earliest later* provider — a forward reference, which is
  what moves statements.  Several providers of one object (``CREATE TABLE IF
  NOT EXISTS`` ensuring a column that a later ``ADD COLUMN IF NOT EXISTS``
  ensures again) are therefore resolved deterministically: the nearest
  earlier one, else the earliest later one.
- **order**: statements touching the same object keep their original order
  when at least one of them changes it (create, drop, alter, rename), so a
  DROP never runs before an earlier reader and two ALTERs of a column never
  swap.  Changes to a column, constraint or trigger also count as a *weak*
  change of its table: ordered against other changes of the table, not
  against mere readers (an index on one column need not wait for a later
  ``ADD CONSTRAINT``).
- **rows**: data statements (INSERT/UPDATE/DELETE/COPY/MERGE/TRUNCATE) keep
  their order with each other and with every schema change of their table.
- **barrier**: an opaque statement (not understood) keeps its place against
  everything touching the relations it mentions, or against every statement
  when it mentions none.  A statement with no effect at all (``SET``,
  ``BEGIN``, ``COMMIT``) keeps its place inside its own file.

Forward references must not turn into false cycles: order / rows / file
edges *from* a statement that has a forward requirement are soft.  The one
to the statement providing it is not added at all (the requirement edge
points the other way); the others are kept while the order allows and
released, earliest statement first, only when nothing else can run (see
:func:`topological_order`).  "drop", "requires" and "barrier" edges are
always hard.

Kahn's algorithm with a heap keyed by original rank: among ready statements
the original order wins, so a set without forward references keeps its
order exactly.  O((V + E) log V); edges are O(total references).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from alembic_guard.model import ObjRef, QName, SchemaModel
from alembic_guard.sql.statement import Effect, Requirement, Statement

DATA_KINDS = frozenset({"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "CopyStmt", "TruncateStmt"})

SOFT_KINDS = frozenset({"order", "rows", "file"})

EdgeReason = tuple[str, ObjRef | None]
"""(kind, object): kind is requires / order / drop / rows / barrier / file."""


@dataclass(slots=True, eq=False)
class Node:
    """One statement to order (or a synthesized split-out foreign key)."""

    statement: Statement
    effect: Effect
    sql: str
    rank: tuple[int, int, int]  # (file order, index in file, 0 | 1 for a split-out step)
    note: str | None = None
    split: bool = False


@dataclass(slots=True)
class Unresolved:
    """A requirement nothing provides (AG102)."""

    node: int
    requirement: Requirement
    dropped_by: int | None = None  # a statement that dropped it earlier
    skipped_by: int | None = None  # an IF NOT EXISTS that will not create it (table exists)


@dataclass(slots=True)
class Graph:
    nodes: list[Node]
    succ: list[list[int]]
    indegree: list[int]
    reasons: dict[tuple[int, int], tuple[str, int]]  # (u, v) → (kind, object id or -1)
    forward: list[dict[int, ObjRef]]  # node → {later provider → object it provides}
    soft_succ: list[list[int]]
    soft_indegree: list[int]
    soft: dict[tuple[int, int], tuple[str, int]] = field(default_factory=dict)
    objs: list[ObjRef] = field(default_factory=list)  # object ids → objects
    unresolved: list[Unresolved] = field(default_factory=list)
    exists_in_start: list[tuple[int, ObjRef]] = field(default_factory=list)  # AG104
    skipped_ensures: dict[int, tuple[ObjRef, ...]] = field(default_factory=dict)

    def reason(self, u: int, v: int) -> EdgeReason:
        """Why ``v`` follows ``u``: (kind, object or None)."""
        kind, obj = self.reasons.get((u, v)) or self.soft[(u, v)]
        return kind, (self.objs[obj] if obj >= 0 else None)


def effective_provides(
    effect: Effect, start: SchemaModel | None
) -> tuple[tuple[ObjRef, ...], tuple[ObjRef, ...]]:
    """(objects the statement really provides, ensures that will not happen).

    Judged against ``start`` the way PostgreSQL runs raw SQL: ``CREATE TABLE
    IF NOT EXISTS t (...)`` on a database that has ``t`` does nothing, so the
    columns and constraints it lists are provided only if ``t`` has them.
    Only tables: ``CREATE OR REPLACE VIEW`` replaces an existing view.
    """
    if start is None or not effect.ensures:
        return effect.provides, ()
    existing = {
        (r.schema, r.name)
        for r in effect.ensures
        if r.kind == "relation" and (r.schema, r.name) in start.tables
    }
    if not existing:
        return effect.provides, ()
    kept: list[ObjRef] = list(effect.creates)
    skipped: list[ObjRef] = []
    for r in effect.ensures:
        if r.parent is not None and (r.schema, r.parent) in existing and not start.has(r):
            skipped.append(r)
        else:
            kept.append(r)
    return tuple(kept), tuple(skipped)


def build(
    nodes: list[Node], start: SchemaModel | None = None, open_relations: frozenset[QName] = frozenset()
) -> Graph:
    """Every edge of the plan graph; ``nodes`` must be sorted by ``rank``.

    Objects are interned to integers first: hashing an ``ObjRef`` runs Python
    code, an int does not, and this loop sees every reference several times.
    The interning table itself is keyed by field tuples, which hash and
    compare in C (equal statements hold equal but distinct ``ObjRef`` values).
    """
    n = len(nodes)
    succ: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    reasons: dict[tuple[int, int], tuple[str, int]] = {}
    forward: list[dict[int, ObjRef]] = [{} for _ in range(n)]
    soft_succ: list[list[int]] = [[] for _ in range(n)]
    soft_in = [0] * n
    g = Graph(nodes, succ, indegree, reasons, forward, soft_succ, soft_in)
    fmax = [-1] * n  # latest forward provider of each node

    ids: dict[tuple[str, str, str, str | None], int] = {}
    objs = g.objs
    table_of: list[int] = []  # id of the owning relation (sub-objects), the id itself (relations), else -1

    def intern(r: ObjRef) -> int:
        key = (r.kind, r.schema, r.name, r.parent)
        k = ids.get(key)
        if k is None:
            if r.parent is not None:
                t = intern(ObjRef("relation", r.schema, r.parent))
            else:
                t = -2 if r.kind == "relation" else -1
            k = ids[key] = len(objs)
            objs.append(r)
            table_of.append(k if t == -2 else t)
        return k

    soft = g.soft

    def soft_edge(u: int, v: int, kind: str, obj: int) -> None:
        """An edge kept while the order allows, released when nothing else can run."""
        if u == v or (u, v) in reasons or (u, v) in soft:
            return
        soft[(u, v)] = (kind, obj)
        soft_succ[u].append(v)
        soft_in[v] += 1

    # statements with a conditional DROP: their order edges are never softened, so no
    # statement touching what they may drop crosses them in either direction
    pinned = {i for i, node in enumerate(nodes) if node.effect.maybe_drops}

    def edge(u: int, v: int, kind: str, obj: int) -> None:
        if u == v or (u, v) in reasons:
            return
        if fmax[u] >= 0 and kind in SOFT_KINDS and u not in pinned:
            if v in forward[u] or (u, v) in soft:
                return  # v provides what u needs: the requirement edge points the other way
            # u moves after a later provider; v keeps its order with u only where
            # nothing forces otherwise (see topological_order).  A hard edge here
            # would turn "v must precede u's provider" (even transitively) into a
            # false cycle.
            soft[(u, v)] = (kind, obj)
            soft_succ[u].append(v)
            soft_in[v] += 1
            return
        reasons[(u, v)] = (kind, obj)
        succ[u].append(v)
        indegree[v] += 1

    # providers of each object, in original order (for forward references)
    provides: list[list[int]] = []
    providers: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        kept, skipped = effective_provides(node.effect, start)
        if skipped:
            g.skipped_ensures[i] = skipped
        keys = [intern(r) for r in kept]
        provides.append(keys)
        for k in keys:
            lst = providers.get(k)
            if lst is None:
                providers[k] = [i]
            elif lst[-1] != i:
                lst.append(i)
    skipped_by: dict[ObjRef, int] = {}
    for i, refs in g.skipped_ensures.items():
        for r in refs:
            skipped_by.setdefault(r, i)

    # state of the forward pass; data ("rows of table k") keys are ~k
    existence: dict[int, int] = {}  # object → last provider (>= 0) or ~dropper (< 0)
    in_start: dict[int, bool] = {}
    last_writer: dict[int, int] = {}
    last_strong: dict[int, int] = {}
    readers: dict[int, list[int]] = {}
    global_barrier = -1
    since_global: list[int] = []
    file_barrier: dict[int, int] = {}
    since_file: dict[int, list[int]] = {}

    # A statement reads and writes the same key many times (every column of a table
    # reads or writes the table too); repeats are no-ops, cut short before any edge
    # is looked at.  A statement does all its reads before its writes.
    def read(key: int, i: int, obj: int) -> None:
        lst = readers.get(key)
        if lst and lst[-1] == i:
            return
        w = last_strong.get(key)
        if w is not None and (w, i) not in reasons:
            edge(w, i, "order", obj)
        if not lst:
            readers[key] = [i]
        else:
            lst.append(i)

    def write(key: int, i: int, obj: int, strong: bool, kind: str = "order") -> None:
        w = last_writer.get(key)
        if w == i and (not strong or last_strong.get(key) == i):
            return
        if w is not None:
            edge(w, i, kind, obj)
        if strong:
            lst = readers.get(key)
            if lst:
                keep = []
                for r in lst:
                    edge(r, i, kind, obj)
                    if fmax[r] >= i:
                        keep.append(r)  # moves after i: still a reader for later changes
                readers[key] = keep
            last_strong[key] = i
        last_writer[key] = i

    for i, node in enumerate(nodes):
        eff = node.effect
        file_no = node.rank[0]
        req_keys = [intern(q.ref) for q in eff.requires]

        # -- requirements -------------------------------------------------
        for q, k in zip(eff.requires, req_keys, strict=True):
            state = existence.get(k)
            if state is not None and state >= 0:
                if (state, i) not in reasons:  # columns of one table: one provider, one edge
                    edge(state, i, "requires", k)
                continue
            if state is None and start is not None:
                has = in_start.get(k)
                if has is None:
                    r = q.ref
                    has = in_start[k] = start.has(r) or (
                        r.parent is not None and (r.schema, r.parent) in open_relations
                    )
                if has:
                    continue
            if k in provides[i]:
                continue  # CREATE TABLE t (a int, CHECK (a > 0)) names its own column
            lst = providers.get(k)
            p = -1
            if lst:
                j = bisect_right(lst, i)
                if j < len(lst):
                    p = lst[j]
            if p >= 0:
                forward[i][p] = q.ref
                if p > fmax[i]:
                    fmax[i] = p
                edge(p, i, "requires", k)
            else:
                g.unresolved.append(
                    Unresolved(
                        i,
                        q,
                        dropped_by=~state if state is not None and state < 0 else None,
                        skipped_by=skipped_by.get(q.ref),
                    )
                )

        # -- run-time requirements (function bodies, conditional branches) ----
        # after an earlier provider where the order allows; never a move, never "missing"
        for q in eff.uses:
            k = intern(q.ref)
            state = existence.get(k)
            if state is not None and state >= 0:
                soft_edge(state, i, "uses", k)

        # -- barriers -----------------------------------------------------
        opaque = eff.kept_in_place
        mentions = req_keys or provides[i] or eff.drops or eff.alters or eff.maybe_drops or eff.uses
        if opaque and not mentions:
            for j in since_global or ([global_barrier] if global_barrier >= 0 else []):
                edge(j, i, "barrier", -1)
            global_barrier = i
            since_global = []
            continue
        if global_barrier >= 0:
            edge(global_barrier, i, "barrier", -1)
        since_global.append(i)
        if not mentions and not opaque:
            # SET / BEGIN / COMMIT ...: keeps its place among its own file's statements
            fb = file_barrier.get(file_no)
            lst = since_file.get(file_no) or []
            for j in lst or ([fb] if fb is not None else []):
                edge(j, i, "file", -1)
            file_barrier[file_no] = i
            since_file[file_no] = []
            continue
        fb = file_barrier.get(file_no)
        if fb is not None:
            edge(fb, i, "file", -1)
        since_file.setdefault(file_no, []).append(i)

        # -- order between statements touching the same objects -------------
        data = node.statement.kind in DATA_KINDS
        for k in req_keys:
            if opaque:
                write(k, i, k, True)
            else:
                read(k, i, k)
            t = table_of[k]
            if t >= 0:
                if t != k:
                    if opaque:
                        write(t, i, t, True)
                    else:
                        read(t, i, t)
                if data or opaque:
                    write(~t, i, t, True, "rows")
        drops = [intern(r) for r in eff.drops]
        alters = [intern(r) for r in eff.alters]
        # a conditional DROP keeps its place against everything touching the object, with hard
        # edges both ways: whether it runs depends on the state it finds, so nothing may cross it
        maybe = [intern(r) for r in eff.maybe_drops]
        for group in (provides[i], drops, alters, maybe):
            # a DROP never runs before an earlier reader, whatever moves: "drop" edges are hard
            kind = "drop" if group is drops or group is maybe else "order"
            for k in group:
                t = table_of[k]
                if t < 0:
                    write(k, i, k, True, kind)
                elif t != k:  # column, constraint, trigger: a weak change of its table
                    write(k, i, k, True, kind)
                    write(t, i, t, opaque, kind)
                    write(~t, i, t, True, "rows" if kind == "order" else kind)
                else:  # the table itself: ALTER TABLE is a weak change, create / drop strong
                    write(k, i, k, opaque or group is not alters, kind)
                    write(~k, i, k, True, "rows" if kind == "order" else kind)

        # -- existence bookkeeping ------------------------------------------
        if start is not None:
            for r in eff.creates:
                if intern(r) not in existence and start.has(r):
                    g.exists_in_start.append((i, r))
        for k in drops:
            existence[k] = ~i
        for k in provides[i]:
            existence[k] = i
    return g


def topological_order(g: Graph) -> tuple[list[int], list[int], list[int]]:
    """(ordered node indexes, nodes left over because of a cycle, nodes released).

    Heap-based Kahn keyed by original rank.  A node waits for its hard and
    soft predecessors; when nothing is ready but some node waits only on soft
    edges (it sits between a moved statement and the provider that moves
    it), the earliest such node is released: it runs before the moved
    statement instead of keeping its order with it.
    """
    indegree = list(g.indegree)
    soft_in = list(g.soft_indegree)
    n = len(indegree)
    ready = [i for i in range(n) if indegree[i] == 0 and soft_in[i] == 0]
    hard_ready = [i for i in range(n) if indegree[i] == 0 and soft_in[i] > 0]
    heapq.heapify(ready)
    heapq.heapify(hard_ready)
    emitted = [False] * n
    order: list[int] = []
    released: list[int] = []
    succ, soft_succ = g.succ, g.soft_succ
    pop, push = heapq.heappop, heapq.heappush
    while True:
        while ready:
            u = pop(ready)
            emitted[u] = True
            order.append(u)
            for v in succ[u]:
                indegree[v] -= 1
                if indegree[v] == 0:
                    push(ready if soft_in[v] == 0 else hard_ready, v)
            for v in soft_succ[u]:
                soft_in[v] -= 1
                if soft_in[v] == 0 and indegree[v] == 0 and not emitted[v]:
                    push(ready, v)
        while hard_ready and (emitted[hard_ready[0]] or soft_in[hard_ready[0]] == 0):
            pop(hard_ready)  # stale: emitted or already pushed to ready
        if not hard_ready:
            break
        u = pop(hard_ready)
        soft_in[u] = 0
        released.append(u)
        push(ready, u)
    if len(order) == n:
        return order, [], released
    return order, [i for i in range(n) if not emitted[i]], released


def cycles(g: Graph, left: Sequence[int]) -> list[list[int]]:
    """Strongly connected components (with more than one node) among ``left``.

    Iterative Tarjan, restricted to the left-over nodes; each component is
    sorted, components are sorted by their first node.
    """
    inside = set(left)
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    for root in sorted(left):
        if root in index:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, pos = work[-1]
            nxt = g.succ[v]
            while pos < len(nxt) and nxt[pos] not in inside:
                pos += 1
            if pos < len(nxt):
                work[-1] = (v, pos + 1)
                w = nxt[pos]
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))
    return sorted(comps)


def shortest_cycle(g: Graph, comp: Sequence[int]) -> list[int]:
    """A shortest cycle through the component's first node (BFS), as a node list."""
    members = set(comp)
    start = comp[0]
    parent: dict[int, int] = {}
    queue = [start]
    seen = {start}
    for u in queue:
        for v in g.succ[u]:
            if v not in members:
                continue
            if v == start:
                path = [u]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return list(reversed(path))
            if v not in seen:
                seen.add(v)
                parent[v] = u
                queue.append(v)
    return list(comp)  # unreachable for a real component
