"""Runtime benchmark (issue 4): guarded ``alembic upgrade head`` against plain Alembic.

Usage: ``.venv/bin/python bench/bench_runtime.py [--revisions 200] [--large 800] [--replicas 16]``

1. 200 generated revisions (each adds a table, a column or an index), applied
   by ``alembic upgrade head`` in a fresh database: guarded environment vs
   Alembic's stock ``generic`` environment, same revision files, same server.
   Target: guarded ≤ 1.15× plain.
2. 800 revisions ÷ 200 revisions, guarded.  Target ≤ 4.4× (linear or better).
3. 16 replicas start ``alembic upgrade head`` together on one fresh database:
   all done within the single-run time + 1 s.

Each timing is the wall time of the whole ``alembic`` process (start-up
included), best of ``--repeat``.  Uses ALEMBIC_GUARD_TEST_URL's server when
set, else starts a throwaway one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alembic_guard.runtime.sandbox import GuardedProject, alembic_executable
from alembic_guard.testing import shared_server


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


def plain_project(root: Path, url: str) -> tuple[Path, dict[str, str]]:
    """Alembic's own ``generic`` template (``alembic init``), URL in alembic.ini."""
    root.mkdir(parents=True)
    subprocess.run([alembic_executable(), "init", "migrations"], cwd=root, check=True, capture_output=True)
    ini = root / "alembic.ini"
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname", url))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return ini, env


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def best_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    return min(fn() for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--revisions", type=int, default=200)
    ap.add_argument("--large", type=int, default=800)
    ap.add_argument("--replicas", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    server = shared_server()
    tmp = Path(tempfile.mkdtemp(prefix="bench_runtime_"))
    try:

        def fresh() -> str:
            return server.create_database()

        guarded = GuardedProject(tmp / "guarded", "unset")
        generate(guarded.versions, args.revisions)
        plain_ini, plain_env = plain_project(tmp / "plain", "unset")
        generate(plain_ini.parent / "migrations" / "versions", args.revisions)

        def run_guarded(project: GuardedProject, **env: str) -> float:
            return timed(
                project.command("upgrade", "head"), project.root, project.env(DATABASE_URL=fresh(), **env)
            )

        def run_plain() -> float:
            url = fresh()
            text = plain_ini.read_text()
            start = text.index("sqlalchemy.url = ")
            end = text.index("\n", start)
            plain_ini.write_text(text[:start] + f"sqlalchemy.url = {url}" + text[end:])
            return timed(
                [alembic_executable(), "-c", str(plain_ini), "upgrade", "head"], plain_ini.parent, plain_env
            )

        # Interleave so both see the same machine load.
        g_times, p_times, n_times = [], [], []
        for _ in range(args.repeat):
            p_times.append(run_plain())
            g_times.append(run_guarded(guarded))
            # The same run without pre-flight (no offline rendering, no per-revision refresh of the
            # touched tables): separates the runtime's own cost (lock, ledger, a commit per revision,
            # guarded ops) from the pre-flight's.
            n_times.append(run_guarded(guarded, ALEMBIC_GUARD_PREFLIGHT="false"))
        g, p, n = min(g_times), min(p_times), min(n_times)
        print(
            f"{args.revisions} revisions: plain Alembic {p:.2f}s, guarded {g:.2f}s, ratio {g / p:.2f}x "
            f"(target <= 1.15x); guarded without pre-flight {n:.2f}s, ratio {n / p:.2f}x"
        )

        large = GuardedProject(tmp / "large", "unset")
        generate(large.versions, args.large)
        gl = best_of(max(1, args.repeat - 1), lambda: run_guarded(large))
        print(
            f"{args.large} revisions guarded: {gl:.2f}s; {args.large}/{args.revisions} time ratio "
            f"{gl / g:.2f}x (target <= {4.4 * args.large / 800:.1f}x)"
        )

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
        print(
            f"{args.replicas} replicas together: the one that migrated finished at {finish[holder]:.2f}s, "
            f"the last replica at {last:.2f}s (+{last - finish[holder]:.2f}s); target: all within the "
            f"single-run time + 1 s = {g + 1:.2f}s ({'ok' if last <= g + 1 else 'over'})"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
