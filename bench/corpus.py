"""The development corpus: public migration sets extracted from fetched snapshots (issue 10).

``python bench/corpus.py [--mirror DIR] [--cache DIR] [SET ...]``

Each set is read from a fetched snapshot (a bare git directory under
``/work/.mirror/<owner>+<name>/repo``, or ``--mirror``), at the commit pinned
below (the extraction stops with one line if the snapshot is absent or at
another commit), and written to a cache directory OUTSIDE the repository
(``~/.cache/alembic_guard/corpus/<set>/``, or ``--cache``): third-party SQL
never enters the repository.

Per set the cache holds:

- ``sql/``: the up migrations only (down files skipped), in a layout whose
  order under ``guard-plan --order auto`` is the tool's own order.  Names are
  kept where the tool's names already sort that way (golang-migrate / pop /
  sqlx timestamps, Diesel directories, postgres-migrations numbers); Temporal's
  versioned directories with manifests become Flyway-style names
  (``V1.7.2__no_start_version.sql``: version 1.7, second file of its manifest),
  since a flat directory is what a user hands to ``guard-import``.
  Nothing is stripped from a file; Go templates are rendered the way the
  tool renders them (supabase/auth's schema name);
- ``outside.sql``: the objects the set needs from outside itself, written
  here as minimal stubs (a hosting platform's roles and schemas): what a
  user declares with ``--outside-sql`` / ``outside_objects``;
- ``corpus.json``: the set, its repository and commit, and per file (in the
  tool's order) the original path, the no-transaction marker if the file has
  one (postgres-migrations ``disable-transaction``, sqlx ``-- no-transaction``,
  Diesel ``run_in_transaction = false``), and its size.

``load(set)`` returns that manifest for the other bench scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MIRROR = Path(os.environ.get("ALEMBIC_GUARD_MIRROR", "/work/.mirror"))
CACHE = Path(os.environ.get("ALEMBIC_GUARD_CORPUS", Path.home() / ".cache" / "alembic_guard" / "corpus"))


@dataclass(frozen=True, slots=True)
class Extracted:
    """One file of a set, in the tool's order: its new name, original path and text."""

    name: str
    source: str
    text: str
    no_transaction: str | None = None  # the marker that says so, as written


@dataclass(frozen=True, slots=True)
class SetSpec:
    """Where a set lives and how its tool reads it."""

    name: str
    mirror: str  # owner+name under MIRROR
    commit: str
    root: str  # directory of the migrations inside the repository
    layout: str  # the tool: see LAYOUTS
    outside: str = ""  # stub SQL of the objects the set needs from outside
    notes: str = ""
    render: tuple[tuple[str, str], ...] = field(default=())
    # the search_path its tool runs the files under, as users declare it ([tool.alembic_guard])
    search_path: str = ""


# --------------------------------------------------------------------------
# outside objects: minimal stubs written for this corpus (not copied)
# --------------------------------------------------------------------------

# supabase/auth runs under a role the platform creates, and its first
# migration assumes the schema it is told to use (DB_NAMESPACE, "auth").
AUTH_OUTSIDE = """\
-- what the Supabase platform provides before auth's migrations run
CREATE SCHEMA IF NOT EXISTS auth;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_auth_admin') THEN
    CREATE ROLE supabase_auth_admin NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dashboard_user') THEN
    CREATE ROLE dashboard_user NOLOGIN;
  END IF;
END $$;
"""

STORAGE_OUTSIDE = """\
-- what the Supabase platform provides before storage's migrations run
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_storage_admin') THEN
    CREATE ROLE supabase_storage_admin NOLOGIN;
  END IF;
END $$;
-- storage's runner connects with search_path = storage, public, extensions
DO $$ BEGIN
  EXECUTE format('ALTER DATABASE %I SET search_path = storage, public, extensions', current_database());
END $$;
"""

# diesel's own bookkeeping table, which diesel creates before the first migration
LEMMY_OUTSIDE = """\
-- what diesel creates before it runs the first migration
CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
    version varchar(50) PRIMARY KEY,
    run_on timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""

_AUTH_NS = (
    ('{{ index .Options "Namespace" }}', "auth"),
    ('{{index .Options "Namespace" }}', "auth"),
    ('{{index .Options "Namespace"}}', "auth"),
)

SETS: dict[str, SetSpec] = {
    s.name: s
    for s in (
        SetSpec(
            "supabase-auth",
            "supabase+auth",
            "bc32168e13fdc928c98b449fc76bc3fdb9a293c5",
            "migrations",
            "pop",
            AUTH_OUTSIDE,
            "gobuffalo/pop: N_name.up.sql, Go templates naming the schema (rendered with auth)",
            _AUTH_NS,
        ),
        SetSpec(
            "temporal",
            "temporalio+temporal",
            "6805caea59e35d0611ed96be69641b8d86bff11c",
            "schema/postgresql/v12/temporal/versioned",
            "temporal",
            notes="temporal-sql-tool: versioned/vX.Y/manifest.json lists each version's files",
        ),
        SetSpec(
            "temporal-visibility",
            "temporalio+temporal",
            "6805caea59e35d0611ed96be69641b8d86bff11c",
            "schema/postgresql/v12/visibility/versioned",
            "temporal",
            notes="temporal-sql-tool, the visibility schema (btree_gin extension)",
        ),
        SetSpec(
            "kratos",
            "ory+kratos",
            "b86338da04a040247a07f46100a86dcfb3875909",
            "persistence/sql/migrations/sql",
            "popx",
            notes="ory/x popx: N_name[.<dialect>][.autocommit].up.sql; a postgres file replaces the all one",
        ),
        SetSpec(
            "lemmy",
            "LemmyNet+lemmy",
            "439734dd638a2c06a2f907beab7dcf4646e88f86",
            "migrations",
            "diesel",
            LEMMY_OUTSIDE,
            "diesel: one directory per migration with up.sql / down.sql; needs PostgreSQL >= 16",
        ),
        SetSpec(
            "atuin",
            "atuinsh+atuin",
            "824c8716d82bed774ee6a83c683087ae77715814",
            "crates/atuin-server-postgres/migrations",
            "sqlx",
            notes="sqlx: <timestamp>_name.sql",
        ),
        SetSpec(
            "hatchet",
            "hatchet-dev+hatchet",
            "89d130f303c9561442804c9c32b8748e699d5139",
            "cmd/hatchet-migrate/migrate/migrations",
            "goose",
            notes="goose: <version>_name.sql with -- +goose Up / Down sections and -- +goose NO TRANSACTION; "
            "the SQL files before the first Go migration (20251226153622), which no SQL extraction can run",
        ),
        SetSpec(
            "supabase-storage",
            "supabase+storage",
            "4fa61fba9371c4bd40cbb81509f07bcb3af21683",
            "migrations/tenant",
            "postgres-migrations",
            STORAGE_OUTSIDE,
            "postgres-migrations: NNNN-name.sql, `-- postgres-migrations disable-transaction`",
            search_path="storage, public, extensions",
        ),
    )
}

# mattermost/focalboard (golang-migrate + Go templates) is not in the corpus:
# its templates call doesTableExist / doesColumnExist against the live database
# while rendering, so no static extraction is the set its tool runs.
LEFT_OUT = {
    "focalboard": "mattermost/focalboard renders its golang-migrate files as Go templates that query the "
    "live database (doesTableExist, doesColumnExist) while rendering: no static set is what it runs",
}


class CorpusError(Exception):
    """The corpus cannot be extracted as pinned; the message says what to do."""


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CorpusError(f"git {' '.join(args)} in {repo}: {proc.stderr.strip()}")
    return proc.stdout


def _repo(spec: SetSpec, mirror: Path) -> Path:
    repo = mirror / spec.mirror / "repo"
    if not repo.exists():
        raise CorpusError(
            f"{spec.name}: no snapshot at {repo}: fetch github:{spec.mirror.replace('+', '/')} first"
        )
    head = _git(repo, "rev-parse", "HEAD").strip()
    if head != spec.commit:
        raise CorpusError(
            f"{spec.name}: the snapshot at {repo} is at {head[:12]}, the corpus is pinned to "
            f"{spec.commit[:12]}: re-pin SETS in bench/corpus.py (and re-measure docs/real-world.md)"
        )
    return repo


def _files(repo: Path, spec: SetSpec) -> list[str]:
    out = _git(repo, "ls-tree", "-r", "--name-only", f"{spec.commit}:{spec.root}")
    return [line for line in out.splitlines() if line]


def _show(repo: Path, spec: SetSpec, rel: str) -> str:
    return _git(repo, "show", f"{spec.commit}:{spec.root}/{rel}")


_LEADING_INT = re.compile(r"(\d+)")


def _int_prefix(name: str) -> int:
    m = _LEADING_INT.match(name)
    if m is None:
        raise CorpusError(f"{name}: no version number where the tool expects one")
    return int(m.group(1))


# --------------------------------------------------------------------------
# one reader per tool: (new name, original path, no-transaction marker) in the tool's order
# --------------------------------------------------------------------------

Listing = list[tuple[str, str, str | None]]


def _pop(repo: Path, spec: SetSpec, files: list[str]) -> Listing:
    # pop: <version>_<name>[.<dialect>].up.sql, sorted by version; no dialect = all
    ups = [f for f in files if "/" not in f and f.endswith(".up.sql")]
    ups.sort(key=lambda f: (_int_prefix(f), f))
    return [(f, f, None) for f in ups]


_POPX = re.compile(r"^(\d+)_([^.]+)(\.[a-z0-9]+)?(\.autocommit)?\.up\.sql$")


def _popx(repo: Path, spec: SetSpec, files: list[str]) -> Listing:
    # popx (ory/x): <version>_<name>[.<dialect>][.autocommit].up.sql, by version; per version a
    # file for this dialect replaces the all-dialect one; .autocommit runs outside a transaction
    by_version: dict[tuple[int, str], dict[str, tuple[str, bool]]] = {}
    for f in files:
        m = _POPX.match(f) if "/" not in f else None
        if m is None:
            continue
        version, _name, dialect, autocommit = m.groups()
        if dialect == ".autocommit":  # the autocommit group taken for a dialect, as popx reads it
            dialect, autocommit = None, ".autocommit"
        kind = (dialect or ".all")[1:]
        by_version.setdefault((int(version), version), {})[kind] = (f, bool(autocommit))
    out: Listing = []
    for key in sorted(by_version):
        choice = by_version[key].get("postgres") or by_version[key].get("all")
        if choice is not None:
            f, autocommit = choice
            out.append((f, f, "(popx: .autocommit file)" if autocommit else None))
    return out


def _diesel(repo: Path, spec: SetSpec, files: list[str]) -> Listing:
    # diesel: <version>_<name>/up.sql, version = the part before the first "_" (digits only)
    dirs = sorted({f.split("/", 1)[0] for f in files if f.endswith("/up.sql") and f.count("/") == 1})
    out: Listing = []
    for d in sorted(dirs, key=lambda d: (re.sub(r"\D", "", d.split("_", 1)[0]), d)):
        marker = None
        if f"{d}/metadata.toml" in files:
            meta = _show(repo, spec, f"{d}/metadata.toml")
            m = re.search(r"^\s*run_in_transaction\s*=\s*false\b.*$", meta, re.MULTILINE)
            marker = m.group().strip() if m else None
        out.append((f"{d}/up.sql", f"{d}/up.sql", marker))
    return out


def _sqlx(repo: Path, spec: SetSpec, files: list[str]) -> Listing:
    # sqlx: <version>_<name>.sql (or .up.sql), sorted by version
    ups = [f for f in files if "/" not in f and f.endswith(".sql") and not f.endswith(".down.sql")]
    ups.sort(key=lambda f: (_int_prefix(f), f))
    out: Listing = []
    for f in ups:
        first = _show(repo, spec, f).lstrip().split("\n", 1)[0].strip()
        out.append((f, f, first if first == "-- no-transaction" else None))
    return out


_GOOSE_NO_TX = re.compile(r"^--\s*\+goose\s+NO\s+TRANSACTION\b.*$", re.IGNORECASE | re.MULTILINE)


def _goose(repo: Path, spec: SetSpec, files: list[str]) -> Listing:
    # goose: <version>_<name>.sql or .go, by version; a Go migration cannot be extracted, so the
    # set ends before the first one (what goose runs up to that version)
    found = [f for f in files if "/" not in f and (f.endswith(".sql") or f.endswith(".go"))]
    found.sort(key=lambda f: (_int_prefix(f), f))
    out: Listing = []
    for f in found:
        if f.endswith(".go"):
            break
        m = _GOOSE_NO_TX.search(_show(repo, spec, f))
        out.append((f, f, m.group().strip() if m else None))
    return out


def _postgres_migrations(repo: Path, spec: SetSpec, files: list[str]) -> Listing:
    # postgres-migrations: <id>[-_]<name>.sql, ids consecutive from 0 or 1
    sqls = [f for f in files if "/" not in f and f.endswith(".sql")]
    sqls.sort(key=lambda f: (_int_prefix(f), f))
    out: Listing = []
    for f in sqls:
        text = _show(repo, spec, f)
        m = re.search(r"^--\s*postgres-migrations\s+disable-transaction\b.*$", text, re.MULTILINE)
        out.append((f, f, m.group().strip() if m else None))
    return out


def _temporal(repo: Path, spec: SetSpec, files: list[str]) -> Listing:
    # temporal-sql-tool: versioned/v<major>.<minor>/manifest.json, files in manifest order
    versions = sorted(
        {f.split("/", 1)[0] for f in files if f.endswith("/manifest.json")},
        key=lambda v: tuple(int(p) for p in v.lstrip("v").split(".")),
    )
    out: Listing = []
    for v in versions:
        manifest = json.loads(_show(repo, spec, f"{v}/manifest.json"))
        for i, f in enumerate(manifest["SchemaUpdateCqlFiles"], 1):
            stem = f.rsplit(".", 1)[0]
            # the tool executes each statement on its own, outside a transaction block
            out.append(
                (f"V{v.lstrip('v')}.{i}__{stem}.sql", f"{v}/{f}", "(temporal-sql-tool: no transaction)")
            )
    return out


LAYOUTS: dict[str, Callable[[Path, SetSpec, list[str]], Listing]] = {
    "pop": _pop,
    "popx": _popx,
    "diesel": _diesel,
    "sqlx": _sqlx,
    "postgres-migrations": _postgres_migrations,
    "goose": _goose,
    "temporal": _temporal,
}


def extract(spec: SetSpec, mirror: Path = MIRROR, cache: Path = CACHE) -> Path:
    """Write one set into ``cache/<set>/`` (replacing it); returns that directory.

    Reads the snapshot with git; writes only under ``cache``.
    """
    repo = _repo(spec, mirror)
    files = _files(repo, spec)
    listing = LAYOUTS[spec.layout](repo, spec, files)
    if not listing:
        raise CorpusError(f"{spec.name}: no up migrations under {spec.root}")
    out = cache / spec.name
    sql = out / "sql"
    if out.exists():
        subprocess.run(["rm", "-rf", str(out)], check=True)
    sql.mkdir(parents=True)
    manifest_files = []
    for name, source, marker in listing:
        text = _show(repo, spec, source)
        for pattern, value in spec.render:
            text = text.replace(pattern, value)
        if "{{" in text and spec.render:
            raise CorpusError(f"{spec.name}: {source}: a template the corpus does not render")
        target = sql / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        manifest_files.append(
            {"path": name, "source": source, "no_transaction": marker, "bytes": len(text.encode())}
        )
    if spec.outside:
        (out / "outside.sql").write_text(spec.outside)
    manifest = {
        "set": spec.name,
        "repository": spec.mirror.replace("+", "/"),
        "commit": spec.commit,
        "committed": _git(repo, "log", "-1", "--format=%cs", spec.commit).strip(),
        "root": spec.root,
        "layout": spec.layout,
        "notes": spec.notes,
        "outside": "outside.sql" if spec.outside else None,
        "files": manifest_files,
    }
    (out / "corpus.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return out


def load(name: str, cache: Path = CACHE, mirror: Path = MIRROR) -> dict[str, object]:
    """The manifest of an extracted set (extracting it first if needed), with ``dir`` added."""
    spec = SETS[name]
    path = cache / name / "corpus.json"
    manifest: dict[str, object] | None = None
    if path.exists():
        manifest = json.loads(path.read_text())
        if manifest is not None and manifest.get("commit") != spec.commit:
            manifest = None
    if manifest is None:
        extract(spec, mirror, cache)
        manifest = json.loads(path.read_text())
    assert manifest is not None
    manifest["dir"] = str(cache / name)
    return manifest


def check_order(directory: Path, expected: list[str]) -> list[str]:
    """Differences between guard-plan's file order and the tool's (empty when they agree)."""
    from alembic_guard.sql.source import load_directory

    got = [s.path for s in load_directory(directory / "sql")]
    if got == expected:
        return []
    for i, (a, b) in enumerate(zip(got, expected, strict=False)):
        if a != b:
            return [f"position {i + 1}: guard-plan reads {a}, the tool runs {b}"]
    return [f"guard-plan reads {len(got)} files, the tool runs {len(expected)}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", help=f"sets to extract (default all: {', '.join(SETS)})")
    parser.add_argument("--mirror", type=Path, default=MIRROR, help="where the fetched snapshots are")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the sets are written")
    args = parser.parse_args(argv)
    unknown = [s for s in args.sets if s not in SETS]
    if unknown:
        print(f"corpus: unknown set {unknown[0]}: choose from {', '.join(SETS)}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    status = 0
    for name in args.sets or list(SETS):
        try:
            out = extract(SETS[name], args.mirror, args.cache)
        except CorpusError as exc:
            print(f"corpus: {exc}", file=sys.stderr)
            status = 2
            continue
        manifest = json.loads((out / "corpus.json").read_text())
        files = manifest["files"]
        size = sum(f["bytes"] for f in files)
        notx = sum(1 for f in files if f["no_transaction"])
        order = check_order(out, [f["path"] for f in files])
        print(
            f"{name:20} {len(files):4} files {size / 1024:7.1f} KiB  no-transaction {notx:2}  "
            f"{manifest['commit'][:12]}  -> {out}" + (f"  ORDER DIFFERS: {order[0]}" if order else "")
        )
    for name, why in LEFT_OUT.items():
        print(f"{name:20} left out: {why}")
    return status


if __name__ == "__main__":
    sys.exit(main())
