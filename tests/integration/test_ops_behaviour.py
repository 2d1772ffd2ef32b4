"""Guarded operations beyond the one-op cases: guards off, offline rendering,
quoting, lock_timeout, registration, lazy loading, the seed's scenario."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.operations import ops as aops

from alembic_guard.errors import GuardRefused
from alembic_guard.live.snapshot import snapshot
from alembic_guard.ops import GuardContext, make_settings, registry
from alembic_guard.ops.standalone import offline_operations, operations


@pytest.fixture
def conn(pg_url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as c:
            c.exec_driver_sql("CREATE TABLE tasks (id int PRIMARY KEY, title text)")
            c.exec_driver_sql("INSERT INTO tasks VALUES (1, 'a')")
            c.commit()
            yield c
    finally:
        engine.dispose()


@pytest.mark.db
def test_guards_off_is_stock_alembic(conn: sa.Connection) -> None:
    with operations(conn, None) as op:
        op.add_column("tasks", sa.Column("due", sa.Date))
    with pytest.raises(sa.exc.ProgrammingError, match="already exists"), operations(conn, None) as op:
        op.add_column("tasks", sa.Column("due", sa.Date))


@pytest.mark.db
def test_second_run_is_all_skips(conn: sa.Connection) -> None:
    def migrate(op: Operations) -> None:
        op.create_table("projects", sa.Column("id", sa.Integer, primary_key=True))
        op.add_column("tasks", sa.Column("project_id", sa.Integer))
        op.create_foreign_key("fk_p", "tasks", "projects", ["project_id"], ["id"])
        op.create_index("ix_p", "tasks", ["project_id"])
        op.alter_column("tasks", "title", nullable=False)

    first = GuardContext()
    with operations(conn, first) as op:
        migrate(op)
    after_first = snapshot(conn)
    assert [e.action for e in first.events] == ["act"] * 5
    second = GuardContext()
    with operations(conn, second) as op:
        migrate(op)
    assert [e.action for e in second.events] == ["skip"] * 5
    assert all(e.sql == () for e in second.events)
    assert snapshot(conn) == after_first


@pytest.mark.db
def test_later_op_sees_earlier_effect_without_catalog_reads(conn: sa.Connection) -> None:
    ctx = GuardContext()
    reads: list[str] = []

    def spy(_c: object, _cur: object, statement: str, *_a: object) -> None:
        reads.append(statement)

    with operations(conn, ctx) as op:
        sa.event.listen(conn, "before_cursor_execute", spy)
        op.add_column("tasks", sa.Column("due", sa.Date))
        op.create_index("ix_due", "tasks", ["due"])  # needs the column the op above added
        sa.event.remove(conn, "before_cursor_execute", spy)
    assert [e.action for e in ctx.events] == ["act", "act"]
    assert not [s for s in reads if "pg_catalog" in s or "pg_class" in s]


@pytest.mark.db
def test_add_column_index_true_is_known_to_later_ops(conn: sa.Connection) -> None:
    ctx = GuardContext()
    with operations(conn, ctx) as op:
        op.add_column("tasks", sa.Column("due", sa.Date, index=True))
        op.create_index("ix_tasks_due", "tasks", ["due"])  # the name Alembic gave it
    assert [e.action for e in ctx.events] == ["act", "skip"]


@pytest.mark.db
def test_tables_never_loaded_are_loaded_lazily(conn: sa.Connection) -> None:
    ctx = GuardContext()
    with operations(conn, ctx, touched=[]) as op:  # nothing loaded up front
        assert ctx.model.table("public", "tasks") is None
        op.add_column("tasks", sa.Column("title", sa.Text))
    assert ctx.events[-1].action == "skip"


@pytest.mark.db
def test_lock_timeout_is_set_in_the_transaction(conn: sa.Connection) -> None:
    ctx = GuardContext(make_settings(policy="strict", lock_timeout="1234ms", statement_timeout="7s"))
    with operations(conn, ctx) as op:
        op.add_column("tasks", sa.Column("due", sa.Date))
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "1234ms"
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "7s"
    assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "0"


@pytest.mark.db
def test_concurrent_build_restores_session_timeouts(conn: sa.Connection) -> None:
    ctx = GuardContext(make_settings(policy="strict", lock_timeout="2s", concurrent_indexes=True))
    with operations(conn, ctx) as op:
        op.create_index("ix_title", "tasks", ["title"])
    assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "0"
    assert conn.exec_driver_sql(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_title'::regclass"
    ).scalar()


@pytest.mark.db
def test_lock_timeout_refuses_rather_than_queues(pg_url: str, conn: sa.Connection) -> None:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as holder:
            holder.exec_driver_sql("BEGIN; LOCK TABLE tasks IN ACCESS SHARE MODE")
            ctx = GuardContext(make_settings(policy="strict", lock_timeout="100ms"))
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"), operations(conn, ctx) as op:
                op.add_column("tasks", sa.Column("due", sa.Date))
            holder.rollback()
    finally:
        engine.dispose()


WEIRD_TABLE = 'we"ird; DROP TABLE tasks;--'
WEIRD_COL = "Mixed Case;%s:x"


@pytest.mark.db
def test_quoting_of_strange_names(conn: sa.Connection) -> None:
    def migrate(op: Operations) -> None:
        op.create_table(
            WEIRD_TABLE, sa.Column("id", sa.Integer, primary_key=True), sa.Column("Ref", sa.Integer)
        )
        op.add_column(WEIRD_TABLE, sa.Column(WEIRD_COL, sa.Text))
        op.create_index("Ix Weird", WEIRD_TABLE, [WEIRD_COL])
        op.create_unique_constraint('uq"w', WEIRD_TABLE, [WEIRD_COL])
        op.create_foreign_key("FK;w", WEIRD_TABLE, "tasks", ["Ref"], ["id"])
        op.create_check_constraint("ck w", WEIRD_TABLE, sa.column("Ref") > 0)
        op.alter_column(WEIRD_TABLE, WEIRD_COL, nullable=False)

    first = GuardContext()
    with operations(conn, first) as op:
        migrate(op)
    assert [e.action for e in first.events].count("act") == 7
    second = GuardContext()
    with operations(conn, second) as op:
        migrate(op)
    assert {e.action for e in second.events} == {"skip"}
    model = snapshot(conn)
    t = model.table("public", WEIRD_TABLE)
    assert t is not None and t.column(WEIRD_COL) is not None and not t.column(WEIRD_COL).nullable
    assert ("public", "tasks") in model.tables
    assert {c.name for c in model.constraints_of("public", WEIRD_TABLE)} >= {'uq"w', "FK;w", "ck w"}


@pytest.mark.db
def test_refusal_message_names_table_constraint_and_revision(conn: sa.Connection) -> None:
    conn.exec_driver_sql("INSERT INTO tasks VALUES (2, NULL), (3, NULL)")
    conn.commit()
    ctx = GuardContext()
    with pytest.raises(GuardRefused) as err, operations(conn, ctx, revision="abc123") as op:
        op.alter_column("tasks", "title", nullable=False)
    text = str(err.value)
    assert text.startswith("alter_column tasks.title (revision abc123): 2 row(s) have NULL in title")
    assert "(id=2); (id=3)" in text and "hint:" in text
    assert err.value.exit_code == 1


def test_registering_twice_is_harmless() -> None:
    before = Operations._to_impl.dispatch(aops.AddColumnOp)
    registry.install()
    registry.install()
    assert Operations._to_impl.dispatch(aops.AddColumnOp) is before
    assert getattr(before, "_alembic_guard", False)
    # the foreign-key op reaches the guarded AddConstraintOp implementation through the MRO
    assert Operations._to_impl.dispatch(aops.CreateForeignKeyOp) is Operations._to_impl.dispatch(
        aops.AddConstraintOp
    )


def _render(ctx: GuardContext | None) -> str:
    buf = io.StringIO()
    with offline_operations(buf, ctx) as op:
        op.add_column("tasks", sa.Column("project_id", sa.Integer))
        op.create_index("ix_p", "tasks", ["project_id"])
        op.create_foreign_key("fk_p", "tasks", "projects", ["project_id"], ["id"])
        op.create_unique_constraint("uq_t", "tasks", ["title"])
        op.create_check_constraint("ck", "tasks", "id > 0")
        op.alter_column("tasks", "title", nullable=False)
    return buf.getvalue()


def test_offline_renders_guarded_sql_with_comments() -> None:
    out = _render(GuardContext(make_settings(policy="strict", concurrent_indexes=True)))
    assert "-- alembic_guard: online: skipped when tasks.project_id exists" in out
    assert "SET LOCAL lock_timeout = '5000ms';" in out  # one settings model: the runtime's rendering
    assert "CREATE INDEX CONCURRENTLY ix_p ON tasks (project_id);" in out
    assert "COMMIT;" in out  # the concurrent build leaves the transaction
    assert "FOREIGN KEY (project_id) REFERENCES projects (id) NOT VALID;" in out
    assert "ALTER TABLE tasks VALIDATE CONSTRAINT fk_p;" in out
    # NOT VALID is committed before VALIDATE runs in a transaction of its own
    between = out[out.index("REFERENCES projects (id) NOT VALID") : out.index("VALIDATE CONSTRAINT fk_p")]
    assert "COMMIT;" in between
    assert "CREATE UNIQUE INDEX CONCURRENTLY uq_t ON tasks (title);" in out
    assert "ALTER TABLE tasks ADD CONSTRAINT uq_t UNIQUE USING INDEX uq_t;" in out
    assert "ADD CONSTRAINT ck CHECK (id > 0) NOT VALID;" in out
    # the helper CHECK is not named <table>_<column>_not_null: PostgreSQL 18 names NOT NULL that
    assert "ADD CONSTRAINT tasks_title_nn_guard CHECK (title IS NOT NULL) NOT VALID;" in out
    assert out.index("SET NOT NULL") < out.index("DROP CONSTRAINT tasks_title_nn_guard")


def test_offline_without_guards_is_stock() -> None:
    out = _render(None)
    assert "alembic_guard" not in out and "NOT VALID" not in out and "lock_timeout" not in out
    assert "ALTER TABLE tasks ADD CONSTRAINT fk_p FOREIGN KEY(project_id) REFERENCES projects (id);" in out


@pytest.mark.db
def test_seed_scenario_create_table_reconciles_before_the_index(
    conn: sa.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """The 502 of the seed: an idempotent create_table met an older table, then an index on a
    column only a later migration added.  Guarded, the table gains the column first."""
    caplog.set_level(logging.DEBUG, logger="alembic_guard.ops")
    ctx = GuardContext()
    with operations(conn, ctx) as op:
        op.create_table(
            "tasks",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("title", sa.Text),
            sa.Column("project_id", sa.Integer),
        )
        op.create_index("ix_tasks_project_id", "tasks", ["project_id"])
    assert [(e.op, e.action) for e in ctx.events] == [
        ("add_column", "act"),
        ("create_table", "act"),
        ("create_index", "act"),
    ]
    assert "add_column tasks.project_id: added (integer NULL)" in caplog.messages


@pytest.mark.db
def test_rename_is_followed_by_indexes_in_the_model(conn: sa.Connection) -> None:
    conn.exec_driver_sql("CREATE INDEX ix_title ON tasks (title)")
    conn.commit()
    ctx = GuardContext()
    with operations(conn, ctx) as op:
        op.alter_column("tasks", "title", new_column_name="name")
        op.create_index("ix_title", "tasks", ["name"])  # the same index, under its new column name
        op.alter_column("tasks", "title", new_column_name="name")  # a second run finds it done
    assert [e.action for e in ctx.events] == ["act", "skip", "skip"]
    assert ctx.model == snapshot(conn)
