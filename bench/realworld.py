"""The real-world runner: a migration set taken through alembic_guard as a new user would (issue 10).

``python bench/realworld.py [SET ...] [--bindir DIR] [--url URL] [--json OUT] [--keep DIR]``

Per set of the corpus (``bench/corpus.py``), in a fresh guarded Alembic
environment (``alembic guard-init``), every command run as a user runs it
(``python -m alembic ...`` in a subprocess, its exit code and output kept):

1. **plan**: ``guard-plan SQL_DIR --format json`` (against a scratch database
   holding the set's outside objects, ``--database``): statements, % not
   understood (AG103), AG102 count;
2. **import**: ``guard-import SQL_DIR`` (outside objects declared with
   ``--outside-sql`` when the command has it): exit code, revisions written;
3. **fresh upgrade**: ``alembic upgrade head`` on a database holding only the
   outside objects; its schema is compared with a database built by the raw
   files applied in the tool's order (each file in one transaction, a
   no-transaction file statement by statement in autocommit), using
   :func:`alembic_guard.testing.fingerprint.schema_fingerprint` (every difference in
   ``<keep>/<set>/fresh-diffs.txt``).  An operation a guard did not send (a
   lenient debt: a requirement it found missing) counts too: exit 0 with
   debts is not a faithful upgrade;
4. **re-apply**: ``alembic stamp base`` (the ledger is kept) then ``upgrade
   head`` on the same database.  A failing revision is counted, stamped, and
   the upgrade goes on, so every failing revision is counted; afterwards the
   schema fingerprint and the rows' checksums must be those before;
5. **adopt**: on a copy of the raw-built database, ``guard-adopt`` (how many
   revisions it stamps), ``upgrade head`` (failing revisions counted the same
   way), then ``guard-check`` against it (exit code, drift findings) and its
   schema against the raw one.

When ``guard-import`` refuses the whole set, the files before the first file a
problem names are imported instead (as issue 10 measured), so the later stages
still say something; the table then shows "prefix: N files".

Output: one table row per set (and ``--json``).  ``run_pipeline`` is also what
``tests/integration/test_realworld_fixtures.py`` runs on our own fixtures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from alembic_guard.testing.fingerprint import changed, own, row_checksums, schema_fingerprint, show  # noqa: E402

# the bookkeeping our own runs add: never part of the schema being compared
BOOKKEEPING = ("alembic_version", "alembic_guard_log")

# tools' no-transaction markers, as written in a file
_NO_TX = re.compile(
    r"^\s*--\s*(?:postgres-migrations\s+disable-transaction|no-transaction|\+goose\s+NO\s+TRANSACTION"
    r"|migrate:up\s+transaction:false)\b",
    re.IGNORECASE | re.MULTILINE,
)


# a guard's debt line: "WARNI [alembic_guard.ops] debt <op> <target>: <what>; the operation was not sent"
_DEBT = re.compile(r"\] debt (.*?); the operation was not sent", re.MULTILINE)


@dataclass(slots=True)
class Result:
    """What happened to one set, stage by stage (None: the stage did not run)."""

    name: str
    files: int = 0
    statements: int = 0
    not_understood: int = 0
    ag102: int = 0
    plan_exit: int | None = None
    import_exit: int | None = None
    import_note: str = ""
    prefix_files: int | None = None  # when the whole set was refused: the files imported instead
    revisions: int = 0
    raw_failures: list[str] = field(default_factory=list)
    fresh_exit: int | None = None
    fresh_failed: list[str] = field(default_factory=list)
    # statements the fresh upgrade did not send (lenient debts: a requirement the guard found missing)
    fresh_debts: list[str] = field(default_factory=list)
    fresh_diffs: int | None = None
    fresh_diff_examples: list[str] = field(default_factory=list)
    reapply_exit: int | None = None
    reapply_failed: list[str] = field(default_factory=list)
    reapply_ops_done: int | None = None  # from the ledger: ops the re-apply ran
    reapply_ops_skipped: int | None = None  # and those it skipped (each said so in the log)
    reapply_schema_same: bool | None = None
    reapply_rows_same: bool | None = None
    reapply_examples: list[str] = field(default_factory=list)
    adopt_exit: int | None = None
    adopt_stamped: int | None = None
    adopt_note: str = ""
    adopt_upgrade_exit: int | None = None
    adopt_failed: list[str] = field(default_factory=list)
    adopt_diffs: int | None = None
    check_exit: int | None = None
    check_findings: int | None = None
    check_drift: int | None = None
    check_examples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def understood_pct(self) -> float:
        return 100.0 * (self.statements - self.not_understood) / self.statements if self.statements else 100.0


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _first_error(text: str) -> str:
    """The line of a command's output that says what failed (one line, short)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^(psycopg2?\.|sqlalchemy\.exc\.|FAILED|error|Error|alembic_guard\.|ERROR)", ln) or (
            "Error:" in ln and not ln.startswith("File ")
        ):
            return ln[:240]
    return lines[-1][:240] if lines else ""


@dataclass(frozen=True, slots=True)
class Ran:
    """A command's exit code and output."""

    returncode: int
    stdout: str
    stderr: str


class Env:
    """A guarded Alembic environment in ``work`` and the commands run in it.

    Commands run as ``python -m alembic`` subprocesses (what a user runs), or,
    with ``inprocess``, through ``alembic.config.main`` in this process (the
    same code, without a Python start-up per command: what the CI test uses).
    """

    def __init__(self, work: Path, inprocess: bool = False) -> None:
        self.work = work.resolve()
        work.mkdir(parents=True, exist_ok=True)
        self.ini = self.work / "alembic.ini"
        self.inprocess = inprocess
        self.log: list[str] = []
        self._help: dict[str, str] = {}
        self.outside_declared = False
        p = self.alembic(["guard-init", "migrations"])
        if p.returncode != 0:
            raise RuntimeError(f"guard-init failed: {_first_error(p.stderr + p.stdout)}")

    def alembic(self, args: Sequence[str], url: str | None = None, timeout: int = 1800) -> Ran:
        if self.inprocess:
            p = self._inprocess(args, url)
        else:
            env = dict(os.environ)
            env.pop("DATABASE_URL", None)
            if url:
                env["DATABASE_URL"] = url
            cmd = [sys.executable, "-m", "alembic", "-c", str(self.ini), *args]
            done = subprocess.run(
                cmd, cwd=self.work, env=env, capture_output=True, text=True, timeout=timeout
            )
            p = Ran(done.returncode, done.stdout, done.stderr)
        self.log.append(
            f"$ alembic {' '.join(args)}  -> {p.returncode}\n{p.stdout[-4000:]}{p.stderr[-4000:]}"
        )
        return p

    def _inprocess(self, args: Sequence[str], url: str | None) -> Ran:
        import io
        import traceback

        from alembic.config import main as alembic_main

        saved_url, saved_cwd = os.environ.pop("DATABASE_URL", None), os.getcwd()
        if url:
            os.environ["DATABASE_URL"] = url
        out, err = io.StringIO(), io.StringIO()
        code = 0
        try:
            os.chdir(self.work)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    alembic_main(argv=["-c", str(self.ini), *args], prog="alembic")
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                except Exception as exc:  # what the CLI shows as a traceback and exit 1
                    code = 1
                    err.write("".join(traceback.format_exception_only(type(exc), exc)))
        finally:
            os.chdir(saved_cwd)
            os.environ.pop("DATABASE_URL", None)
            if saved_url is not None:
                os.environ["DATABASE_URL"] = saved_url
        return Ran(code, out.getvalue(), err.getvalue())

    def help_of(self, command: str) -> str:
        if command not in self._help:
            self._help[command] = str(self.alembic([command, "--help"]).stdout)
        return self._help[command]

    def declare_outside(self, outside: Path | None, search_path: str = "") -> bool:
        """Declare the outside objects once, as users do, when this alembic_guard can be told:
        ``outside_sql`` (and the ``search_path`` the set runs under) in ``[tool.alembic_guard]``
        of the ``pyproject.toml`` beside alembic.ini."""
        if outside is None or "--outside-sql" not in self.help_of("guard-plan"):
            return False
        path = f"search_path = {json.dumps(search_path)}\n" if search_path else ""
        (self.work / "pyproject.toml").write_text(
            f"[tool.alembic_guard]\noutside_sql = {json.dumps(str(outside))}\n{path}"
        )
        self.outside_declared = True
        return True

    def outside_args(self, command: str, outside: Path | None, database: str | None) -> list[str]:
        """How ``command`` is told about the outside objects when they are not declared in
        pyproject.toml: ``--database`` of a database that has them (plan and import only:
        elsewhere --database is the database worked on)."""
        if outside is None or self.outside_declared:
            return []
        if database and command in ("guard-plan", "guard-import") and "--database" in self.help_of(command):
            return ["--database", database]
        return []

    def revisions(self) -> list[str]:
        """Revision ids, base first (reads the versions directory)."""
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(Config(str(self.ini)))
        return [r.revision for r in reversed(list(script.walk_revisions()))]

    def upgrade_counting(
        self, url: str, revisions: list[str], debts: list[str] | None = None
    ) -> tuple[int, list[str]]:
        """``upgrade head``; on a failure, stamp the failing revision and go on. (first exit, failures).

        ``debts``: filled with the operations the guards did not send (a requirement missing).
        """
        failed: list[str] = []
        first: int | None = None
        for _ in range(len(revisions) + 1):
            p = self.alembic(["upgrade", "head"], url)
            if debts is not None:
                debts.extend(m.group(1) for m in _DEBT.finditer(p.stderr + p.stdout))
            if first is None:
                first = p.returncode
            if p.returncode == 0:
                break
            at = current_revision(url)
            nxt = revisions[revisions.index(at) + 1] if at in revisions else revisions[0]
            if at == revisions[-1]:
                failed.append(f"(at head) {_first_error(p.stderr + p.stdout)}")
                break
            failed.append(f"{nxt}: {_first_error(p.stderr + p.stdout)}")
            s = self.alembic(["stamp", nxt], url)
            if s.returncode != 0:
                failed.append(f"stamp {nxt} failed: {_first_error(s.stderr + s.stdout)}")
                break
        return (first if first is not None else 0), failed


def _engine(url: str) -> Any:
    import sqlalchemy as sa

    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def current_revision(url: str) -> str | None:
    import sqlalchemy as sa

    eng = _engine(url)
    try:
        with eng.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    finally:
        eng.dispose()


def run_sql(url: str, text: str) -> None:
    """Execute a script as one simple query, in autocommit (outside objects)."""
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            raw = conn.connection.dbapi_connection
            raw.autocommit = True
            with raw.cursor() as cur:
                cur.execute(text)
    finally:
        eng.dispose()


def apply_raw(url: str, sql_dir: Path, no_transaction: set[str] | None = None) -> list[str]:
    """Apply the files as their tool does: in order, each in one transaction, or statement by
    statement in autocommit when the file has a no-transaction marker.  Stops at the first
    failing file; returns its error (empty when all applied)."""
    from alembic_guard.sql.parse import parse_source
    from alembic_guard.sql.source import load_directory

    notx = no_transaction or set()
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            raw = conn.connection.dbapi_connection
            for src in load_directory(sql_dir):
                statements = parse_source(src)
                if not statements:
                    continue  # only comments: the driver refuses an empty query, the tools skip it
                tx = not (src.path in notx or _NO_TX.search(src.text))
                try:
                    if tx:
                        raw.autocommit = False
                        with raw.cursor() as cur:
                            cur.execute(src.text)
                        raw.commit()
                    else:
                        raw.autocommit = True
                        with raw.cursor() as cur:
                            for st in statements:
                                cur.execute(st.text)
                except Exception as exc:
                    if not raw.autocommit:
                        raw.rollback()
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    return [f"{src.path}: {getattr(exc, 'pgcode', '') or ''} {first}".strip()]
                raw.autocommit = True
                with raw.cursor() as cur:
                    cur.execute("RESET ALL")
    finally:
        eng.dispose()
    return []


def ledger_mark(url: str) -> tuple[int, int, int]:
    """(highest ledger id, ops done, ops skipped) so far: read-only; (0, 0, 0) without a ledger."""
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            where = conn.exec_driver_sql(
                "SELECT quote_ident(n.nspname) || '.alembic_guard_log' FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'alembic_guard_log' "
                "AND c.relkind = 'r' ORDER BY n.nspname = 'public' DESC LIMIT 1"
            ).scalar()
            if where is None:
                return 0, 0, 0
            row = conn.exec_driver_sql(
                "SELECT coalesce(max(id), 0), coalesce(sum(ops_done), 0), coalesce(sum(ops_skipped), 0) "
                f"FROM {where}"
            ).one()
            return int(row[0]), int(row[1]), int(row[2])
    finally:
        eng.dispose()


def _bookkeeping(url: str) -> tuple[str, ...]:
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            names = conn.exec_driver_sql(
                "SELECT DISTINCT relname FROM pg_class WHERE relname ~ '^alembic_guard' "
                "AND relkind IN ('r', 'p')"
            ).scalars()
            return (*BOOKKEEPING, *names)
    finally:
        eng.dispose()


def fingerprint(url: str, exclude: Sequence[str] = BOOKKEEPING) -> frozenset[Any]:
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            return own(schema_fingerprint(conn, exclude_tables=exclude))
    finally:
        eng.dispose()


def checksums(url: str, exclude: Sequence[str]) -> dict[str, str]:
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            return {f"{s}.{t}": v for (s, t), v in row_checksums(conn, exclude_tables=exclude).items()}
    finally:
        eng.dispose()


def diff_lines(a: frozenset[Any], b: frozenset[Any]) -> list[str]:
    """Differences from ``a`` (expected) to ``b`` (got), one line each."""
    added, removed, modified = changed(a, b)
    out = [f"missing {show(r)}" for r in removed]
    out += [f"extra {show(r)}: {r[4][:120]}" for r in added]
    out += [f"differs {show(x)}: {x[4][:100]!r} vs {y[4][:100]!r}" for x, y in modified]
    return out


def _prefix(sql_dir: Path, plan: dict[str, Any] | None, into: Path) -> Path | None:
    """A copy of the files before the first file an error problem names (None: no such prefix)."""
    import shutil

    if not plan or "files" not in plan:
        return None
    order = {f["path"]: f["order"] for f in plan["files"]}
    named = [
        order[s["file"]]
        for x in plan.get("problems", ())
        if x.get("severity") == "error"
        for s in x.get("statements", ())
        if s.get("file") in order
    ]
    if not named or min(named) == 0:
        return None
    if into.exists():
        shutil.rmtree(into)
    for path, position in order.items():
        if position < min(named):
            target = into / path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sql_dir / path, target)
    return into


def _count_findings(text: str) -> tuple[int | None, int | None, list[str]]:
    """(findings, drift findings (AG5xx), drift first) of guard-check's JSON report."""
    try:
        data = json.loads(text)
    except ValueError:
        return None, None, []
    items = data.get("findings") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return None, None, []
    drift, lines = 0, []
    for f in items:
        if isinstance(f, dict):
            code = str(f.get("code", "?"))
            drift += code.startswith("AG5")
            line = f"{code} {str(f.get('message', ''))[:160]}"
            lines.insert(drift - 1 if code.startswith("AG5") else len(lines), line)
    return len(items), drift, lines


# --------------------------------------------------------------------------
# the pipeline
# --------------------------------------------------------------------------


def run_pipeline(
    name: str,
    sql_dir: Path,
    outside: Path | None,
    server: Any,
    work: Path,
    no_transaction: set[str] | None = None,
    *,
    inprocess: bool = False,
    prefix: bool = True,
    search_path: str = "",
) -> tuple[Result, Env]:
    """Take one set through plan, import, fresh upgrade, re-apply and adoption (see the module doc).

    ``server`` is an :class:`alembic_guard.testing.PostgresServer`; the
    databases it creates are dropped at the end.  Writes only under ``work``.
    """
    t0 = time.perf_counter()
    r = Result(name)
    env = Env(work, inprocess)
    sql_dir = sql_dir.resolve()
    outside = outside.resolve() if outside is not None else None
    dbs: list[str] = []

    def new_db(with_outside: bool = True) -> str:
        url = server.create_database()
        dbs.append(url)
        if with_outside and outside is not None:
            run_sql(url, outside.read_text())
        return url

    try:
        # 1. plan, against a database holding the outside objects
        outside_db = new_db()
        env.declare_outside(outside, search_path)
        p = env.alembic(
            [
                "guard-plan",
                str(sql_dir),
                "--format",
                "json",
                *env.outside_args("guard-plan", outside, outside_db),
            ]
        )
        r.plan_exit = p.returncode
        plan: dict[str, Any] = {}
        try:
            plan = json.loads(p.stdout)
            r.files = plan["summary"]["files"]
            r.statements = plan["summary"]["statements"]
            r.not_understood = sum(1 for s in plan["steps"] if s.get("opaque"))
            r.ag102 = sum(1 for x in plan["problems"] if x["code"] == "AG102")
        except (ValueError, KeyError):
            r.import_note = f"guard-plan: {_first_error(p.stderr + p.stdout)}"

        # 2. import
        def import_args(directory: Path) -> list[str]:
            return ["guard-import", str(directory), *env.outside_args("guard-import", outside, outside_db)]

        p = env.alembic(import_args(sql_dir))
        r.import_exit = p.returncode
        if p.returncode != 0:
            r.import_note = _first_error(p.stderr + p.stdout)
            # what can be measured still: the files before the first one a problem names
            part = _prefix(sql_dir, plan, env.work / "prefix_sql") if prefix else None
            if part is None:
                return r, env
            sql_dir = part
            r.prefix_files = len(list(sql_dir.rglob("*.sql")))
            p = env.alembic(import_args(sql_dir))
            if p.returncode != 0:
                r.import_note += (
                    f"; the prefix of {r.prefix_files} files: {_first_error(p.stderr + p.stdout)}"
                )
                return r, env

        # the reference: the raw files (or the imported prefix) in the tool's order
        raw_db = new_db()
        r.raw_failures = apply_raw(raw_db, sql_dir, no_transaction)
        reference = fingerprint(raw_db)
        revisions = env.revisions()
        r.revisions = len(revisions)
        if not revisions:
            return r, env

        # 3. fresh upgrade
        fresh = new_db()
        r.fresh_exit, r.fresh_failed = env.upgrade_counting(fresh, revisions, r.fresh_debts)
        extra = _bookkeeping(fresh)
        got = fingerprint(fresh, extra)
        lines = diff_lines(reference, got)
        r.fresh_diffs = len(lines)
        r.fresh_diff_examples = lines[:12]
        (env.work / "fresh-diffs.txt").write_text("".join(f"{line}\n" for line in lines))

        # 4. guarded re-apply on the same database
        before_rows = checksums(fresh, extra)
        _mark, done0, skipped0 = ledger_mark(fresh)
        s = env.alembic(["stamp", "base"], fresh)
        if s.returncode != 0:
            r.reapply_failed = [f"stamp base: {_first_error(s.stderr + s.stdout)}"]
        else:
            r.reapply_exit, r.reapply_failed = env.upgrade_counting(fresh, revisions)
            extra = _bookkeeping(fresh)
            after = fingerprint(fresh, extra)
            again = diff_lines(got, after)
            r.reapply_schema_same = not again
            _mark, done1, skipped1 = ledger_mark(fresh)
            r.reapply_ops_done, r.reapply_ops_skipped = done1 - done0, skipped1 - skipped0
            after_rows = checksums(fresh, extra)
            r.reapply_rows_same = before_rows == after_rows
            r.reapply_examples = (
                again[:8]
                + [
                    f"rows of {t} changed"
                    for t in sorted(before_rows)
                    if before_rows.get(t) != after_rows.get(t)
                ][:8]
            )

        # 5. adoption of a database the raw files built
        adopted = new_db()
        apply_raw(adopted, sql_dir, no_transaction)
        p = env.alembic(
            ["guard-adopt", "--database", adopted, *env.outside_args("guard-adopt", outside, None)], adopted
        )
        r.adopt_exit = p.returncode
        r.adopt_note = _first_error(p.stderr + p.stdout) if p.returncode not in (0, 1) else ""
        at = current_revision(adopted)
        r.adopt_stamped = revisions.index(at) + 1 if at in revisions else 0
        r.adopt_upgrade_exit, r.adopt_failed = env.upgrade_counting(adopted, revisions)
        c = env.alembic(
            ["guard-check", "--format", "json", *env.outside_args("guard-check", outside, None)], adopted
        )
        r.check_exit = c.returncode
        r.check_findings, r.check_drift, r.check_examples = _count_findings(c.stdout)
        if r.check_findings is None:
            r.check_examples = [_first_error(c.stderr + c.stdout)]
        r.adopt_diffs = len(diff_lines(reference, fingerprint(adopted, _bookkeeping(adopted))))
    finally:
        from sqlalchemy.engine import make_url

        for url in dbs:
            with contextlib.suppress(Exception):  # cleaning up must not hide the result
                server.drop_database(make_url(url).database)
        r.seconds = time.perf_counter() - t0
    return r, env


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

COLUMNS = (
    "set",
    "files",
    "statements",
    "understood",
    "AG102",
    "import",
    "fresh upgrade",
    "schema diffs",
    "re-apply failed",
    "re-apply unchanged",
    "adopt stamped",
    "adopt upgrade failed",
    "guard-check",
)


def _exit(code: int | None) -> str:
    return "-" if code is None else f"exit {code}"


def row(r: Result) -> list[str]:
    reapply = "-"
    if r.reapply_schema_same is not None:
        same = {True: "yes", False: "NO", None: "?"}
        reapply = f"schema {same[r.reapply_schema_same]}, rows {same[r.reapply_rows_same]}"
        if r.reapply_ops_skipped is not None:
            reapply += f"; {r.reapply_ops_skipped} ops skipped, {r.reapply_ops_done} ran"
    check = "-"
    if r.check_exit is not None:
        drift = "?" if r.check_drift is None else str(r.check_drift)
        check = f"{drift} drift (exit {r.check_exit}, {r.check_findings} findings)"
    return [
        r.name,
        str(r.files),
        str(r.statements),
        f"{r.understood_pct:.1f}%",
        str(r.ag102),
        _exit(r.import_exit)
        + (f" (prefix: {r.prefix_files} files)" if r.prefix_files else "")
        + (f" ({r.revisions} revisions)" if r.revisions and not r.prefix_files else ""),
        _exit(r.fresh_exit) + (f", {len(r.fresh_failed)} failed" if r.fresh_failed else ""),
        "-" if r.fresh_diffs is None else str(r.fresh_diffs),
        "-" if r.reapply_exit is None else f"{len(r.reapply_failed)} of {r.revisions}",
        reapply,
        "-" if r.adopt_stamped is None else f"{r.adopt_stamped} of {r.revisions} ({_exit(r.adopt_exit)})",
        "-" if r.adopt_upgrade_exit is None else f"{len(r.adopt_failed)}",
        check,
    ]


def table(results: Sequence[Result]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(r)) + " |" for r in results]
    return "\n".join(lines) + "\n"


def details(r: Result) -> str:
    out = [f"### {r.name} ({r.seconds:.0f} s)"]
    if r.raw_failures:
        out.append(f"- raw files do not apply: {r.raw_failures[0]}")
    if r.import_note:
        out.append(f"- import: {r.import_note}")
    for label, items in (
        ("fresh upgrade failed", r.fresh_failed),
        ("fresh upgrade did not send", r.fresh_debts),
        ("fresh schema differs", r.fresh_diff_examples),
        ("re-apply failed", r.reapply_failed),
        ("re-apply changed", r.reapply_examples),
        ("adopt upgrade failed", r.adopt_failed),
        ("guard-check", r.check_examples),
    ):
        for item in items[:6]:
            out.append(f"- {label}: {item}")
        if len(items) > 6:
            out.append(f"- {label}: ... {len(items) - 6} more")
    if r.adopt_note:
        out.append(f"- adopt: {r.adopt_note}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT / "bench"))
    import corpus

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", help=f"corpus sets (default all: {', '.join(corpus.SETS)})")
    parser.add_argument("--url", default=None, help="superuser URL of a server to use (default: start one)")
    parser.add_argument(
        "--bindir", default=None, help="PostgreSQL binaries for the server started (PG_BINDIR)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--keep", type=Path, default=None, help="keep each set's Alembic environment here")
    parser.add_argument(
        "--inprocess",
        action="store_true",
        help="run the alembic commands in this process (faster: no Python start-up per command)",
    )
    args = parser.parse_args(argv)

    import tempfile

    from alembic_guard.testing import PostgresServer

    server = PostgresServer.external(args.url) if args.url else PostgresServer(bindir=args.bindir).start()
    results: list[Result] = []
    try:
        for name in args.sets or list(corpus.SETS):
            m = corpus.load(name)
            base = Path(str(m["dir"]))
            outside = base / str(m["outside"]) if m.get("outside") else None
            notx = {f["path"] for f in m["files"] if f["no_transaction"]}  # type: ignore[union-attr,index]
            work = (args.keep / name) if args.keep else Path(tempfile.mkdtemp(prefix=f"realworld_{name}_"))
            if work.exists() and any(work.iterdir()):
                subprocess.run(["rm", "-rf", str(work)], check=True)
            spec = corpus.SETS.get(name)
            r, env = run_pipeline(
                name,
                base / "sql",
                outside,
                server,
                work,
                notx,
                inprocess=args.inprocess,
                search_path=spec.search_path if spec is not None else "",
            )
            (work / "commands.log").write_text("\n".join(env.log))
            results.append(r)
            sys.stdout.write(details(r))
            sys.stdout.flush()
    finally:
        if not args.url:
            server.stop()
    sys.stdout.write("\n" + table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
