"""Runtime benchmark (issue 4): guarded ``alembic upgrade head`` against plain Alembic.

Usage: ``.venv/bin/python bench/bench_runtime.py [--revisions 200] [--large 800] [--replicas 16]
[--repeat 3] [--only floor|replicas]``

1. 200 generated revisions (each adds a table, a column or an index), applied
   by ``alembic upgrade head`` in a fresh database: guarded environment vs
   Alembic's stock ``generic`` environment, same revision files, same server.
   Target: guarded ≤ 1.15× plain.  Also shown, to explain the gap: the guarded
   run without pre-flight, and plain Alembic with one transaction per revision
   (what the guarded runtime does, so that a failure loses one revision only).
2. 800 revisions ÷ 200 revisions, guarded (medians, interleaved with the
   above).  Target ≤ 4.4× (linear or better).
3. 16 replicas start ``alembic upgrade head`` together on one fresh database:
   all done within the single-run time + 1 s.  Also: the CPU one replica
   spends when it finds the database at head already (start-up cost).
4. Floors, to tell what any implementation can reach on this machine:
   a plain Alembic project whose env.py does, before each revision, only the
   work issue 4 mandates (a ledger INSERT on a second, AUTOCOMMIT connection;
   one prepared catalog read of the table the revision touches; the offline
   render + pglast analysis of the revision), in a transaction per revision —
   compared with plain Alembic like the guarded run; and ``--replicas`` plain
   Alembic processes started together on a database already at head.

Each timing is the wall time of the whole ``alembic`` process (start-up
included) and its CPU time (user + system, from ``getrusage`` of the
children); the variants run interleaved, ``--repeat`` times, and medians are
reported (minimums too).  Uses ALEMBIC_GUARD_TEST_URL's server when set, else
starts a throwaway one with ``pg_stat_statements`` loaded: then one more run
of each variant counts the statements the server executed (every round trip:
``BEGIN`` and ``COMMIT`` included, all of the run's connections) per revision.
On a shared machine the wall ratio moves with the load; the CPU ratio and the
statement counts are the steadier figures.  The package is byte-compiled
first (``scripts/setup.sh`` does the same): with ``PYTHONDONTWRITEBYTECODE``
set, a stale ``.pyc`` would be recompiled in every timed process.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import alembic_guard
from alembic_guard.testing import GuardedProject, PostgresServer, alembic_executable, shared_server


def generate(project_versions: Path, n: int) -> None:
    """Revision i: every 3rd creates a table, the next adds a column to it, the next indexes that column."""
    for i in range(n):
        table = f"t{i // 3}"
        kind = i % 3
        if kind == 0:
            body = f'op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))'
        elif kind == 1:
            body = f'op.add_column("{table}", sa.Column("c{i}", sa.Integer))'
        else:
            body = f'op.create_index("ix_{table}_c{i - 1}", "{table}", ["c{i - 1}"])'
        down = repr(f"r{i - 1:04d}") if i else "None"
        (project_versions / f"r{i:04d}.py").write_text(
            "import sqlalchemy as sa\nfrom alembic import op\n\n"
            f'revision = "r{i:04d}"\ndown_revision = {down}\nbranch_labels = None\ndepends_on = None\n\n\n'
            f"def upgrade():\n    {body}\n\n\ndef downgrade():\n    pass\n",
            encoding="utf-8",
        )


def plain_project(root: Path, url: str, *, per_revision: bool = False) -> tuple[Path, dict[str, str]]:
    """Alembic's own ``generic`` template (``alembic init``), URL in alembic.ini.

    ``per_revision``: its env.py passes ``transaction_per_migration=True``.
    """
    root.mkdir(parents=True)
    subprocess.run([alembic_executable(), "init", "migrations"], cwd=root, check=True, capture_output=True)
    ini = root / "alembic.ini"
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname", url))
    if per_revision:
        env_py = root / "migrations" / "env.py"
        text = env_py.read_text()
        marker = "target_metadata=target_metadata"
        assert text.count(marker) == 2, "alembic's generic env.py changed"
        env_py.write_text(text.replace(marker, marker + ", transaction_per_migration=True"))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return ini, env


# run_migrations_online() of the "floor" project: Alembic's generic env.py plus, before each
# revision (in its own transaction), only what issue 4 mandates, with no other glue.
FLOOR_ONLINE = '''def run_migrations_online() -> None:
    """Floor: per-revision transaction + ledger insert + catalog read + offline analysis."""
    import functools
    import os

    from alembic.runtime.migration import RevisionStep

    from alembic_guard.live.catalog import relations_detailed
    from alembic_guard.runtime.preflight import analyze_revision

    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    env_context = getattr(context, "_proxy", context)
    pid = os.getpid()

    with connectable.connect() as connection, connectable.connect() as ledger:
        ledger = ledger.execution_options(isolation_level="AUTOCOMMIT")
        ledger.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS floor_ledger (id bigserial PRIMARY KEY, "
            "revision text NOT NULL, pid integer NOT NULL, "
            "started_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )

        def wrap_step(step, migration_context):
            inner = step.migration_fn
            revision = str(step.revision.revision)
            path = getattr(step.revision, "path", None)
            table = f"t{int(revision[1:]) // 3}"

            @functools.wraps(inner)
            def run(**kw):
                # (a) ledger-like record, own AUTOCOMMIT connection
                ledger.exec_driver_sql(
                    "INSERT INTO floor_ledger (revision, pid) VALUES (%s, %s)", (revision, pid)
                )
                # (b) catalog read of the touched table, migration connection
                relations_detailed(migration_context.connection, [("public", table)], prepared=True)
                # (c) offline render + analysis (no checksum: nothing cached)
                analyze_revision(revision, path, inner)
                return inner(**kw)

            return run

        def wrap_fn(original):
            def fn(heads, migration_context):
                steps = list(original(heads, migration_context))
                for step in steps:
                    if isinstance(step, RevisionStep):
                        step.migration_fn = wrap_step(step, migration_context)
                return steps

            return fn

        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            transaction_per_migration=True,
            fn=wrap_fn(env_context.context_opts["fn"]),
        )

        with context.begin_transaction():
            context.run_migrations()


'''


def floor_project(root: Path, url: str) -> tuple[Path, dict[str, str]]:
    """``plain_project`` whose online env.py is ``FLOOR_ONLINE``."""
    ini, env = plain_project(root, url)
    env_py = root / "migrations" / "env.py"
    text = env_py.read_text()
    start = text.index("def run_migrations_online()")
    end = text.index("if context.is_offline_mode():")
    assert start < end, "alembic's generic env.py changed"
    env_py.write_text(text[:start] + FLOOR_ONLINE + text[end:])
    return ini, env


def set_url(ini: Path, url: str) -> None:
    text = ini.read_text()
    start = text.index("sqlalchemy.url = ")
    end = text.index("\n", start)
    ini.write_text(text[:start] + f"sqlalchemy.url = {url}" + text[end:])


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def summary(runs: list[tuple[float, float]]) -> tuple[float, float, float]:
    """(median wall, min wall, median CPU)."""
    walls = [w for w, _ in runs]
    return statistics.median(walls), min(walls), statistics.median(c for _, c in runs)


def start_together(
    cmds: list[list[str]], cwd: Path, env: dict[str, str], logdir: Path, name: str
) -> tuple[list[float], float]:
    """Start the commands at once: the seconds after which each one exited (in order), and their CPU seconds.

    Their stderr goes to files in ``logdir``.
    """
    # Logs go to files: a pipe nobody reads until the end could fill up and stall a process.
    logs = [open(logdir / f"{name}{i}.log", "w+") for i in range(len(cmds))]  # noqa: SIM115
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
        for cmd, log in zip(cmds, logs, strict=True)
    ]
    finish: dict[int, float] = {}
    while len(finish) < len(procs):
        for i, proc in enumerate(procs):
            if i not in finish and proc.poll() is not None:
                finish[i] = time.perf_counter() - t0
                if proc.returncode:
                    logs[i].seek(0)
                    raise SystemExit(f"{' '.join(cmds[i])} failed:\n{logs[i].read()}")
        time.sleep(0.02)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for log in logs:
        log.close()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return [finish[i] for i in range(len(procs))], cpu


def compile_package() -> None:
    """Byte-compile alembic_guard as scripts/setup.sh does (the timed processes then load .pyc files)."""
    package = Path(alembic_guard.__file__).parent
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "-x", "/templates/", str(package)],
        check=True,
        capture_output=True,
    )


def bench_server() -> tuple[PostgresServer, bool]:
    """The server to measure on, and whether it counts statements (``pg_stat_statements`` loaded)."""
    if os.environ.get("ALEMBIC_GUARD_TEST_URL"):
        return shared_server(), False
    server = PostgresServer(
        settings={"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.max": "20000"}
    ).start()
    return server, True


def statements_executed(url: str, run: Callable[[str], object]) -> int:
    """How many statements the server executed in ``url``'s database while ``run(url)`` ran.

    Every statement of every connection counts once (a round trip each, as the
    drivers send them; ``BEGIN`` / ``COMMIT`` included as utility statements).
    """
    from sqlalchemy import create_engine

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.exec_driver_sql("SELECT pg_stat_statements_reset()")
        run(url)
        with engine.connect() as conn:
            total = conn.exec_driver_sql(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND strpos(query, 'pg_stat_statements') = 0"
            ).scalar_one()
    finally:
        engine.dispose()
    return int(total)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--revisions", type=int, default=200)
    ap.add_argument("--large", type=int, default=800)
    ap.add_argument("--replicas", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--only",
        choices=("floor", "replicas"),
        help="run only this new part (plus the plain and guarded runs its figures compare with)",
    )
    args = ap.parse_args()
    everything = args.only is None
    with_floor = args.only in (None, "floor")
    with_replicas = args.only in (None, "replicas")

    compile_package()
    server, counts = bench_server()
    tmp = Path(tempfile.mkdtemp(prefix="bench_runtime_"))
    try:

        def fresh() -> str:
            return server.create_database()

        guarded = GuardedProject(tmp / "guarded", "unset")
        generate(guarded.versions, args.revisions)
        plain_ini, plain_env = plain_project(tmp / "plain", "unset")
        generate(plain_ini.parent / "migrations" / "versions", args.revisions)
        per_ini, _ = plain_project(tmp / "plain_per_revision", "unset", per_revision=True)
        generate(per_ini.parent / "migrations" / "versions", args.revisions)
        floor_ini, _ = floor_project(tmp / "floor", "unset")
        generate(floor_ini.parent / "migrations" / "versions", args.revisions)

        def run_guarded(project: GuardedProject, url: str | None = None, **env: str) -> tuple[float, float]:
            return timed(
                project.command("upgrade", "head"),
                project.root,
                project.env(DATABASE_URL=url or fresh(), **env),
            )

        def run_plain(ini: Path, url: str | None = None) -> tuple[float, float]:
            set_url(ini, url or fresh())
            return timed([alembic_executable(), "-c", str(ini), "upgrade", "head"], ini.parent, plain_env)

        large = GuardedProject(tmp / "large", "unset")
        generate(large.versions, args.large)

        # Interleave so all variants see the same machine load.
        runs: dict[str, list[tuple[float, float]]] = {
            k: [] for k in ("plain", "per", "guarded", "nopf", "large", "floor")
        }
        for _ in range(args.repeat):
            if everything:
                runs["large"].append(run_guarded(large))
            runs["plain"].append(run_plain(plain_ini))
            runs["guarded"].append(run_guarded(guarded))
            if everything:
                runs["per"].append(run_plain(per_ini))
                # Without pre-flight (no offline rendering, no per-revision refresh of the
                # touched tables): the runtime's own cost (lock, ledger, a commit per
                # revision, guarded ops) apart from the pre-flight's.
                runs["nopf"].append(run_guarded(guarded, ALEMBIC_GUARD_PREFLIGHT="false"))
            if with_floor:
                # Only the mandated work, no other glue: what no implementation can go below.
                runs["floor"].append(run_plain(floor_ini))
        p, p_min, p_cpu = summary(runs["plain"])
        g, g_min, g_cpu = summary(runs["guarded"])
        print(f"{args.revisions} revisions, median of {args.repeat} (wall / CPU of the alembic process):")
        print(f"  plain Alembic                      {p:6.2f}s / {p_cpu:5.2f}s  (min {p_min:.2f}s)")
        if everything:
            r, _, r_cpu = summary(runs["per"])
            n, _, n_cpu = summary(runs["nopf"])
            print(f"  plain, a transaction per revision  {r:6.2f}s / {r_cpu:5.2f}s  ratio {r / p:.2f}x")
            print(f"  guarded without pre-flight         {n:6.2f}s / {n_cpu:5.2f}s  ratio {n / p:.2f}x")
        if with_floor:
            f, f_min, f_cpu = summary(runs["floor"])
            print(
                "  floor (plain + per-revision tx + ledger insert + catalog read + pre-flight plan, "
                "no other code)\n"
                f"                                     {f:6.2f}s / {f_cpu:5.2f}s  ratio {f / p:.2f}x "
                f"(min/min {f_min / p_min:.2f}x; CPU {f_cpu / p_cpu:.2f}x; "
                f"{'the 1.15x target is out of reach' if f / p > 1.15 else 'within 1.15x'})"
            )
        print(
            f"  guarded                            {g:6.2f}s / {g_cpu:5.2f}s  ratio {g / p:.2f}x "
            f"(min/min {g_min / p_min:.2f}x; CPU {g_cpu / p_cpu:.2f}x; target <= 1.15x)"
        )
        if counts:
            # Round trips: what a loaded machine cannot blur.  One more run of each variant.
            counted = {
                "plain": statements_executed(fresh(), lambda url: run_plain(plain_ini, url)),
                "guarded": statements_executed(fresh(), lambda url: run_guarded(guarded, url)),
            }
            if everything:
                counted["plain, a transaction per revision"] = statements_executed(
                    fresh(), lambda url: run_plain(per_ini, url)
                )
            if with_floor:
                counted["floor"] = statements_executed(fresh(), lambda url: run_plain(floor_ini, url))
            print("statements the server executed (round trips, BEGIN/COMMIT included), per revision:")
            for name, total in counted.items():
                print(f"  {name:34s} {total / args.revisions:5.2f}  ({total} in all)")

        if everything:
            gl = summary(runs["large"])[0]
            print(
                f"{args.large} revisions guarded: {gl:.2f}s; {args.large}/{args.revisions} time ratio "
                f"{gl / g:.2f}x (target <= {4.4 * args.large / 800:.1f}x)"
            )

        if with_replicas:
            # Start-up cost of a replica that finds the database at head: what 16 of them
            # starting at once cost the one that migrates, on a small machine.
            at_head = fresh()
            run_guarded(guarded, at_head)
            head_runs = {"guarded": [run_guarded(guarded, at_head) for _ in range(args.repeat)]}
            head_runs["plain"] = [run_plain(plain_ini, at_head) for _ in range(args.repeat)]
            hg, _, hg_cpu = summary(head_runs["guarded"])
            hp, _, hp_cpu = summary(head_runs["plain"])
            print(
                f"a replica finding the database at head: guarded {hg:.2f}s / {hg_cpu:.2f}s CPU, "
                f"plain Alembic {hp:.2f}s / {hp_cpu:.2f}s CPU"
            )

        if everything:
            url = fresh()
            env = guarded.env(DATABASE_URL=url)
            # Logs go to files: a pipe nobody reads until the end could fill up and stall a replica.
            logs = [open(tmp / f"replica{i}.log", "w+") for i in range(args.replicas)]  # noqa: SIM115
            t0 = time.perf_counter()
            procs = [
                subprocess.Popen(
                    guarded.command("upgrade", "head"),
                    cwd=guarded.root,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    text=True,
                )
                for log in logs
            ]
            finish: dict[int, float] = {}
            holder = -1
            while len(finish) < len(procs):
                for i, proc in enumerate(procs):
                    if i not in finish and proc.poll() is not None:
                        finish[i] = time.perf_counter() - t0
                        logs[i].seek(0)
                        err = logs[i].read()
                        if proc.returncode:
                            raise SystemExit(f"a replica failed:\n{err}")
                        if "applied r0000" in err:
                            holder = i
                time.sleep(0.02)
            last = max(finish.values())
            verdict = "ok" if last <= g + 1 else "over"
            print(
                f"{args.replicas} replicas together: the one that migrated finished at "
                f"{finish[holder]:.2f}s, the last replica at {last:.2f}s (+{last - finish[holder]:.2f}s); "
                f"target: all within the single-run time + 1 s = {g + 1:.2f}s ({verdict})"
            )

        if with_replicas:
            # Floor of the replicas target: plain Alembic processes that have nothing to do but
            # start, read the revision files and the version table, all at once on these CPUs.
            set_url(plain_ini, at_head)
            cmd = [alembic_executable(), "-c", str(plain_ini), "upgrade", "head"]
            done_at, all_cpu = start_together(
                [cmd] * args.replicas, plain_ini.parent, plain_env, tmp, "plain_at_head"
            )
            plast = max(done_at)
            alone = f"one alone: {hp:.2f} s / {hp_cpu:.2f} s CPU median"
            together = f"the {args.replicas} together: {all_cpu:.2f} s CPU on {os.cpu_count()} CPUs"
            print(
                f"{args.replicas} plain Alembic processes with nothing to do, together: last done at "
                f"{plast:.2f} s (target for guarded: {g + 1:.2f} s; {alone}; {together})"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if counts:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
