"""Behind PgBouncer vs direct (issue 13): the migration lock and a guarded upgrade, as ratios.

Usage: ``.venv/bin/python bench/bench_pooler.py [--revisions 50] [--cycles 200] [--repeat 3]``

1. Lock cycles: take and give back the migration lock ``--cycles`` times —
   the session advisory lock on a direct connection, against the lease lock
   through PgBouncer (transaction mode), the lock a pooled deployment gets.
2. ``alembic upgrade head`` of ``--revisions`` generated revisions in a fresh
   database: direct, through PgBouncer (lease lock), and through PgBouncer
   with ``direct_url`` (lock and DDL on the server).  Medians of wall time,
   interleaved, ``--repeat`` times.

Every figure is a ratio to the direct run of the same size in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_runtime import generate, timed

from alembic_guard.runtime.lease import LeaseLock
from alembic_guard.runtime.lock import AdvisoryLock, lock_key
from alembic_guard.testing import GuardedProject, PgBouncer, shared_server


def lock_cycles(url: str, cycles: int, lease: bool) -> float:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if lease:
                lock: AdvisoryLock = LeaseLock(conn, lock_key(), engine=engine, schema="public", lease_s=30.0)
            else:
                lock = AdvisoryLock(conn, lock_key())
            t0 = time.perf_counter()
            for _ in range(cycles):
                lock.acquire()
                lock.release()
            return time.perf_counter() - t0
    finally:
        engine.dispose()


def upgrade(root: Path, url: str, n: int, env_extra: dict[str, str]) -> float:
    p = GuardedProject(root, url)
    generate(p.script_dir / "versions", n)
    wall, _cpu = timed(p.command("upgrade", "head"), p.root, p.env(**env_extra))
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--revisions", type=int, default=50)
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    pg = shared_server()
    with PgBouncer(pg, pool_mode="transaction", pool_size=4) as bouncer:
        db = sa.engine.make_url(pg.create_database()).database or ""
        direct_url, pooled_url = pg.url(db), bouncer.url(db)
        adv = [lock_cycles(direct_url, args.cycles, lease=False) for _ in range(args.repeat)]
        lease = [lock_cycles(pooled_url, args.cycles, lease=True) for _ in range(args.repeat)]
        runs: dict[str, list[float]] = {
            "direct": [],
            "pgbouncer (lease lock)": [],
            "pgbouncer + direct_url": [],
        }
        for _ in range(args.repeat):
            for name in runs:
                fresh = sa.engine.make_url(pg.create_database()).database or ""
                d, b = pg.url(fresh), bouncer.url(fresh)
                url, extra = {
                    "direct": (d, {}),
                    "pgbouncer (lease lock)": (b, {}),
                    "pgbouncer + direct_url": (b, {"ALEMBIC_GUARD_DIRECT_URL": d}),
                }[name]
                with tempfile.TemporaryDirectory() as tmp:
                    runs[name].append(upgrade(Path(tmp), url, args.revisions, extra))
    a, le = statistics.median(adv), statistics.median(lease)
    print(
        f"lock take+release x{args.cycles}: advisory direct {a:.3f}s, lease via PgBouncer {le:.3f}s "
        f"-> {le / a:.2f}x"
    )
    base = statistics.median(runs["direct"])
    for name, vals in runs.items():
        m = statistics.median(vals)
        print(f"upgrade head, {args.revisions} revisions, {name}: {m:.2f}s -> {m / base:.2f}x direct")


if __name__ == "__main__":
    main()
