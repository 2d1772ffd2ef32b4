"""Benchmark: guarded vs plain Alembic operations (issue 3).

1,000 operations (500 ``add_column`` + 500 ``create_index``, on 100 empty
tables) run once through the guards and once through stock Alembic, each on a
fresh database of the same throwaway server, in one transaction each, in the
same process.  Rounds alternate which goes first; the median and the best
round are reported (the best is the least disturbed by other load).

Run: ``.venv/bin/python bench/bench_ops.py [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import sqlalchemy as sa
from alembic.operations import Operations

from alembic_guard.ops import GuardContext
from alembic_guard.ops.standalone import operations
from alembic_guard.testing import PostgresServer

TABLES = 100
PER_TABLE = 5  # add_column and create_index each, per table


def setup(conn: sa.Connection) -> None:
    conn.exec_driver_sql("; ".join(f"CREATE TABLE t{i} (id int PRIMARY KEY)" for i in range(TABLES)))
    conn.commit()


def workload(op: Operations) -> None:
    for i in range(TABLES):
        for j in range(PER_TABLE):
            op.add_column(f"t{i}", sa.Column(f"c{j}", sa.Integer))
            op.create_index(f"ix_{i}_{j}", f"t{i}", [f"c{j}"])


def timed(server: PostgresServer, guarded: bool) -> tuple[float, float, float]:
    """Seconds for the whole revision incl. the snapshot (wall), for the snapshot alone
    (wall), and this process's CPU for the revision (the server's work is the same DDL)."""
    with server.database() as url:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                setup(conn)
                ctx = GuardContext() if guarded else None
                c0, t0 = time.process_time(), time.perf_counter()
                with operations(conn, ctx) as op:
                    t1 = time.perf_counter()
                    workload(op)
                total, cpu = time.perf_counter() - t0, time.process_time() - c0
                if ctx is not None:
                    assert [e.action for e in ctx.events] == ["act"] * (2 * TABLES * PER_TABLE)
                return total, t1 - t0, cpu
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    plain: list[float] = []
    guarded: list[float] = []
    snaps: list[float] = []
    cpu: dict[bool, list[float]] = {False: [], True: []}
    with PostgresServer() as server:
        timed(server, True)  # warm-up: imports, server caches
        for r in range(args.rounds):
            order = (False, True) if r % 2 == 0 else (True, False)
            for g in order:
                total, snap, used = timed(server, g)
                (guarded if g else plain).append(total)
                cpu[g].append(used)
                if g:
                    snaps.append(snap)
    p, g, s = statistics.median(plain), statistics.median(guarded), statistics.median(snaps)
    n = 2 * TABLES * PER_TABLE
    print(f"{n} ops on {TABLES} empty tables, median of {args.rounds} rounds (best in brackets)")
    print(f"plain Alembic : {p:.3f} s  [{min(plain):.3f}]  ({p / n * 1000:.2f} ms/op)")
    print(f"guarded       : {g:.3f} s  [{min(guarded):.3f}]  ({g / n * 1000:.2f} ms/op), snapshot {s:.3f} s")
    print(
        f"ratio guarded/plain: median {g / p:.2f}x, best {min(guarded) / min(plain):.2f}x "
        f"(without the one snapshot: {(g - s) / p:.2f}x)"
    )
    pc, gc = statistics.median(cpu[False]), statistics.median(cpu[True])
    print(
        f"client CPU: plain {pc:.3f} s, guarded {gc:.3f} s: the guards add {(gc - pc) / n * 1000:.3f} ms/op"
    )


if __name__ == "__main__":
    main()
