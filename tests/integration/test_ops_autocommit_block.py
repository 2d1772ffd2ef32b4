"""Every guarded operation inside the revision's own ``autocommit_block()`` (issue 11, bug 0).

guard-import writes ``with op.get_context().autocommit_block(): op.create_index(...,
postgresql_concurrently=True)``; Alembic's block does not nest, so a guard that opened
its own block inside it failed with a bare AssertionError.  Each operation runs here
inside an explicit block, twice (act, then skip), and its effect is read from the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.operations import Operations

from alembic_guard.ops import GuardContext, make_settings
from alembic_guard.ops.standalone import operations

BASE = """
CREATE TABLE projects (id int PRIMARY KEY, name text);
CREATE TABLE tasks (id int PRIMARY KEY, title text, project_id int, n int);
INSERT INTO projects VALUES (1, 'p');
INSERT INTO tasks VALUES (1, 'a', 1, 1), (2, 'b', NULL, 2);
"""

A = sa.Column
OPS: list[tuple[str, Callable[[Operations], Any], str]] = [
    (
        "create_index_concurrently",
        lambda op: op.create_index("ix_t_n", "tasks", ["n"], postgresql_concurrently=True),
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('ix_t_n')",
    ),
    (
        "create_index",
        lambda op: op.create_index("ix_t_title", "tasks", ["title"]),
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('ix_t_title')",
    ),
    (
        "create_unique_constraint",
        lambda op: op.create_unique_constraint("uq_t_n", "tasks", ["n"]),
        "SELECT convalidated FROM pg_constraint WHERE conname = 'uq_t_n'",
    ),
    (
        "create_foreign_key",
        lambda op: op.create_foreign_key("fk_t_p", "tasks", "projects", ["project_id"], ["id"]),
        "SELECT convalidated FROM pg_constraint WHERE conname = 'fk_t_p'",
    ),
    (
        "create_check_constraint",
        lambda op: op.create_check_constraint("ck_t_n", "tasks", "n > 0"),
        "SELECT convalidated FROM pg_constraint WHERE conname = 'ck_t_n'",
    ),
    (
        "alter_column_not_null",
        lambda op: op.alter_column("tasks", "n", nullable=False),
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'tasks'::regclass AND attname = 'n'",
    ),
    (
        "add_column",
        lambda op: op.add_column("tasks", A("due", sa.Date)),
        "SELECT count(*) = 1 FROM pg_attribute WHERE attrelid = 'tasks'::regclass AND attname = 'due'",
    ),
    (
        "create_table",
        lambda op: op.create_table("tags", A("id", sa.Integer, primary_key=True)),
        "SELECT to_regclass('tags') IS NOT NULL",
    ),
    (
        "drop_column",
        lambda op: op.drop_column("tasks", "title"),
        "SELECT count(*) = 0 FROM pg_attribute WHERE attrelid = 'tasks'::regclass AND attname = 'title'"
        " AND NOT attisdropped",
    ),
    (
        "drop_constraint",
        lambda op: op.drop_constraint("tasks_pkey", "tasks"),
        "SELECT count(*) = 0 FROM pg_constraint WHERE conname = 'tasks_pkey'",
    ),
    (
        "drop_index",
        lambda op: op.drop_index("tasks_pkey", table_name="tasks"),
        # the index backs the primary key: PostgreSQL refuses, so the op used here is a plain one
        "SELECT true",
    ),
    ("drop_table", lambda op: op.drop_table("projects"), "SELECT to_regclass('projects') IS NULL"),
    (
        "execute",
        lambda op: op.execute("CREATE INDEX ix_t_pid ON tasks (project_id)"),
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('ix_t_pid')",
    ),
]
# drop_index of the primary key's index would fail in PostgreSQL itself: use a plain index
OPS = [
    (n, f, c)
    if n != "drop_index"
    else (
        n,
        lambda op: op.drop_index("ix_plain", table_name="tasks"),
        "SELECT to_regclass('ix_plain') IS NULL",
    )
    for n, f, c in OPS
]


@pytest.fixture
def conn(pg_url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as c:
            c.exec_driver_sql(BASE)
            c.exec_driver_sql("CREATE INDEX ix_plain ON tasks (title)")
            c.commit()
            yield c
    finally:
        engine.dispose()


@pytest.mark.db
@pytest.mark.parametrize("case", OPS, ids=[c[0] for c in OPS])
def test_op_inside_explicit_autocommit_block(
    case: tuple[str, Callable[[Operations], Any], str], conn: sa.Connection
) -> None:
    _, run, check = case
    for attempt in ("act", "skip"):
        # concurrent_indexes: the guards' own autocommit steps meet the revision's block
        ctx = GuardContext(make_settings(policy="strict", concurrent_indexes=True))
        with operations(conn, ctx) as op, op.get_context().autocommit_block():
            run(op)
        assert ctx.events, attempt
        assert ctx.events[-1].action == attempt, ctx.events
        assert conn.exec_driver_sql(check).scalar() is True
        conn.commit()  # end the read's transaction: the next MigrationContext starts outside one
