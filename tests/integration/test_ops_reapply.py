"""Guarded re-apply (``stamp base`` + ``upgrade head``, ledger kept) on a database at head (issue 10).

Each test runs one operation of an early revision on a database a later
revision has moved on, with the later revisions' changes known
(``GuardContext.later``, as the runtime gives them), and once without them:
what the history explains is skipped with a note; what nothing explains runs
(or is refused) as before.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from alembic_guard.changes import PutColumn
from alembic_guard.errors import GuardRefused
from alembic_guard.model import Column, ObjRef
from alembic_guard.ops import GuardContext
from alembic_guard.ops.standalone import operations

pytestmark = pytest.mark.db


@pytest.fixture
def conn(pg_url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as c:
            # at head: title went varchar(10) -> varchar(20) -> text, and holds a 30-character value
            c.exec_driver_sql("CREATE TABLE memo (id int PRIMARY KEY, title text, body text NOT NULL)")
            c.exec_driver_sql("INSERT INTO memo VALUES (1, 'a title of thirty characters!!', '')")
            c.commit()
            yield c
    finally:
        engine.dispose()


def _narrow(conn: sa.Connection, ctx: GuardContext) -> list[tuple[str, str]]:
    try:
        with operations(conn, ctx, touched=[("public", "memo")]) as op:
            op.alter_column("memo", "title", type_=sa.String(20))
    finally:
        conn.rollback()
    return [(e.action, e.reason) for e in ctx.events]


def test_alter_column_a_later_revision_widened_again_is_left_alone(conn: sa.Connection) -> None:
    """Before: the narrowing ran and failed with 22001 (value too long for type character varying(20))."""
    ctx = GuardContext()
    ctx.later = lambda revision: [PutColumn("public", "memo", Column("title", "text"))]
    events = _narrow(conn, ctx)
    assert [a for a, _ in events] == ["skip"], events
    assert "is the shape a later revision gives it" in events[0][1]
    assert conn.exec_driver_sql("SELECT title FROM memo").scalar() == "a title of thirty characters!!"


def test_alter_column_nothing_explains_runs_as_before(conn: sa.Connection) -> None:
    """No later revision widens it: the narrowing is this revision's to make (and PostgreSQL refuses it)."""
    with pytest.raises(sa.exc.DataError, match="value too long"):
        _narrow(conn, GuardContext())


def test_alter_column_default_or_nullability_the_history_does_not_explain_runs(conn: sa.Connection) -> None:
    """A fresh run: the later revisions leave the column as it is now, so this revision's change is made."""
    ctx = GuardContext()
    ctx.later = lambda revision: [PutColumn("public", "other", Column("x", "int"))]
    try:
        with operations(conn, ctx, touched=[("public", "memo")]) as op:
            op.alter_column("memo", "title", server_default="untitled")
            op.alter_column("memo", "body", nullable=True)  # drop NOT NULL: not the database's shape either
    finally:
        conn.rollback()
    assert [e.action for e in ctx.events] == ["act", "act"], ctx.events


def test_raw_create_table_a_later_revision_evolved_is_skipped(conn: sa.Connection) -> None:
    """Raw ``CREATE TABLE`` decided as ``create_table`` is: before, refused (another definition)."""
    sql = "CREATE TABLE memo (id int PRIMARY KEY, title varchar(10), body text NOT NULL)"
    ctx = GuardContext()
    ctx.later = lambda revision: [PutColumn("public", "memo", Column("title", "text"))]
    try:
        with operations(conn, ctx, touched=[("public", "memo")]) as op:
            op.execute(sql)
    finally:
        conn.rollback()
    assert [(e.action, e.reason) for e in ctx.events] == [
        ("skip", "already there with a compatible shape; evolved since by later revisions: column(s) title")
    ]
    refused = pytest.raises(
        GuardRefused, match="title: in the database text NULL; in the SQL character varying"
    )
    with refused, operations(conn, GuardContext(), touched=[("public", "memo")]) as op:
        op.execute(sql)


def _pk(conn: sa.Connection, table: str) -> str | None:
    return conn.exec_driver_sql(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'p' AND conrelid = "
        f"'{table}'::regclass"
    ).scalar()


def test_a_statement_that_drops_and_remakes_a_primary_key_is_not_run_again(conn: sa.Connection) -> None:
    """Before: the second run dropped the key it had made, then skipped the column: no primary key left."""
    conn.exec_driver_sql(
        "CREATE TABLE ident (provider text NOT NULL, pid text NOT NULL, "
        "CONSTRAINT ident_pkey PRIMARY KEY (provider, pid))"
    )
    conn.commit()
    swap = (
        "ALTER TABLE ident DROP CONSTRAINT IF EXISTS ident_pkey, "
        "ADD COLUMN IF NOT EXISTS id uuid DEFAULT gen_random_uuid() PRIMARY KEY"
    )
    for expected in ("act", "skip"):
        ctx = GuardContext()
        try:
            with operations(conn, ctx, touched=[("public", "ident")]) as op:
                op.execute(swap)
        finally:
            conn.rollback()
        assert [e.action for e in ctx.events] == [expected], ctx.events
        assert _pk(conn, "ident") == "PRIMARY KEY (id)"
    assert "what it drops and makes again is there" in ctx.events[0].reason


def test_rerun_does_not_make_again_what_a_later_revision_drops(conn: sa.Connection) -> None:
    """Re-running the history (the ledger says so: ``ctx.rerun``): an index and a constraint a later
    revision drops are not made again; on a first run (``rerun`` false) they are made."""
    from alembic_guard.changes import DropObject
    from alembic_guard.model import ObjRef

    later = [
        DropObject(ObjRef("index", "public", "memo_title_idx")),
        DropObject(ObjRef("constraint", "public", "memo_title_key", "memo")),
    ]
    for rerun, expected in ((True, ["skip", "skip"]), (False, ["act", "act"])):
        ctx = GuardContext()
        ctx.later = lambda revision: later
        ctx.rerun = rerun
        try:
            with operations(conn, ctx, touched=[("public", "memo")]) as op:
                op.create_index("memo_title_idx", "memo", ["title"])
                op.create_unique_constraint("memo_title_key", "memo", ["title"])
        finally:
            conn.rollback()
        assert [e.action for e in ctx.events] == expected, ctx.events
        if rerun:
            assert all("not made again: a later revision drops it" in e.reason for e in ctx.events)


def test_reconciled_table_gets_a_foreign_key_written_without_columns(conn: sa.Connection) -> None:
    """``REFERENCES memo`` names no column: the key is memo's primary key (before: a Python crash,
    "zip() argument 2 is shorter than argument 1", re-running such a CREATE TABLE)."""
    conn.exec_driver_sql("CREATE TABLE reply (id int PRIMARY KEY, memo_id int)")
    conn.commit()
    ctx = GuardContext()
    try:
        with operations(conn, ctx, touched=[("public", "reply"), ("public", "memo")]) as op:
            op.execute("CREATE TABLE reply (id int PRIMARY KEY, memo_id int REFERENCES memo)")
    finally:
        conn.rollback()
    assert ctx.events[-1].action == "act", ctx.events
    fk = conn.exec_driver_sql(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid = 'reply'::regclass"
    ).scalar()
    assert fk == "FOREIGN KEY (memo_id) REFERENCES memo(id)"


def test_rerun_does_not_make_again_a_view_a_later_revision_drops(conn: sa.Connection) -> None:
    """The view's ``m.*`` now lists a column a later revision added, named twice (42701 before):
    on a re-run the view, which a later revision drops, is not made again."""
    from alembic_guard.changes import DropObject
    from alembic_guard.model import ObjRef

    sql = "CREATE VIEW memo_view AS SELECT m.*, m.title AS title FROM memo m"
    ctx = GuardContext()
    ctx.later = lambda revision: [DropObject(ObjRef.relation("public", "memo_view"))]
    ctx.rerun = True
    try:
        with operations(conn, ctx, touched=[("public", "memo")]) as op:
            op.execute(sql)
    finally:
        conn.rollback()
    assert [e.action for e in ctx.events] == ["skip"], ctx.events
    assert "relation memo_view not made again: a later revision drops it" in ctx.events[0].reason
    fails = pytest.raises(sa.exc.ProgrammingError, match="specified more than once")  # a first run
    with fails, operations(conn, GuardContext(), touched=[("public", "memo")]) as op:
        op.execute(sql)


def test_index_on_a_column_renamed_later_is_this_revisions_index(conn: sa.Connection) -> None:
    """``CREATE INDEX ... (title)`` re-run where a later revision renamed ``title`` to ``heading``: the
    index on ``heading`` is this one, evolved (before: refused, "exists with another definition")."""
    from alembic_guard.changes import RenameObject
    from alembic_guard.model import ObjRef

    conn.exec_driver_sql("ALTER TABLE memo RENAME COLUMN title TO heading")
    conn.exec_driver_sql("CREATE INDEX memo_title_idx ON memo (heading)")
    conn.commit()
    ctx = GuardContext()
    ctx.later = lambda revision: [RenameObject(ObjRef.column("public", "memo", "title"), "heading")]
    try:
        with operations(conn, ctx, touched=[("public", "memo")]) as op:
            op.execute("CREATE INDEX memo_title_idx ON memo (title)")
    finally:
        conn.rollback()
    assert [e.action for e in ctx.events] == ["skip"], ctx.events


def test_rerun_of_a_multi_column_add_where_one_column_was_dropped_later(conn: sa.Connection) -> None:
    """``ADD COLUMN title, ADD COLUMN old_note UNIQUE`` re-run: title is there, old_note a later revision
    dropped; before, it ran and failed (42701 column "title" already exists)."""
    from alembic_guard.changes import DropObject

    sql = "ALTER TABLE memo ADD COLUMN title text, ADD COLUMN old_note text UNIQUE"
    ctx = GuardContext()
    ctx.later = lambda revision: [DropObject(ObjRef.column("public", "memo", "old_note"))]
    ctx.rerun = True
    try:
        with operations(conn, ctx, touched=[("public", "memo")]) as op:
            op.execute(sql)
    finally:
        conn.rollback()
    assert [e.action for e in ctx.events] == ["skip"], ctx.events
    assert "column memo.old_note not added again: a later revision drops it" in ctx.events[0].reason
