"""Benchmark: raw SQL analysis and planning throughput, against squawk on the same files.

``python bench/bench_analysis.py [--files 500] [--megabytes 10] [--repeat 3] [--out DIR] [--no-squawk]``

1. generates the migration set with ``bench/gen_sql.py`` (deterministic) into
   a temporary directory (or ``--out``);
2. times our pipeline, stage by stage: ``load_directory`` -> ``parse_source``
   -> ``effects.analyze_all`` -> ``plan`` (``alembic_guard.plan.planner.plan``
   or ``alembic_guard.plan.plan``).  Stages whose module does
   not exist yet are skipped and the report says so.  The pipeline runs with
   the cyclic garbage collector paused (``gc_paused``, as the CLI runs it)
   and, for comparison, with Python's default collector;
3. times ``squawk`` (PyPI ``squawk-cli``) linting the same files, passed in
   batches; squawk exits 1 when it reports violations, which is expected;
4. prints MB/s per stage, the pipeline's MB/s, and the ratio ours / squawk;
5. prints the parse floor: pglast's C parser alone, and decoding its JSON
   with ``json`` and (when installed) ``orjson``, which ``parse_source``
   prefers.

Times are the best of ``--repeat`` runs, wall clock and CPU (process time for
us, children's CPU time for squawk): other work on the machine inflates wall
time, CPU time much less.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gen_sql import generate  # noqa: E402

from alembic_guard.sql.parse import parse_source  # noqa: E402
from alembic_guard.sql.source import load_directory  # noqa: E402


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    """``module.name`` if that stage has been written, else None."""
    try:
        found: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return found
    except (ImportError, AttributeError):
        return None


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run_pipeline(directory: Path, paused: bool) -> tuple[dict[str, tuple[float, float]], dict[str, Any]]:
    """One run of every available stage; returns {stage: (wall, cpu)} and facts about the result."""
    analyze_all = _optional("alembic_guard.sql.effects", "analyze_all")
    plan = _optional("alembic_guard.plan.planner", "plan") or _optional("alembic_guard.plan", "plan")
    times: dict[str, tuple[float, float]] = {}
    facts: dict[str, Any] = {}
    previous = gc.isenabled()
    if paused:
        gc.disable()
    else:
        gc.enable()
    try:
        files, w, c = _timed(lambda: load_directory(directory))
        times["load"] = (w, c)
        statements, w, c = _timed(lambda: [s for f in files for s in parse_source(f)])
        times["parse"] = (w, c)
        facts["files"], facts["statements"] = len(files), len(statements)
        facts["bytes"] = sum(len(f.text.encode("utf-8")) for f in files)
        if analyze_all is not None:
            analyzed, w, c = _timed(lambda: analyze_all(statements))
            times["effects"] = (w, c)
            facts["opaque"] = sum(1 for a in analyzed if a.effect.opaque)
            if plan is not None:
                result, w, c = _timed(lambda: plan(analyzed))
                times["plan"] = (w, c)
                facts["steps"] = len(result.steps)
                facts["moved"] = sum(1 for step in result.steps if getattr(step, "moved", False))
                facts["problems"] = len(result.problems)
                facts["problem_codes"] = sorted({p.code for p in result.problems})
    finally:
        if previous:
            gc.enable()
        else:
            gc.disable()
    return times, facts


def run_squawk(directory: Path, batch: int = 100) -> tuple[float, float, list[int]] | None:
    """Wall and CPU seconds for squawk to lint every file, and its exit codes."""
    exe = shutil.which("squawk", path=str(Path(sys.executable).parent)) or shutil.which("squawk")
    if not exe:
        return None
    files = sorted(p.name for p in directory.glob("*.sql"))
    codes = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    for i in range(0, len(files), batch):
        proc = subprocess.run(
            [exe, *files[i : i + batch]], cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        codes.append(proc.returncode)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, sorted(set(codes))


def parse_floor(directory: Path, repeat: int) -> dict[str, float]:
    """CPU seconds (best of ``repeat``) of what the parse stage cannot avoid.

    pglast's C parser producing JSON, and decoding that JSON into the dicts the
    analysis walks, with the standard library and with ``orjson`` when it is
    installed.  Their sum is the floor of the parse stage in pure Python.
    """
    import json

    from pglast.parser import parse_sql_json

    texts = [f.text for f in load_directory(directory)]
    decoders: dict[str, Callable[[str], Any]] = {"json.loads": json.loads}
    try:
        import orjson

        decoders["orjson.loads"] = orjson.loads
    except ImportError:
        pass
    best: dict[str, float] = {}
    previous = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            raws, _w, c = _timed(lambda: [parse_sql_json(t) for t in texts])
            best["C parse (parse_sql_json)"] = min(best.get("C parse (parse_sql_json)", c), c)
            for name, loads in decoders.items():
                c = _decode_cpu(loads, raws)
                best[name] = min(best.get(name, c), c)
            best["JSON MB"] = sum(len(r) for r in raws) / 1e6
    finally:
        if previous:
            gc.enable()
    return best


def _decode_cpu(loads: Callable[[str], Any], raws: list[str]) -> float:
    """CPU seconds to decode every file's JSON (the trees are dropped afterwards)."""
    cpu = time.process_time()
    trees = [loads(r) for r in raws]
    cpu = time.process_time() - cpu
    del trees
    return cpu


def _best(runs: list[dict[str, tuple[float, float]]]) -> dict[str, tuple[float, float]]:
    return {k: (min(r[k][0] for r in runs), min(r[k][1] for r in runs)) for k in runs[0]}


def _report(label: str, best: dict[str, tuple[float, float]], size: int) -> tuple[float, float]:
    mb = size / 1e6
    print(f"\n{label}")
    print(f"  {'stage':<10} {'wall s':>8} {'cpu s':>8} {'MB/s (cpu)':>11}")
    for stage, (w, c) in best.items():
        print(f"  {stage:<10} {w:8.3f} {c:8.3f} {mb / c if c else float('inf'):11.1f}")
    wall = sum(w for w, _ in best.values())
    cpu = sum(c for _, c in best.values())
    print(f"  {'pipeline':<10} {wall:8.3f} {cpu:8.3f} {mb / cpu:11.1f}   ({mb / wall:.1f} MB/s wall)")
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="generate here and keep it (default: a temporary directory)")
    parser.add_argument("--no-squawk", action="store_true")
    parser.add_argument(
        "--no-default-gc", action="store_true", help="skip the run with the default collector"
    )
    args = parser.parse_args()

    tmp = None
    if args.out is None:
        tmp = tempfile.TemporaryDirectory(prefix="ag-bench-")
        out = Path(tmp.name)
    else:
        out = args.out
        if out.exists():
            shutil.rmtree(out)
    try:
        size, count = generate(out, args.files, args.megabytes, args.seed)
        print(f"generated {args.files} files, {size / 1e6:.2f} MB, {count} statements in {out}")
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
        )

        from alembic_guard.sql import parse as parse_module

        decoder = getattr(parse_module._json_loads, "__module__", None) or "?"
        print(f"JSON decoder used by parse_source: {decoder}")
        runs: list[dict[str, tuple[float, float]]] = []
        facts: dict[str, Any] = {}
        for _ in range(args.repeat):
            times, facts = run_pipeline(out, paused=True)
            runs.append(times)
            gc.collect()  # the previous run's trees are gone by now; start clean
        stages = list(runs[0])
        missing = [s for s in ("effects", "plan") if s not in stages]
        print(
            f"stages run: {' -> '.join(stages)}"
            + (f"  (not available yet: {', '.join(missing)})" if missing else "")
        )
        print("result: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
        size = facts["bytes"]
        _wall, cpu = _report("ours, collector paused (as the CLI runs)", _best(runs), size)

        floor = parse_floor(out, args.repeat)
        mb = size / 1e6
        json_mb = floor.pop("JSON MB")
        c_parse = floor["C parse (parse_sql_json)"]
        print(f"\nparse floor (cpu, best of {args.repeat}; pglast JSON is {json_mb:.1f} MB)")
        for name, sec in floor.items():
            print(f"  {name:<26} {sec:7.3f} s {mb / sec:8.1f} MB/s")
        for name, sec in floor.items():
            if name.endswith(".loads"):
                both = c_parse + sec
                print(f"  C parse + {name:<16} {both:7.3f} s {mb / both:8.1f} MB/s")

        if not args.no_default_gc:
            default_runs = [run_pipeline(out, paused=False)[0] for _ in range(max(1, args.repeat - 1))]
            _report("ours, Python's default collector", _best(default_runs), size)

        if not args.no_squawk:
            squawk_runs = [r for r in (run_squawk(out) for _ in range(args.repeat)) if r is not None]
            if not squawk_runs:
                print("\nsquawk: not installed (pip install squawk-cli)")
            else:
                sq_wall = min(r[0] for r in squawk_runs)
                sq_cpu = min(r[1] for r in squawk_runs)
                print(
                    f"\nsquawk {_squawk_version()}: wall {sq_wall:.3f} s, cpu {sq_cpu:.3f} s, "
                    f"{size / 1e6 / sq_cpu:.1f} MB/s (cpu); exit codes {squawk_runs[0][2]}"
                )
                print(
                    f"ratio ours/squawk: {cpu / sq_cpu:.2f}x cpu, {_wall / sq_wall:.2f}x wall (target <= 2x)"
                )
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


def _squawk_version() -> str:
    exe = shutil.which("squawk", path=str(Path(sys.executable).parent)) or "squawk"
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    raise SystemExit(main())
