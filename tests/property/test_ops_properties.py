"""Properties of the guarded operations, on generated schemas, rows and operation sequences.

- Property 7 (idempotency): running a sequence twice leaves the snapshot one run
  leaves, and the second run sends no DDL (every event is a skip).
- Property 6 (completeness): afterwards the snapshot holds every column, index
  and constraint the sequence declares.
- Property 8 (safety): the rows that were there, with their values, are
  unchanged by any guarded sequence, whether it succeeds or is refused.
- Property 2 at runtime: an operation naming a column that does not exist is
  refused (strict) or recorded as a debt (lenient), and never reaches the server.

Each example runs on a fresh database of the session's server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from hypothesis import event, given, settings
from hypothesis import strategies as st

from alembic_guard.errors import GuardRefused
from alembic_guard.live.snapshot import snapshot
from alembic_guard.model import SchemaModel
from alembic_guard.ops import GuardContext, make_settings
from alembic_guard.ops.standalone import operations
from alembic_guard.testing import PostgresServer, row_checksums

COLUMN_NAMES = ["a", "b", "Mixed", "with space", 'q"t', "semi;colon"]
TYPES = {"integer": sa.Integer, "text": sa.Text, "bigint": sa.BigInteger}


@dataclass
class Scenario:
    setup: list[str]
    ops: list[tuple[Any, ...]]
    # what the sequence declares: (table, column) / index names / (table, constraint name) / NOT NULL
    columns: set[tuple[str, str]] = field(default_factory=set)
    indexes: set[str] = field(default_factory=set)
    constraints: set[tuple[str, str]] = field(default_factory=set)
    not_null: set[tuple[str, str]] = field(default_factory=set)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    n_tables = draw(st.integers(1, 3))
    cols: dict[str, dict[str, str]] = {}
    setup = []
    for i in range(n_tables):
        t = f"t{i}"
        names = draw(st.lists(st.sampled_from(COLUMN_NAMES), max_size=3, unique=True))
        cols[t] = {"id": "integer", **{n: draw(st.sampled_from(sorted(TYPES))) for n in names}}
        setup.append(
            f"CREATE TABLE {t} ("
            + ", ".join(f"{q(c)} {ty}" for c, ty in cols[t].items())
            + ", PRIMARY KEY (id))"
        )
        for rid in range(1, draw(st.integers(0, 4)) + 1):
            values = [str(rid)]
            for ty in list(cols[t].values())[1:]:
                v = draw(st.one_of(st.none(), st.integers(0, 3)))
                values.append("NULL" if v is None else (f"'{v}'" if ty == "text" else str(v)))
            setup.append(f"INSERT INTO {t} VALUES ({', '.join(values)})")
    sc = Scenario(setup, [])
    for k in range(draw(st.integers(1, 6))):
        t = draw(st.sampled_from(sorted(cols)))
        kind = draw(st.sampled_from(["add_column", "index", "unique", "check", "fk", "not_null"]))
        existing = sorted(cols[t])
        if kind == "add_column":
            name = draw(st.sampled_from([*COLUMN_NAMES, "n1", "n2"]))
            if name in cols[t]:
                continue
            ty = draw(st.sampled_from(sorted(TYPES)))
            cols[t][name] = ty
            sc.ops.append(("add_column", t, name, ty))
            sc.columns.add((t, name))
        elif kind == "index":
            c = draw(st.sampled_from(existing))
            sc.ops.append(("index", f"ix_{k}", t, c))
            sc.indexes.add(f"ix_{k}")
        elif kind == "unique":
            c = draw(st.sampled_from(existing))
            sc.ops.append(("unique", f"uq_{k}", t, c))
            sc.constraints.add((t, f"uq_{k}"))
        elif kind == "check":
            ints = [c for c in existing if cols[t][c] != "text"]
            c = draw(st.sampled_from(ints))
            sc.ops.append(("check", f"ck_{k}", t, c, draw(st.integers(0, 2))))
            sc.constraints.add((t, f"ck_{k}"))
        elif kind == "fk":
            ints = [c for c in existing if cols[t][c] == "integer"]
            target = draw(st.sampled_from(sorted(cols)))
            c = draw(st.sampled_from(ints))
            sc.ops.append(("fk", f"fk_{k}", t, c, target))
            sc.constraints.add((t, f"fk_{k}"))
        else:
            c = draw(st.sampled_from(existing))
            sc.ops.append(("not_null", t, c))
            sc.not_null.add((t, c))
    return sc


def apply_ops(op: Operations, ops: list[tuple[Any, ...]]) -> None:
    for o in ops:
        kind = o[0]
        if kind == "add_column":
            op.add_column(o[1], sa.Column(o[2], TYPES[o[3]]))
        elif kind == "index":
            op.create_index(o[1], o[2], [o[3]])
        elif kind == "unique":
            op.create_unique_constraint(o[1], o[2], [o[3]])
        elif kind == "check":
            op.create_check_constraint(o[1], o[2], sa.column(o[3]) >= o[4])
        elif kind == "fk":
            op.create_foreign_key(o[1], o[2], o[4], [o[3]], ["id"])
        else:
            op.alter_column(o[1], o[2], nullable=False)


@contextmanager
def database(server: PostgresServer, setup: list[str]) -> Iterator[sa.Connection]:
    with server.database() as url:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                for stmt in setup:
                    conn.exec_driver_sql(stmt)
                conn.commit()
                yield conn
        finally:
            engine.dispose()


def run(conn: sa.Connection, ops: Callable[[Operations], None], ctx: GuardContext) -> GuardRefused | None:
    try:
        with operations(conn, ctx) as op:
            ops(op)
    except GuardRefused as exc:
        conn.rollback()
        return exc
    return None


def assert_complete(model: SchemaModel, sc: Scenario) -> None:
    for t, c in sc.columns:
        assert model.column("public", t, c) is not None, (t, c)
    for name in sc.indexes:
        assert model.indexes[("public", name)].valid
    for t, name in sc.constraints:
        assert model.constraints[("public", t, name)].validated
    for t, c in sc.not_null:
        col = model.column("public", t, c)
        assert col is not None and not col.nullable


@pytest.mark.db
@settings(max_examples=15, deadline=None)
@given(sc=scenarios())
def test_idempotent_complete_and_safe(pg_server: PostgresServer, sc: Scenario) -> None:
    with database(pg_server, sc.setup) as conn:
        initial = snapshot(conn)
        sums = row_checksums(conn, initial)
        first = GuardContext()
        refused = run(conn, lambda op: apply_ops(op, sc.ops), first)
        # Property 8: the rows that were there are exactly as they were, acted or refused
        assert row_checksums(conn, initial) == sums
        event("refused" if refused is not None else "applied")
        if refused is not None:
            assert snapshot(conn) == initial  # a refused revision leaves nothing behind
            assert first.events[-1].action == "refuse"
            return
        once = snapshot(conn)
        assert_complete(once, sc)  # Property 6
        second = GuardContext()
        sent: list[str] = []
        sa.event.listen(conn, "before_cursor_execute", lambda _c, _cur, stmt, *_: sent.append(stmt))
        assert run(conn, lambda op: apply_ops(op, sc.ops), second) is None
        # the second run reads (snapshot) and sets timeouts at most: no DDL reaches the server
        assert not [s for s in sent if s.lstrip().split()[0].upper() in ("ALTER", "CREATE", "DROP")]
        assert [e.action for e in second.events] == ["skip"] * len(second.events)  # Property 7
        assert all(e.sql == () for e in second.events)
        assert snapshot(conn) == once


@pytest.mark.db
@settings(max_examples=10, deadline=None)
@given(
    sc=scenarios(),
    policy=st.sampled_from(["strict", "lenient"]),
    make=st.sampled_from(["index", "unique", "fk", "not_null", "check"]),
)
def test_an_op_on_a_missing_column_never_reaches_the_server(
    pg_server: PostgresServer, sc: Scenario, policy: str, make: str
) -> None:
    ghost = "ghost_col"
    bad = {
        "index": ("index", "ix_ghost", "t0", ghost),
        "unique": ("unique", "uq_ghost", "t0", ghost),
        "fk": ("fk", "fk_ghost", "t0", ghost, "t0"),
        "not_null": ("not_null", "t0", ghost),
        "check": ("check", "ck_ghost", "t0", ghost, 0),
    }[make]
    sent: list[str] = []
    with database(pg_server, sc.setup) as conn:
        sa.event.listen(conn, "before_cursor_execute", lambda _c, _cur, stmt, *_: sent.append(stmt))
        ctx = GuardContext(make_settings(policy=policy))
        refused = run(conn, lambda op: apply_ops(op, [bad]), ctx)
    assert not [s for s in sent if ghost in s]
    last = ctx.events[-1]
    if policy == "strict":
        assert refused is not None and "ghost_col does not exist" in str(refused)
        assert last.action == "refuse"
    else:
        assert refused is None and last.action == "debt"
