"""Differential check: what PostgreSQL does with each statement vs what the analysis claims (issue 10).

``python bench/differential.py [SET ...] [--dir SQL_DIR] [--json OUT] [--examples N]``

PostgreSQL is the oracle.  For each set of the corpus (``bench/corpus.py``),
or for a directory given with ``--dir``, on a fresh scratch database:

1. the set's outside objects (``outside.sql``) are created;
2. the files are read as ``guard-plan`` reads them (``load_directory``,
   ``parse_source``, ``analyze_all``: the same analysis guard-plan plans
   from) and applied statement by statement, in the tool's order, in
   autocommit (session settings are reset between files, as the analysis
   assumes);
3. before and after each statement one catalog query
   (:func:`alembic_guard.testing.fingerprint.schema_fingerprint`) reads the schema;
   the difference is what the statement did.

Compared per statement:

- ``requires``: each object the analysis says the statement needs must be in
  the catalog before it runs.  Missing while PostgreSQL ran the statement is a
  *false requirement* (the stuff false AG102s are made of: CTE names, a
  function body's later objects ...);
- ``creates`` / ``ensures``: every object the catalog gained must be claimed
  (an *unclaimed create* is an object a later statement may use and the
  analysis does not know: a serial's sequence, a view's columns ...), and
  every object claimed must exist afterwards (a *phantom create*);
- ``drops``: every object the catalog lost must be claimed (children of a
  dropped relation count as claimed), and every object claimed dropped must be
  gone (a *phantom drop*, e.g. a DROP inside an IF that did not run);
- ``alters``: a changed definition whose object (or its relation) the
  analysis does not name is an *unclaimed alter*.

A statement PostgreSQL rejects is reported as a *raw failure* (the set does
not apply cleanly as extracted); the run goes on.

Output: per set, statements, agreements, disagreements by class with
``file:line`` examples; ``--json`` writes every disagreement.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from alembic_guard.model import ObjRef  # noqa: E402
from alembic_guard.sql.effects import analyze_all  # noqa: E402
from alembic_guard.sql.parse import parse_source  # noqa: E402
from alembic_guard.sql.source import load_directory  # noqa: E402
from alembic_guard.sql.statement import AnalyzedStatement, may_create  # noqa: E402
from alembic_guard.testing.fingerprint import Row, changed, schema_fingerprint, show  # noqa: E402

Key = tuple[str, str, str, str]  # (kind, schema, name, parent) as the fingerprint keys rows

# model kinds -> fingerprint kinds an object of that kind may be found as
_RELATION_KINDS = ("relation", "sequence")


@dataclass(slots=True)
class Disagreement:
    cls: str  # false-requirement, unclaimed-create, phantom-create, unclaimed-drop, ...
    kind: str  # the object's kind
    statement: str  # the statement's parse node type
    where: str  # file:line:col
    obj: str
    detail: str = ""

    def line(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.where}: {self.cls} {self.obj} [{self.statement}]{extra}"


@dataclass(slots=True)
class Outcome:
    name: str
    files: int = 0
    statements: int = 0
    executed: int = 0
    raw_failures: list[str] = field(default_factory=list)
    opaque: int = 0
    agreements: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)
    seconds: float = 0.0

    def by_class(self) -> Counter[str]:
        return Counter(d.cls for d in self.disagreements)


class Catalog:
    """A fingerprint indexed for the lookups the comparison needs."""

    def __init__(self, rows: frozenset[Row]) -> None:
        self.rows = rows
        self.keys: set[Key] = {r[:4] for r in rows}
        self.functions: set[tuple[str, str]] = set()
        self.by_name: dict[tuple[str, str], set[str]] = defaultdict(set)  # (schema, name) -> kinds
        for kind, schema, name, parent, _d in rows:
            if kind == "function":
                self.functions.add((schema, name.split("(", 1)[0]))
            elif not parent:
                self.by_name[(schema, name)].add(kind)

    def has(self, ref: ObjRef) -> bool:
        """Does the catalog hold the object ``ref`` names (any kind sharing its namespace)?"""
        kind, schema, name, parent = ref.kind, ref.schema, ref.name, ref.parent or ""
        if kind == "function":
            return (schema, name) in self.functions
        if kind in ("schema", "extension"):
            return (kind, name, name, "") in self.keys or any(
                k[0] == kind and k[2] == name for k in self.keys
            )
        if kind in ("relation", "sequence", "index"):
            # one namespace in pg_class; the analysis may name a sequence as a relation
            return bool(self.by_name.get((schema, name), set()) & {"relation", "sequence"}) or (
                kind == "index"
                and any(k[0] == "index" and k[1] == schema and k[2] == name for k in self.keys)
            )
        if kind == "type":
            return "type" in self.by_name.get((schema, name), set())
        if kind == "constraint":
            return ("constraint", schema, name, parent) in self.keys
        return (kind, schema, name, parent) in self.keys


def _key_of(ref: ObjRef) -> Key:
    return (ref.kind, ref.schema, ref.name, ref.parent or "")


def _claimed(row: Row, refs: set[Key], fnames: set[tuple[str, str]], parents: set[tuple[str, str]]) -> bool:
    kind, schema, name, parent, _d = row
    if kind == "function":
        return (schema, name.split("(", 1)[0]) in fnames
    if kind == "schema" or kind == "extension":
        return any(k[0] == kind and k[2] == name for k in refs)
    if kind == "index":
        # the index behind a PK / UNIQUE constraint carries the constraint's name
        return (
            ("index", schema, name, parent) in refs
            or ("index", schema, name, "") in refs
            or (
                "constraint",
                schema,
                name,
                parent,
            )
            in refs
        )
    if kind == "sequence":
        return ("sequence", schema, name, "") in refs or ("relation", schema, name, "") in refs
    if kind == "type":
        return ("type", schema, name, "") in refs
    return (kind, schema, name, parent) in refs


def _may_create(patterns: tuple[str, ...], row: Row) -> bool:
    """Whether a dynamic statement's patterns (``Effect.dynamic``) cover a catalog row."""
    kind, schema, name, parent, _d = row
    if kind not in ("relation", "column", "constraint", "trigger", "index", "sequence", "type", "function"):
        return False
    ref = ObjRef(kind, schema, name.split("(", 1)[0], parent or None)  # type: ignore[arg-type]
    return may_create(patterns, ref)


def _owned_by(row: Row, gone: set[tuple[str, str]]) -> bool:
    """Is ``row`` a part of a relation that changed as a whole (created, dropped)?"""
    kind, schema, _name, parent, definition = row
    if parent and (schema, parent) in gone:
        return True
    if kind == "type" and (definition.startswith("row of ") or definition.startswith("array of ")):
        return True
    if kind == "sequence" and " owned by " in definition:
        table = definition.rsplit(" owned by ", 1)[1].rsplit(".", 1)[0]
        return (schema, table) in gone
    return False


def compare(a: AnalyzedStatement, before: Catalog, after: Catalog, out: Outcome) -> None:
    """Judge one statement's claims against what the catalog did; count into ``out``."""
    st, eff = a.statement, a.effect
    kind = st.kind
    provides = {_key_of(r) for r in eff.provides}
    pnames = {(r.schema, r.name) for r in eff.provides if r.kind == "function"}
    drops = {_key_of(r) for r in eff.drops}
    dnames = {(r.schema, r.name) for r in eff.drops if r.kind == "function"}
    alters = {_key_of(r) for r in eff.alters}

    def bad(cls: str, obj_kind: str, where: str, obj: str, detail: str = "") -> None:
        out.disagreements.append(Disagreement(cls, obj_kind, kind, where, obj, detail))

    # requires: must hold before the statement
    for req in eff.requires:
        ref = req.ref
        if _key_of(ref) in provides:
            continue
        if before.has(ref):
            out.agreements += 1
        else:
            line, col = st.position_of_byte(req.location)
            bad("false-requirement", ref.kind, f"{st.file}:{line}:{col}", ref.describe())

    added, removed, modified = changed(before.rows, after.rows)
    new_rel = {(r[1], r[2]) for r in added if r[0] in _RELATION_KINDS}
    gone_rel = {(r[1], r[2]) for r in removed if r[0] in _RELATION_KINDS}
    rel_claims = {(k[1], k[2]) for k in provides | drops | alters if k[0] in ("relation", "sequence")}

    for row in added:
        if row[0] == "policy" or row[4].startswith("extension "):
            continue  # the model has no policies; an extension's members come with it
        if _claimed(row, provides, pnames, rel_claims):
            out.agreements += 1
        elif eff.dynamic and _may_create(eff.dynamic, row):
            out.agreements += 1  # dynamic SQL: the analysis said what it may create
        elif _owned_by(row, new_rel) and (row[1], row[3]) in rel_claims and row[0] not in ("column",):
            out.agreements += 1  # an index / constraint / trigger of a relation the statement claims
        elif row[0] == "type" and _owned_by(row, set()):
            continue  # a row type or array type comes with its relation or type
        else:
            bad("unclaimed-create", row[0], st.where, show(row))
    for ref in eff.provides:
        if ref.kind in ("column", "constraint", "trigger") and ref.parent is None:
            continue
        if not after.has(ref):
            bad("phantom-create", ref.kind, st.where, ref.describe())

    for row in removed:
        if row[0] == "policy" or row[4].startswith("extension "):
            continue
        if (
            _claimed(row, drops, dnames, set())
            or _owned_by(row, gone_rel)
            or _claimed(row, {_key_of(r) for r in eff.maybe_drops}, set(), set())
        ):
            out.agreements += 1
        elif row[0] == "type" and (row[4].startswith("row of ") or row[4].startswith("array of ")):
            continue
        else:
            bad("unclaimed-drop", row[0], st.where, show(row))
    for ref in eff.drops:
        if ref.kind in ("column", "constraint", "trigger") and ref.parent is None:
            continue
        if after.has(ref) and before.has(ref) and _key_of(ref) not in provides:
            bad("phantom-drop", ref.kind, st.where, ref.describe())

    for old, _new in modified:
        if old[0] == "policy" or old[4].startswith("extension "):
            continue
        k = old[:4]
        rel = (old[1], old[3] or old[2])
        if (
            k in alters
            or k in provides
            or k in drops
            or rel in rel_claims
            or ("relation", old[1], old[3], "") in alters
            or (old[0] == "function" and (old[1], old[2].split("(", 1)[0]) in pnames)
        ):
            out.agreements += 1
        elif kind == "RenameStmt" or (
            old[0] == "relation" and old[4][:1] in "vm" and kind == "AlterTableStmt"
        ):
            # a definition that names the renamed object (an index, a foreign key, a view's text,
            # a sequence's owner) follows the rename; so does a view over a changed column
            out.agreements += 1
        else:
            bad("unclaimed-alter", old[0], st.where, show(old))


def run(name: str, directory: Path, outside: Path | None, url: str) -> Outcome:
    """Apply one set statement by statement on the database at ``url``; compare each statement."""
    import sqlalchemy as sa

    out = Outcome(name)
    t0 = time.perf_counter()
    sources = load_directory(directory)
    out.files = len(sources)
    statements = [s for src in sources for s in parse_source(src)]
    analyzed = analyze_all(statements)
    out.statements = len(analyzed)
    out.opaque = sum(1 for a in analyzed if a.effect.opaque)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as sconn:
            raw = sconn.connection.dbapi_connection
            assert raw is not None
            raw.autocommit = True
            cur = raw.cursor()
            if outside is not None:
                # on its own connection first: database-level settings it makes (search_path)
                # apply to the sessions that open after it, as they do for the tool
                cur.execute(outside.read_text())
                raw.close()
                sconn.invalidate()
                raw = sconn.connection.dbapi_connection
                assert raw is not None
                raw.autocommit = True
                cur = raw.cursor()
            before = Catalog(schema_fingerprint(raw))
            current = None
            for a in analyzed:
                st = a.statement
                if st.source is not current:
                    current = st.source
                    cur.execute("RESET ALL")
                try:
                    cur.execute(st.text)
                    out.executed += 1
                except Exception as exc:  # a DB-API error: the set does not apply as extracted
                    code = getattr(exc, "pgcode", None) or "?"
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    out.raw_failures.append(f"{st.where}: {code} {first}")
                    continue
                after = Catalog(schema_fingerprint(raw))
                compare(a, before, after, out)
                before = after
    finally:
        engine.dispose()
    out.seconds = time.perf_counter() - t0
    return out


def report(outcomes: list[Outcome], examples: int) -> str:
    lines = []
    for o in outcomes:
        classes = o.by_class()
        lines.append(
            f"== {o.name}: {o.files} files, {o.statements} statements, {o.executed} applied, "
            f"{len(o.raw_failures)} raw failures, {o.opaque} not understood (AG103), "
            f"{o.agreements} agreements, {len(o.disagreements)} disagreements ({o.seconds:.1f} s)"
        )
        for f in o.raw_failures[:examples]:
            lines.append(f"   raw failure {f}")
        for cls, n in classes.most_common():
            sub = Counter((d.kind, d.statement) for d in o.disagreements if d.cls == cls)
            detail = ", ".join(f"{k} in {s}: {c}" for (k, s), c in sub.most_common(6))
            lines.append(f"   {cls}: {n}  ({detail})")
            for d in [d for d in o.disagreements if d.cls == cls][:examples]:
                lines.append(f"      {d.line()}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import corpus

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", help=f"corpus sets (default all: {', '.join(corpus.SETS)})")
    parser.add_argument(
        "--dir", type=Path, action="append", default=[], help="a directory of SQL files instead"
    )
    parser.add_argument("--outside", type=Path, default=None, help="outside objects SQL for --dir")
    parser.add_argument("--json", type=Path, default=None, help="write every disagreement here")
    parser.add_argument("--examples", type=int, default=5, help="examples shown per class (default 5)")
    parser.add_argument("--url", default=None, help="a superuser URL of a server to use (default: start one)")
    args = parser.parse_args(argv)

    from alembic_guard.testing import PostgresServer, shared_server

    server = PostgresServer.external(args.url) if args.url else shared_server()
    jobs: list[tuple[str, Path, Path | None]] = [(d.name, d, args.outside) for d in args.dir]
    if not args.dir:
        for name in args.sets or list(corpus.SETS):
            m = corpus.load(name)
            base = Path(str(m["dir"]))
            jobs.append((name, base / "sql", base / str(m["outside"]) if m.get("outside") else None))
    outcomes = []
    for name, directory, outside in jobs:
        with server.database() as url:
            o = run(name, directory, outside, url)
        outcomes.append(o)
        sys.stdout.write(report([o], args.examples))
        sys.stdout.flush()
    if args.json:
        data: list[dict[str, Any]] = [
            {
                "set": o.name,
                "files": o.files,
                "statements": o.statements,
                "applied": o.executed,
                "raw_failures": o.raw_failures,
                "not_understood": o.opaque,
                "agreements": o.agreements,
                "disagreements": [
                    {
                        "class": d.cls,
                        "kind": d.kind,
                        "statement": d.statement,
                        "where": d.where,
                        "object": d.obj,
                    }
                    for d in o.disagreements
                ],
            }
            for o in outcomes
        ]
        args.json.write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
