"""Benchmark: ``alembic guard-check --offline`` over generated revisions, against ``upgrade --sql | squawk``.

Usage: ``.venv/bin/python bench/bench_check.py [--revisions 200] [--repeat 3] [--keep DIR]``

1. generates a guarded project (``GuardedProject``) with N linear revisions
   cycling through: create a table, add a column, index it, raw SQL through
   ``op.execute`` (a CHECK constraint and an UPDATE), an index built
   concurrently in an autocommit block (deterministic);
2. times ``alembic guard-check --offline --format json`` as a user runs it (a
   new process: interpreter start, imports, loading the revisions, offline
   rendering, parsing, analysis, replay, lint, report).  Target ≤ 2 s for 200;
3. times the usual alternative on the same revisions: ``alembic upgrade head
   --sql`` into a file, then ``squawk`` on that file (``.venv/bin/squawk``;
   it exits 1 when it reports violations, which is expected).  Target for
   guard-check / (upgrade --sql + squawk) ≤ 1.5×;
4. also reports the in-process time of :func:`alembic_guard.check.collect`
   (no interpreter start-up), split into loading+rendering and the checks.

Times are the best of ``--repeat`` wall-clock runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alembic_guard.testing import GuardedProject, alembic_executable  # noqa: E402


def body(i: int) -> str:
    table = f"t{i // 5}"
    kind = i % 5
    col = f"c{i // 5}"
    if kind == 0:
        return (
            f'op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True),\n'
            f'    sa.Column("name", sa.Text, nullable=False))'
        )
    if kind == 1:
        return f'op.add_column("{table}", sa.Column("{col}", sa.Integer))'
    if kind == 2:
        return f'op.create_index("ix_{table}_{col}", "{table}", ["{col}"])'
    if kind == 3:
        return (
            f'op.execute("ALTER TABLE {table} ADD CONSTRAINT ck_{table}_{col} "\n'
            f'           "CHECK ({col} >= 0) NOT VALID")\n'
            f'op.execute("UPDATE {table} SET {col} = 0 WHERE {col} IS NULL")'
        )
    return (
        "with op.get_context().autocommit_block():\n"
        f'    op.create_index("ix_{table}_name", "{table}", ["name"], postgresql_concurrently=True)'
    )


def generate(root: Path, n: int) -> GuardedProject:
    project = GuardedProject(root, "postgresql://bench@localhost/unused")
    for i in range(n):
        project.add_revision(f"r{i:04d}", f"r{i - 1:04d}" if i else None, body(i))
    return project


def timed(cmd: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,), stdout=None) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--revisions", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", default=None, help="generate into this directory and keep it")
    args = ap.parse_args()

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_check_"))
    if tmp.exists() and args.keep:
        shutil.rmtree(tmp)
    project = generate(tmp, args.revisions)
    env = project.env()
    env.pop("DATABASE_URL", None)
    alembic = alembic_executable()
    squawk = str(Path(sys.executable).parent / "squawk")
    sql_file = tmp / "upgrade.sql"

    def check_once() -> float:
        return timed(
            [alembic, "-c", str(project.ini), "guard-check", "--offline", "--format", "json"],
            tmp,
            env,
            ok=(0, 1),
        )

    def squawk_once() -> tuple[float, float]:
        with open(sql_file, "wb") as fh:
            render = timed([alembic, "-c", str(project.ini), "upgrade", "head", "--sql"], tmp, env, stdout=fh)
        lint = timed([squawk, str(sql_file)], tmp, env, ok=(0, 1))
        return render, lint

    # in-process: what the check costs without interpreter start-up
    os.chdir(tmp)
    from alembic.config import Config

    from alembic_guard.check import CheckOptions, collect, static

    config = Config(str(project.ini))
    t0 = time.perf_counter()
    script_dir = static.load_script_directory(config)
    runs = static.render_all(static.ordered_scripts(script_dir), str(tmp))
    t1 = time.perf_counter()
    static.check_static(runs, [str(h) for h in script_dir.get_heads()], guarded=True, lock_timeout_set=True)
    t2 = time.perf_counter()
    report = collect(Config(str(project.ini)), CheckOptions(offline=True))

    check_times = [check_once() for _ in range(args.repeat)]
    squawk_times = [squawk_once() for _ in range(args.repeat)]
    best_check = min(check_times)
    best_render = min(r for r, _ in squawk_times)
    best_squawk = min(s for _, s in squawk_times)
    baseline = best_render + best_squawk
    ratio = best_check / baseline

    s = report.summary
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}")
    print(
        f"{args.revisions} revisions, {sum(len(r.statements) for r in report.revisions)} statements; "
        f"{s.errors} error(s), {s.warnings} warning(s) found"
    )
    print(f"| step | time (best of {args.repeat}) | target |")
    print("|---|---:|---|")
    verdict = "met" if best_check <= 2.0 else "**not met**"
    print(f"| `alembic guard-check --offline` (new process) | {best_check:.2f} s | ≤ 2 s — {verdict} |")
    print(f"| in-process: load, render, parse, analyze {args.revisions} revisions | {t1 - t0:.2f} s | |")
    print(f"| in-process: replay, reference checks, lint | {t2 - t1:.2f} s | |")
    print(f"| `alembic upgrade head --sql` (new process) | {best_render:.2f} s | |")
    print(f"| `squawk` on that SQL | {best_squawk:.2f} s | |")
    verdict = "met" if ratio <= 1.5 else "**not met**"
    print(f"| **guard-check / (upgrade --sql + squawk)** | **{ratio:.2f}×** | ≤ 1.5× — {verdict} |")
    if not args.keep:
        os.chdir(ROOT)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
