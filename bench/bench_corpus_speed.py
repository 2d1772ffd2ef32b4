"""Benchmark: our analysis of the real-world corpus vs squawk on the same files (issue 10).

``python bench/bench_corpus_speed.py [SET ...] [--batch 100]``

For each set of the corpus (``bench/corpus.py``) and in total, one run of:

- ours: what ``guard-plan`` computes without a database - ``load_directory``
  -> ``parse_source`` -> ``analyze_all`` -> ``plan`` - in this process, with
  the cyclic garbage collector paused as the CLI runs it; CPU time is this
  process's (``time.process_time``);
- squawk (PyPI ``squawk-cli``, installed by the ``dev`` extra): ``squawk``
  over the same files (the analysed up files), in batches of ``--batch``
  paths per process; CPU time is its children's user + system time
  (``RUSAGE_CHILDREN``).  squawk exits 1 when it reports violations, which is
  expected and still timed.

Prints per set: files, KiB, statements, both CPU times and the ratio ours /
squawk (target: within 2x).  One run each, as the issue asks; on a shared
machine CPU time is the figure to compare, wall time is shown for reference.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import corpus  # noqa: E402

from alembic_guard.plan import plan  # noqa: E402
from alembic_guard.sql.effects import analyze_all  # noqa: E402
from alembic_guard.sql.parse import gc_paused, parse_source  # noqa: E402
from alembic_guard.sql.source import load_directory  # noqa: E402


def ours(directory: Path) -> tuple[float, float, int]:
    """(cpu, wall, statements) of one guard-plan analysis of ``directory``."""
    cpu, wall = time.process_time(), time.perf_counter()
    with gc_paused():
        sources = load_directory(directory)
        statements = [s for src in sources for s in parse_source(src)]
        plan(analyze_all(statements))
    return time.process_time() - cpu, time.perf_counter() - wall, len(statements)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def squawk(files: list[Path], batch: int) -> tuple[float, float]:
    """(cpu, wall) of squawk over ``files``."""
    exe = shutil.which("squawk", path=str(Path(sys.executable).parent)) or shutil.which("squawk")
    if exe is None:
        raise SystemExit("squawk not found: pip install squawk-cli (the dev extra installs it)")
    cpu, wall = _children_cpu(), time.perf_counter()
    for i in range(0, len(files), batch):
        subprocess.run([exe, *map(str, files[i : i + batch])], capture_output=True)
    return _children_cpu() - cpu, time.perf_counter() - wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="*", help=f"corpus sets (default all: {', '.join(corpus.SETS)})")
    parser.add_argument("--batch", type=int, default=100, help="files per squawk process (default 100)")
    args = parser.parse_args(argv)
    print(f"{'set':20} {'files':>5} {'KiB':>7} {'stmts':>6} {'ours cpu':>9} {'squawk cpu':>10} {'ratio':>6}")
    total = [0, 0.0, 0, 0.0, 0.0, 0.0, 0.0]
    for name in args.sets or list(corpus.SETS):
        m = corpus.load(name)
        sql = Path(str(m["dir"])) / "sql"
        files = [sql / f["path"] for f in m["files"]]  # type: ignore[attr-defined,index]
        size = sum(p.stat().st_size for p in files)
        o_cpu, o_wall, n = ours(sql)
        s_cpu, s_wall = squawk(files, args.batch)
        print(
            f"{name:20} {len(files):5} {size / 1024:7.1f} {n:6} {o_cpu:8.3f}s {s_cpu:9.3f}s "
            f"{o_cpu / s_cpu if s_cpu else float('inf'):5.2f}x   (wall {o_wall:.3f}s vs {s_wall:.3f}s)"
        )
        for i, v in enumerate((len(files), size, n, o_cpu, s_cpu, o_wall, s_wall)):
            total[i] += v
    files_n, size_t, n_t, o_cpu, s_cpu, o_wall, s_wall = total
    print(
        f"{'total':20} {int(files_n):5} {size_t / 1024:7.1f} {int(n_t):6} {o_cpu:8.3f}s {s_cpu:9.3f}s "
        f"{o_cpu / s_cpu if s_cpu else float('inf'):5.2f}x   (wall {o_wall:.3f}s vs {s_wall:.3f}s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
