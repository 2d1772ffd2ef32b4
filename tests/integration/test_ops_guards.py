"""Each guarded operation × {absent, present-compatible, present-incompatible,
requirement missing (strict / lenient), data violating}, on a real PostgreSQL.

Every case is one row of CASES: the SQL that sets the scene, the operation,
the decision expected, and a catalog query with its expected answer.  On a
refusal, a skip or a debt the schema and the rows must be exactly as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.operations import Operations

from alembic_guard.errors import GuardRefused
from alembic_guard.live.snapshot import snapshot
from alembic_guard.ops import GuardContext, make_settings
from alembic_guard.ops.standalone import operations
from alembic_guard.testing import row_checksums

BASE = """
CREATE TABLE projects (id int PRIMARY KEY, name text);
CREATE TABLE tasks (id int PRIMARY KEY, title text, project_id int);
INSERT INTO projects VALUES (1, 'p');
INSERT INTO tasks VALUES (1, 'a', 1), (2, 'b', NULL);
"""


def col_type(table: str, column: str) -> str:
    return (
        "SELECT format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' NOT NULL' ELSE '' END "
        f"FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attname = '{column}' "
        "AND NOT attisdropped"
    )


def index_valid(name: str) -> str:
    return f"SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{name}')"


def con_valid(name: str) -> str:
    return f"SELECT convalidated FROM pg_constraint WHERE conname = '{name}'"


def exists(name: str) -> str:
    return f"SELECT to_regclass('{name}') IS NOT NULL"


@dataclass
class Case:
    id: str
    op: Callable[[Operations], Any]
    action: str  # the last event's action: act, skip, refuse, debt
    check: str | None = None
    expect: Any = None
    setup: str = ""
    message: tuple[str, ...] = ()  # in the GuardRefused text, or the event's reason
    log: str | None = None  # an exact log line
    settings: dict[str, Any] = field(default_factory=dict)


A = sa.Column
INT, T = sa.Integer, sa.Text
LENIENT = {"policy": "lenient"}
NO_DROPS = {"allow_destructive": False}
FK_SQL = "ALTER TABLE tasks ADD CONSTRAINT fk_p FOREIGN KEY (project_id) REFERENCES projects (id)"

LONG = "a_table_with_a_name_long_enough_that_postgresql_has_to_cut_it"
LONG_SQL = f"""
CREATE TABLE {LONG} (id int PRIMARY KEY, a_column_whose_name_is_long_as_well int);
ALTER TABLE {LONG} ADD FOREIGN KEY (a_column_whose_name_is_long_as_well) REFERENCES projects (id);
ALTER TABLE {LONG} ADD UNIQUE (a_column_whose_name_is_long_as_well);
"""
LONG_COL = "a_column_whose_name_is_long_as_well"


def constraint_count(table: str, kind: str) -> str:
    return f"SELECT count(*) FROM pg_constraint WHERE conrelid = '{table}'::regclass AND contype = '{kind}'"


# issue 11 bugs E-K and issue 12 item 7: each case failed before the identity module and decisions
REGRESSIONS = [
    # F: an unnamed FK / UNIQUE is found by PostgreSQL's name rule (and definition), not name[:63]
    Case(
        "F/unnamed-fk-long-names",
        lambda op: op.create_foreign_key(None, LONG, "projects", [LONG_COL], ["id"]),
        "skip",
        constraint_count(LONG, "f"),
        1,
        setup=LONG_SQL,
    ),
    Case(
        "F/unnamed-unique-long-names",
        lambda op: op.create_unique_constraint(None, LONG, [LONG_COL]),
        "skip",
        constraint_count(LONG, "u"),
        1,
        setup=LONG_SQL,
    ),
    # G: a second unnamed CHECK gets PostgreSQL's next name, not a clash
    Case(
        "G/two-unnamed-checks",
        lambda op: (
            op.create_check_constraint(None, "tasks", "id > 0"),
            op.create_check_constraint(None, "tasks", "id < 100"),
        ),
        "act",
        "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint "
        "WHERE conrelid = 'tasks'::regclass AND contype = 'c'",
        "tasks_id_check,tasks_id_check1",
    ),
    # H: an index of that name on another table, or a partial one, is never dropped or reused
    Case(
        "H/unique-name-of-index-on-other-table",
        lambda op: op.create_unique_constraint("ix_other", "tasks", ["title"]),
        "refuse",
        "SELECT indrelid::regclass::text FROM pg_index WHERE indexrelid = to_regclass('ix_other')",
        "projects",
        setup="CREATE INDEX ix_other ON projects (name)",
        message=("exists on another table (projects)",),
    ),
    Case(
        "H/unique-over-partial-index",
        lambda op: op.create_unique_constraint("uq_part", "tasks", ["title"]),
        "refuse",
        constraint_count("tasks", "u"),
        0,
        setup="CREATE UNIQUE INDEX uq_part ON tasks (title) WHERE id > 0",
        message=("cannot back the constraint", "WHERE"),
    ),
    # I: an identity column fills existing rows: PostgreSQL accepts it on a table with rows
    Case(
        "I/identity-column-on-rows",
        lambda op: op.add_column("tasks", A("seq", INT, sa.Identity())),
        "act",
        "SELECT attidentity <> '' FROM pg_attribute WHERE attrelid = 'tasks'::regclass AND attname = 'seq'",
        True,
    ),
    # J: a string CHECK is read as Alembic reads it (guard-import escapes ':' for sa.text)
    Case(
        "J/string-check-escaped-colon",
        lambda op: op.create_check_constraint("ck_note", "tasks", "title <> 'see \\:ref'"),
        "act",
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'ck_note'",
        "CHECK ((title <> 'see :ref'::text))",
    ),
    # K: literals keep their case; method, INCLUDE and ON DELETE are part of the definition
    Case(
        "K/predicate-literal-case",
        lambda op: op.create_index("ix_open", "tasks", ["title"], postgresql_where=sa.text("title = 'open'")),
        "refuse",
        setup="CREATE INDEX ix_open ON tasks (title) WHERE title = 'Open'",
        message=("another definition",),
    ),
    Case(
        "K/index-method",
        lambda op: op.create_index("ix_h", "tasks", ["title"]),
        "refuse",
        setup="CREATE INDEX ix_h ON tasks USING hash (title)",
        message=("hash on tasks (title)",),
    ),
    Case(
        "K/index-include",
        lambda op: op.create_index("ix_inc", "tasks", ["id"]),
        "refuse",
        setup="CREATE INDEX ix_inc ON tasks (id) INCLUDE (title)",
        message=("INCLUDE (title)",),
    ),
    Case(
        "K/fk-on-delete",
        lambda op: op.create_foreign_key("fk_p", "tasks", "projects", ["project_id"], ["id"]),
        "refuse",
        setup=FK_SQL + " ON DELETE CASCADE",
        message=("ON DELETE CASCADE",),
    ),
    # found while testing the lock claims: a column's sa.ForeignKey was lost (a second to_table())
    Case(
        "create_table/column-foreign-key-created",
        lambda op: op.create_table(
            "tags", A("id", INT, primary_key=True), A("p", INT, sa.ForeignKey("projects.id"))
        ),
        "act",
        constraint_count("tags", "f"),
        1,
    ),
    # issue 12 item 7: a unique index over duplicates gets the unique constraint's data check
    Case(
        "item7/unique-index-over-duplicates",
        lambda op: op.create_index("ix_u", "tasks", ["title"], unique=True),
        "refuse",
        exists("ix_u"),
        False,
        setup="INSERT INTO tasks VALUES (3, 'a', 1)",
        message=(
            "1 value group(s) of (title) occur more than once",
            "duplicates: (title='a') × 2",
            "unique index ix_u",
        ),
    ),
]

CASES = [
    # add_column
    Case(
        "add_column/absent",
        lambda op: op.add_column("tasks", A("due", sa.Date)),
        "act",
        col_type("tasks", "due"),
        "date",
    ),
    Case(
        "add_column/present",
        lambda op: op.add_column("tasks", A("project_id", INT)),
        "skip",
        col_type("tasks", "project_id"),
        "integer",
        log="skip add_column tasks.project_id: already there (integer NULL)",
    ),
    Case(
        "add_column/incompatible",
        lambda op: op.add_column("tasks", A("project_id", T)),
        "refuse",
        message=("another definition", "in the database:  integer NULL", "in the migration: text NULL"),
    ),
    Case(
        "add_column/no-table-strict",
        lambda op: op.add_column("nope", A("x", INT)),
        "refuse",
        message=("table nope does not exist", "not sent to the server"),
    ),
    Case(
        "add_column/no-table-lenient",
        lambda op: op.add_column("nope", A("x", INT)),
        "debt",
        exists("nope"),
        False,
        settings=LENIENT,
        message=("table nope does not exist",),
    ),
    Case(
        "add_column/not-null-over-rows",
        lambda op: op.add_column("tasks", A("x", INT, nullable=False)),
        "refuse",
        message=("tasks has rows", "server_default"),
    ),
    Case(
        "add_column/fk-target-missing",
        lambda op: op.add_column("tasks", A("u", INT, sa.ForeignKey("users.id"))),
        "refuse",
        message=("referenced table users does not exist",),
    ),
    # create_index
    Case(
        "create_index/absent",
        lambda op: op.create_index("ix_title", "tasks", ["title"]),
        "act",
        index_valid("ix_title"),
        True,
    ),
    Case(
        "create_index/present",
        lambda op: op.create_index("ix_title", "tasks", ["title"]),
        "skip",
        index_valid("ix_title"),
        True,
        setup="CREATE INDEX ix_title ON tasks (title)",
    ),
    Case(
        "create_index/partial-present",
        lambda op: op.create_index("ix_open", "tasks", ["title"], postgresql_where=sa.text("title <> 'x'")),
        "skip",
        setup="CREATE INDEX ix_open ON tasks (title) WHERE title <> 'x'",
    ),
    Case(
        "create_index/incompatible",
        lambda op: op.create_index("ix_title", "tasks", ["title"]),
        "refuse",
        setup="CREATE INDEX ix_title ON tasks (project_id)",
        message=("another definition", "on tasks (project_id)", "on tasks (title)"),
    ),
    Case(
        "create_index/unique-differs",
        lambda op: op.create_index("ix_title", "tasks", ["title"], unique=True),
        "refuse",
        setup="CREATE INDEX ix_title ON tasks (title)",
        message=("UNIQUE btree on tasks (title)",),
    ),
    Case(
        "create_index/no-column-strict",
        lambda op: op.create_index("ix_n", "tasks", ["nope"]),
        "refuse",
        message=("column tasks.nope does not exist",),
    ),
    Case(
        "create_index/no-column-lenient",
        lambda op: op.create_index("ix_n", "tasks", ["nope"]),
        "debt",
        exists("ix_n"),
        False,
        settings=LENIENT,
    ),
    Case(
        "create_index/invalid-rebuilt",
        lambda op: op.create_index("ix_title", "tasks", ["title"]),
        "act",
        index_valid("ix_title"),
        True,
        message=("dropped the INVALID index",),
        setup="CREATE INDEX ix_title ON tasks (title); "
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix_title'::regclass",
    ),
    Case(
        "create_index/concurrent",
        lambda op: op.create_index("ix_title", "tasks", ["title"]),
        "act",
        index_valid("ix_title"),
        True,
        message=("built concurrently",),
        settings={"concurrent_indexes": True},
    ),
    Case(
        "create_index/invalid-rebuilt-concurrently",
        lambda op: op.create_index("ix_title", "tasks", ["title"]),
        "act",
        index_valid("ix_title"),
        True,
        settings={"concurrent_indexes": True},
        message=("dropped the INVALID index",),
        setup="CREATE INDEX ix_title ON tasks (title); "
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix_title'::regclass",
    ),
    # create_foreign_key
    Case(
        "create_foreign_key/absent",
        lambda op: op.create_foreign_key("fk_p", "tasks", "projects", ["project_id"], ["id"]),
        "act",
        con_valid("fk_p"),
        True,
    ),
    Case(
        "create_foreign_key/present",
        lambda op: op.create_foreign_key("fk_p", "tasks", "projects", ["project_id"], ["id"]),
        "skip",
        con_valid("fk_p"),
        True,
        setup=FK_SQL,
    ),
    Case(
        "create_foreign_key/not-valid-present",
        lambda op: op.create_foreign_key("fk_p", "tasks", "projects", ["project_id"], ["id"]),
        "act",
        con_valid("fk_p"),
        True,
        setup=FK_SQL + " NOT VALID",
        message=("validated the NOT VALID",),
    ),
    Case(
        "create_foreign_key/incompatible",
        lambda op: op.create_foreign_key("fk_p", "tasks", "projects", ["id"], ["id"]),
        "refuse",
        setup=FK_SQL,
        message=(
            "FOREIGN KEY (project_id) REFERENCES projects (id)",
            "FOREIGN KEY (id) REFERENCES projects (id)",
        ),
    ),
    Case(
        "create_foreign_key/orphans",
        lambda op: op.create_foreign_key("fk_p", "tasks", "projects", ["project_id"], ["id"]),
        "refuse",
        setup="INSERT INTO tasks VALUES (3, 'c', 99), (4, 'd', 98)",
        message=("2 row(s) refer to rows of projects that do not exist", "(id=3); (id=4)", "fk_p"),
    ),
    Case(
        "create_foreign_key/no-ref-table-strict",
        lambda op: op.create_foreign_key("fk_u", "tasks", "users", ["project_id"], ["id"]),
        "refuse",
        message=("referenced table users does not exist",),
    ),
    Case(
        "create_foreign_key/no-ref-column-lenient",
        lambda op: op.create_foreign_key("fk_u", "tasks", "projects", ["project_id"], ["nope"]),
        "debt",
        con_valid("fk_u"),
        None,
        settings=LENIENT,
        message=("referenced column projects.nope",),
    ),
    # create_unique_constraint
    Case(
        "create_unique_constraint/absent",
        lambda op: op.create_unique_constraint("uq_t", "tasks", ["title"]),
        "act",
        con_valid("uq_t"),
        True,
    ),
    Case(
        "create_unique_constraint/present",
        lambda op: op.create_unique_constraint("uq_t", "tasks", ["title"]),
        "skip",
        setup="ALTER TABLE tasks ADD CONSTRAINT uq_t UNIQUE (title)",
    ),
    Case(
        "create_unique_constraint/incompatible",
        lambda op: op.create_unique_constraint("uq_t", "tasks", ["title", "id"]),
        "refuse",
        setup="ALTER TABLE tasks ADD CONSTRAINT uq_t UNIQUE (title)",
        message=("UNIQUE (title)",),
    ),
    Case(
        "create_unique_constraint/duplicates",
        lambda op: op.create_unique_constraint("uq_t", "tasks", ["title"]),
        "refuse",
        setup="INSERT INTO tasks VALUES (3, 'a', 1), (4, NULL, 1), (5, NULL, 1)",
        message=("1 value group(s) of (title) occur more than once", "(title='a') × 2", "uq_t"),
    ),
    Case(
        "create_unique_constraint/concurrent",
        lambda op: op.create_unique_constraint("uq_t", "tasks", ["title"]),
        "act",
        con_valid("uq_t"),
        True,
        settings={"concurrent_indexes": True},
    ),
    Case(
        "create_unique_constraint/no-column-lenient",
        lambda op: op.create_unique_constraint("uq_t", "tasks", ["nope"]),
        "debt",
        con_valid("uq_t"),
        None,
        settings=LENIENT,
    ),
    # create_primary_key (guarded since issue 10: a re-run found 42P16, multiple primary keys)
    Case(
        "create_primary_key/absent",
        lambda op: op.create_primary_key("things_pkey", "things", ["id"]),
        "act",
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'things_pkey'",
        "PRIMARY KEY (id)",
        setup="CREATE TABLE things (id int, label text); INSERT INTO things VALUES (1, 'a'), (2, 'b')",
    ),
    Case(
        "create_primary_key/present",
        lambda op: op.create_primary_key("tasks_pkey", "tasks", ["id"]),
        "skip",
        constraint_count("tasks", "p"),
        1,
        message=("already there (PRIMARY KEY (id))",),
    ),
    Case(
        "create_primary_key/another-key",
        lambda op: op.create_primary_key("tasks_title_pkey", "tasks", ["title"]),
        "refuse",
        "SELECT string_agg(conname, ',') FROM pg_constraint "
        "WHERE conrelid = 'tasks'::regclass AND contype = 'p'",
        "tasks_pkey",
        message=("tasks has a primary key already (tasks_pkey)", "PRIMARY KEY (id)"),
    ),
    Case(
        "create_primary_key/duplicates",
        lambda op: op.create_primary_key("things_pkey", "things", ["id"]),
        "refuse",
        constraint_count("things", "p"),
        0,
        setup="CREATE TABLE things (id int, label text); INSERT INTO things VALUES (1, 'a'), (1, 'b')",
        message=("(id=1) × 2", "primary key things_pkey"),
    ),
    Case(
        "create_primary_key/concurrent",
        lambda op: op.create_primary_key("things_pkey", "things", ["id"]),
        "act",
        col_type("things", "id"),
        "integer NOT NULL",
        setup="CREATE TABLE things (id int, label text); INSERT INTO things VALUES (1, 'a')",
        settings={"concurrent_indexes": True},
    ),
    # create_check_constraint
    Case(
        "create_check_constraint/absent",
        lambda op: op.create_check_constraint("ck", "tasks", "id > 0"),
        "act",
        con_valid("ck"),
        True,
    ),
    Case(
        "create_check_constraint/present",
        lambda op: op.create_check_constraint("ck", "tasks", "id > 0"),
        "skip",
        setup="ALTER TABLE tasks ADD CONSTRAINT ck CHECK (id > 0)",
    ),
    Case(
        "create_check_constraint/incompatible",
        lambda op: op.create_check_constraint("ck", "tasks", "id > 5"),
        "refuse",
        setup="ALTER TABLE tasks ADD CONSTRAINT ck CHECK (id > 0)",
        message=("another definition",),
    ),
    Case(
        "create_check_constraint/violating",
        lambda op: op.create_check_constraint("ck", "tasks", "title <> 'a'"),
        "refuse",
        message=("1 row(s) fail CHECK (title <> 'a')", "(id=1)", "ck"),
    ),
    # alter_column
    Case(
        "alter_column/not-null",
        lambda op: op.alter_column("tasks", "title", nullable=False),
        "act",
        col_type("tasks", "title"),
        "text NOT NULL",
    ),
    Case(
        "alter_column/not-null-present",
        lambda op: op.alter_column("tasks", "id", nullable=False),
        "skip",
        col_type("tasks", "id"),
        "integer NOT NULL",
    ),
    Case(
        "alter_column/nulls",
        lambda op: op.alter_column("tasks", "project_id", nullable=False),
        "refuse",
        message=("1 row(s) have NULL in project_id", "(id=2)"),
    ),
    Case(
        "alter_column/type",
        lambda op: op.alter_column("tasks", "title", type_=sa.String(20)),
        "act",
        col_type("tasks", "title"),
        "character varying(20)",
    ),
    Case("alter_column/type-present", lambda op: op.alter_column("tasks", "title", type_=sa.Text()), "skip"),
    Case(
        "alter_column/no-column-strict",
        lambda op: op.alter_column("tasks", "nope", nullable=False),
        "refuse",
        message=("column tasks.nope does not exist",),
    ),
    # create_table
    Case(
        "create_table/absent",
        lambda op: op.create_table("tags", A("id", INT, primary_key=True)),
        "act",
        exists("tags"),
        True,
    ),
    Case(
        "create_table/present",
        lambda op: op.create_table("projects", A("id", INT, primary_key=True), A("name", T)),
        "skip",
    ),
    # issue 10: PostgreSQL folds a UNIQUE over the primary key's columns into the key; run again,
    # the table is there as made, and no UNIQUE of its own is added
    Case(
        "create_table/present-unique-folded-into-key",
        lambda op: op.create_table(
            "projects", A("id", INT, primary_key=True), A("name", T), sa.UniqueConstraint("id")
        ),
        "skip",
        constraint_count("projects", "u"),
        0,
    ),
    Case(
        "create_table/reconcile",
        lambda op: op.create_table(
            "tasks",
            A("id", INT, primary_key=True),
            A("title", T),
            A("project_id", INT, sa.ForeignKey("projects.id")),
            A("due", sa.Date),
        ),
        "act",
        col_type("tasks", "due"),
        "date",
        message=("added column due", "constraint"),
    ),
    Case(
        "create_table/incompatible",
        lambda op: op.create_table("tasks", A("id", INT, primary_key=True), A("title", INT)),
        "refuse",
        message=("title: in the database text NULL; in the migration integer NULL",),
    ),
    Case(
        "create_table/fk-target-missing",
        lambda op: op.create_table(
            "tags", A("id", INT, primary_key=True), A("u", INT, sa.ForeignKey("users.id"))
        ),
        "debt",
        exists("tags"),
        False,
        settings=LENIENT,
    ),
    # drops
    Case(
        "drop_column/present",
        lambda op: op.drop_column("tasks", "title"),
        "act",
        col_type("tasks", "title"),
        None,
    ),
    Case("drop_column/absent", lambda op: op.drop_column("tasks", "nope"), "skip"),
    Case(
        "drop_column/not-allowed",
        lambda op: op.drop_column("tasks", "title"),
        "refuse",
        settings=NO_DROPS,
        message=("destroys its data",),
    ),
    Case("drop_table/absent", lambda op: op.drop_table("nope"), "skip"),
    Case("drop_table/present", lambda op: op.drop_table("tasks"), "act", exists("tasks"), False),
    Case("drop_table/not-allowed", lambda op: op.drop_table("tasks"), "refuse", settings=NO_DROPS),
    Case("drop_index/absent", lambda op: op.drop_index("ix_nope", table_name="tasks"), "skip"),
    Case(
        "drop_index/present",
        lambda op: op.drop_index("ix_title", table_name="tasks"),
        "act",
        exists("ix_title"),
        False,
        setup="CREATE INDEX ix_title ON tasks (title)",
    ),
    Case("drop_constraint/absent", lambda op: op.drop_constraint("fk_p", "tasks"), "skip"),
    Case(
        "drop_constraint/present",
        lambda op: op.drop_constraint("fk_p", "tasks"),
        "act",
        con_valid("fk_p"),
        None,
        setup=FK_SQL,
    ),
]


@pytest.fixture
def conn(pg_url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as c:
            c.exec_driver_sql(BASE)
            c.commit()
            yield c
    finally:
        engine.dispose()


@pytest.mark.db
@pytest.mark.parametrize("case", CASES + REGRESSIONS, ids=[c.id for c in CASES + REGRESSIONS])
def test_guarded_op(case: Case, conn: sa.Connection, caplog: pytest.LogCaptureFixture) -> None:
    if case.setup:
        conn.exec_driver_sql(case.setup)
        conn.commit()
    ctx = GuardContext(make_settings(**{"policy": "strict", **case.settings}))
    caplog.set_level(logging.INFO, logger="alembic_guard.ops")
    refused: GuardRefused | None = None
    with operations(conn, ctx) as op:
        before = snapshot(conn)
        sums = row_checksums(conn, before)
        try:
            case.op(op)
        except GuardRefused as exc:
            refused = exc
        if case.action in ("refuse", "skip", "debt"):
            # checked inside the transaction: the guard itself sent nothing
            assert snapshot(conn) == before
            assert row_checksums(conn, before) == sums
        if refused is not None:
            conn.rollback()  # leave the harness's transaction to end cleanly
    event = ctx.events[-1]
    assert event.action == case.action, (event, refused)
    assert (refused is not None) == (case.action == "refuse")
    text = str(refused) if refused is not None else event.reason
    for m in case.message:
        assert m in text
    if case.log:
        assert case.log in caplog.messages
    if case.action == "debt":
        assert any(r.levelno == logging.WARNING for r in caplog.records)
    if case.check:
        assert conn.exec_driver_sql(case.check).scalar() == case.expect
    if refused is not None:
        assert refused.hint
