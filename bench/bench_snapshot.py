"""Benchmark the live snapshot on a 2,000-table database (issue 3).

Run on demand: ``.venv/bin/python bench/bench_snapshot.py [--tables 2000] [--runs 5]``.

Starts a throwaway server, creates N tables x 10 columns, each with a primary
key, a secondary index and a foreign key to the previous table, then times:

* ``snapshot()`` (median of ``--runs``), and its parts: each batched Inspector
  call and each catalog query, so the dominant one is visible;
* ``pg_dump --schema-only`` of the same database (the server's own pg_dump),
  run interleaved with ``snapshot()`` so load from other processes hits both;
* per-table Inspector reflection (six calls per table), the thing to avoid;
* ``snapshot(tables=...)`` of three tables, and ``refresh()`` of them inside an open
  transaction: the runtime's per-revision read (one round trip).

Prints the figures; ``docs/benchmarks.md`` records them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from alembic_guard.live import catalog
from alembic_guard.live.snapshot import refresh, snapshot
from alembic_guard.testing import PostgresServer


def build(engine: sa.Engine, n: int) -> None:
    stmts = []
    for i in range(n):
        fk = f", prev_id integer REFERENCES t{i - 1} (id)" if i else ", prev_id integer"
        cols = ", ".join(f"c{k} text" for k in range(7))
        stmts.append(f"CREATE TABLE t{i} (id serial PRIMARY KEY, name varchar(80) NOT NULL{fk}, {cols})")
        stmts.append(f"CREATE INDEX t{i}_name_idx ON t{i} (name)")
    with engine.begin() as conn:
        for k in range(0, len(stmts), 400):
            conn.exec_driver_sql(";\n".join(stmts[k : k + 400]))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def timed(fn: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    with PostgresServer() as pg:
        url = pg.create_database("bench_snapshot")
        engine = sa.create_engine(url)
        t0 = time.perf_counter()
        build(engine, args.tables)
        print(f"built {args.tables} tables in {time.perf_counter() - t0:.1f} s")

        with engine.connect() as conn:
            snapshot(conn)  # warm the server's catalog caches and SQLAlchemy's statement cache
            conn.rollback()

        def ours() -> object:
            with engine.connect() as conn:
                return snapshot(conn)

        model = ours()
        assert pg.bindir is not None
        dump = [
            os.path.join(pg.bindir, "pg_dump"), "--schema-only", "-h", pg.host, "-p", str(pg.port),
            "-U", "postgres", "-d", "bench_snapshot", "-f", os.devnull,
        ]  # fmt: skip

        def pg_dump() -> object:
            return subprocess.run(dump, check=True, capture_output=True)

        # interleaved, so load from other processes on the machine hits both alike
        ours_all: list[float] = []
        dump_all: list[float] = []
        for _ in range(args.runs):
            ours_all += timed(ours, 1)[1]
            dump_all += timed(pg_dump, 1)[1]
        ours_s, dump_s = statistics.median(ours_all), statistics.median(dump_all)

        # The parts, one transaction.  get_multi_columns / get_multi_indexes are
        # timed too although snapshot() no longer calls them: they were replaced
        # by catalog.columns / catalog.indexes, which this comparison justifies.
        parts: dict[str, float] = {}
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            kw = {"schema": "public"}
            for name in (
                "get_multi_columns",
                "get_multi_indexes",
                "get_multi_pk_constraint",
                "get_multi_foreign_keys",
                "get_multi_unique_constraints",
                "get_multi_check_constraints",
            ):
                insp = sa.inspect(conn)  # fresh, so no call profits from another's cache
                t = time.perf_counter()
                getattr(insp, name)(**kw)
                parts[f"Inspector.{name}"] = time.perf_counter() - t
            rels = catalog.relations_in(conn, ["public"])
            oids = [r.oid for r in rels]
            for name, fn in (
                ("catalog.columns", lambda: catalog.columns(conn, oids)),
                ("catalog.indexes", lambda: catalog.indexes(conn, oids)),
                ("catalog.constraints", lambda: catalog.constraints(conn, oids)),
                ("catalog.triggers", lambda: catalog.triggers(conn, oids)),
                (
                    "catalog.functions+sequences+enums",
                    lambda: (
                        catalog.functions(conn, ["public"]),
                        catalog.sequences(conn, ["public"]),
                        catalog.enums(conn, ["public"]),
                    ),
                ),
            ):
                t = time.perf_counter()
                fn()
                parts[name] = time.perf_counter() - t

        def per_table() -> None:
            with engine.connect() as conn:
                insp = sa.inspect(conn)
                for name in insp.get_table_names():
                    insp.get_columns(name)
                    insp.get_indexes(name)
                    insp.get_foreign_keys(name)
                    insp.get_pk_constraint(name)
                    insp.get_unique_constraints(name)
                    insp.get_check_constraints(name)

        # interleaved with snapshot() runs too: the ratio compares like with like
        per_all: list[float] = []
        near_all: list[float] = []
        for _ in range(2):
            near_all += timed(ours, 1)[1]
            per_all += timed(per_table, 1)[1]
        per_s, near_s = statistics.median(per_all), statistics.median(near_all)

        few = [("public", f"t{i}") for i in (1, args.tables // 2, args.tables - 1)]

        def restricted() -> object:
            with engine.connect() as conn:
                return snapshot(conn, tables=few)

        few_s, _ = timed(restricted, max(args.runs, 10))

        # The runtime's case: refresh() before each revision, inside the revision's
        # transaction on one long-lived connection (prepared after the first call).
        trips: list[str] = []
        with engine.connect() as conn:
            sa.event.listen(conn, "before_cursor_execute", lambda *a: trips.append(a[2]))
            with conn.begin():
                held = snapshot(conn, tables=few)
                refresh(held, conn, few)  # PREPAREs
                trips.clear()
                refresh_s, _ = timed(lambda: refresh(held, conn, few), max(args.runs, 50))
                refresh_trips = len(trips) / max(args.runs, 50)
        engine.dispose()

    def runs(ts: list[float]) -> str:
        return ", ".join(f"{t:.3f}" for t in ts)

    print(f"snapshot() full           : {ours_s:.3f} s median  (runs: {runs(ours_all)})")
    print(f"pg_dump --schema-only     : {dump_s:.3f} s median  (runs: {runs(dump_all)})")
    print(f"per-table Inspector       : {per_s:.3f} s median  (snapshot() beside it: {near_s:.3f} s)")
    print(f"snapshot(tables=3 tables) : {few_s * 1000:.1f} ms median (own connection and transaction)")
    print(
        f"refresh(3 tables)         : {refresh_s * 1000:.2f} ms median, {refresh_trips:.0f} round trip(s) "
        "(in an open transaction, as the runtime does per revision)"
    )
    print(f"ratio ours / pg_dump      : {ours_s / dump_s:.2f}x  (target <= 1.0x)")
    print(f"ratio per-table / ours    : {per_s / near_s:.1f}x  (expect >= 15x)")
    print("parts (one run each):")
    for name, t in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {name:40s} {t * 1000:8.1f} ms")
    print(
        f"model: {len(model.tables)} tables, {len(model.indexes)} indexes, "  # type: ignore[attr-defined]
        f"{len(model.constraints)} constraints"  # type: ignore[attr-defined]
    )


if __name__ == "__main__":
    main()
