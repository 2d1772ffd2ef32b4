"""The live snapshot against a real PostgreSQL: every fact, restricted reads, refresh, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from alembic_guard.errors import ConnectionFailed, GuardError
from alembic_guard.live.snapshot import BOOKKEEPING_TABLES, SnapshotError, refresh, snapshot
from alembic_guard.model import (
    Column,
    CompositeType,
    Constraint,
    EnumType,
    Extension,
    Function,
    Index,
    QName,
    SchemaModel,
    Sequence,
    Table,
    Trigger,
    View,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "snapshot"
LEGACY = ROOT / "alembic" / "legacy_sql"

pytestmark = pytest.mark.db


@pytest.fixture
def engine(pg_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(pg_url)
    yield eng
    eng.dispose()


def build_every_kind(engine: sa.Engine) -> None:
    """The fixture schema, plus an INVALID index left by a failed concurrent build."""
    with engine.begin() as conn:
        conn.exec_driver_sql((FIXTURES / "every_kind.sql").read_text())
        conn.exec_driver_sql("INSERT INTO tasks (title) VALUES ('dup'), ('dup')")
    autocommit = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    with autocommit as conn, pytest.raises(sa.exc.IntegrityError):
        conn.exec_driver_sql("CREATE UNIQUE INDEX CONCURRENTLY tasks_title_uq ON tasks (title)")


def col(name: str, type_: str, nullable: bool = True, default: str | None = None, **kw: object) -> Column:
    return Column(name, type_, nullable, default, **kw)  # type: ignore[arg-type]


def idx(table: QName, name: str, *columns: str, **kw: object) -> Index:
    return Index(table[0], name, table, columns, **kw)  # type: ignore[arg-type]


USERS, PROJECTS, TASKS = ("public", "users"), ("app", "projects"), ("public", "tasks")
BOOKINGS, EVENTS = ("app", "bookings"), ("public", "events")

EXPECTED_TABLES = {
    USERS: Table(
        "public",
        "users",
        (
            col("id", "integer", False, "nextval('users_id_seq'::regclass)", identity=True),
            col("email", "citext", False),
            col("Nick Name", "character varying(40)"),
            col("mood", "app.mood", True, "'ok'::app.mood"),
            col("created_at", "timestamp(3) with time zone", False, "now()"),
            col("tags", "text[]"),
        ),
    ),
    PROJECTS: Table(
        "app",
        "projects",
        (
            col("id", "bigint", False, identity=True),
            col("owner_id", "integer", False),
            col("name", "text", False),
            col("slug", "text", generated="lower(name)"),
            col("budget", "numeric(12,2)"),
        ),
    ),
    TASKS: Table(
        "public",
        "tasks",
        (
            col("id", "integer", False, "nextval('tasks_id_seq'::regclass)", identity=True),
            col("project_id", "bigint"),
            col("title", "text", False),
            col("status", "character varying(20)", False, "'todo'::character varying"),
            col("done_at", "timestamp without time zone"),
        ),
    ),
    ("public", "scratch"): Table("public", "scratch", (col("k", "text"), col("v", "text")), kind="unlogged"),
    BOOKINGS: Table(
        "app",
        "bookings",
        (
            col("room", "integer", False),
            col("during", "tsrange", False),
            col("code", "text"),
        ),
    ),
    EVENTS: Table("public", "events", (col("at", "date", False), col("what", "text")), kind="partitioned"),
    ("public", "events_2026"): Table(
        "public", "events_2026", (col("at", "date", False), col("what", "text"))
    ),
    ("public", "alembic_version"): Table(
        "public", "alembic_version", (col("version_num", "character varying(32)", False),)
    ),
}

EXPECTED_INDEXES = {
    i.qname: i
    for i in (
        idx(USERS, "users_pkey", "id", unique=True),
        idx(USERS, "users_email_key", "email", unique=True),
        idx(PROJECTS, "projects_pkey", "id", unique=True),
        idx(TASKS, "tasks_pkey", "id", unique=True),
        idx(
            TASKS,
            "tasks_open_idx",
            "project_id",
            include=("title",),
            predicate="((status)::text <> 'done'::text)",
        ),
        idx(TASKS, "tasks_lower_title_idx", "lower(title)", "id"),
        idx(TASKS, "tasks_title_hash_idx", "title", method="hash"),
        idx(TASKS, "tasks_title_uq", "title", unique=True, valid=False),
        idx(BOOKINGS, "bookings_no_overlap", "during", method="gist"),
        idx(BOOKINGS, "bookings_code_key", "code", unique=True),
        idx(("public", "task_counts"), "task_counts_project_idx", "project_id"),
        idx(("public", "alembic_version"), "alembic_version_pkey", "version_num", unique=True),
    )
}

EXPECTED_CONSTRAINTS = {
    (c.table[0], c.table[1], c.name): c
    for c in (
        Constraint("users_pkey", USERS, "primary_key", ("id",)),
        Constraint("users_email_key", USERS, "unique", ("email",)),
        Constraint("projects_pkey", PROJECTS, "primary_key", ("id",)),
        Constraint(
            "projects_budget_check", PROJECTS, "check", ("budget",), expression="budget >= 0::numeric"
        ),
        Constraint(
            "projects_owner_fk", PROJECTS, "foreign_key", ("owner_id",), USERS, ("id",), on_delete="cascade"
        ),
        Constraint("tasks_pkey", TASKS, "primary_key", ("id",)),
        Constraint(
            "tasks_project_fk",
            TASKS,
            "foreign_key",
            ("project_id",),
            PROJECTS,
            ("id",),
            validated=False,
            on_update="set null",
        ),
        Constraint(
            "tasks_status_ck",
            TASKS,
            "check",
            ("status",),
            validated=False,
            expression=(
                "status::text = ANY (ARRAY['todo'::character varying, 'doing'::character varying, "
                "'done'::character varying]::text[])"
            ),
        ),
        Constraint(
            "bookings_no_overlap",
            BOOKINGS,
            "exclude",
            ("during",),
            expression="EXCLUDE USING gist (during WITH &&)",
        ),
        Constraint("bookings_code_key", BOOKINGS, "unique", ("code",), deferrable=True),
        Constraint("alembic_version_pkey", ("public", "alembic_version"), "primary_key", ("version_num",)),
    )
}


def expected_views(server_version_num: int) -> dict[tuple[str, str], View]:
    """The views as PostgreSQL deparses them: 16 and later drop unambiguous column qualifiers."""
    q = "" if server_version_num >= 160000 else "tasks."
    return {
        ("app", "open_tasks"): View(
            "app",
            "open_tasks",
            (f" SELECT {q}id,\n    {q}title\n   FROM tasks\n  WHERE (({q}status)::text <> 'done'::text);"),
            columns=("id", "title"),
        ),
        ("public", "task_counts"): View(
            "public",
            "task_counts",
            (f" SELECT {q}project_id,\n    count(*) AS n\n   FROM tasks\n  GROUP BY {q}project_id;"),
            materialized=True,
            columns=("project_id", "n"),
        ),
    }


EXPECTED_SEQUENCES = {
    s.qname: s
    for s in (
        Sequence("public", "users_id_seq", ("public", "users", "id")),
        Sequence("public", "tasks_id_seq", ("public", "tasks", "id")),
        Sequence("public", "tasks_legacy_seq", ("public", "tasks", "project_id")),
        Sequence("app", "projects_id_seq", ("app", "projects", "id")),  # the identity column's
        Sequence("app", "ticket_seq", None),
    )
}

EXPECTED_FUNCTIONS = {
    f.qname: f
    for f in (
        Function("app", "touch", "function", "", "trigger", "plpgsql"),
        Function("public", "add_one", "function", "i bigint", "bigint", "sql"),
        Function("app", "refuse", "function", "", "trigger", "plpgsql"),
        Function("app", "noop", "procedure", "IN a text, IN b integer", None, "sql"),
    )
}


def test_snapshot_reads_every_object_kind(engine: sa.Engine) -> None:
    build_every_kind(engine)
    with engine.connect() as conn:
        model = snapshot(conn)
        version = int(conn.exec_driver_sql("SHOW server_version_num").scalar_one())
        # each server release ships its own citext (1.6 on 14-17, 1.8 on 18)
        citext = conn.exec_driver_sql(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'citext'"
        ).scalar_one()

    assert model.schemas == {"public", "app"}
    assert model.tables == EXPECTED_TABLES
    assert model.indexes == EXPECTED_INDEXES
    assert model.constraints == EXPECTED_CONSTRAINTS
    assert model.views == expected_views(version)
    assert model.sequences == EXPECTED_SEQUENCES
    # 'meh' was added BEFORE 'ok': the order is enumsortorder's, not creation order
    assert model.enums == {("app", "mood"): EnumType("app", "mood", ("sad", "meh", "ok", "happy"))}
    assert model.composites == {
        ("app", "point2"): CompositeType(
            "app",
            "point2",
            (
                col("x", "double precision"),
                col("y", "double precision"),
            ),
        )
    }
    # plpgsql (initdb's) is left out; citext's own functions and type are extension members
    assert model.extensions == {"citext": Extension("citext", "public", citext)}
    assert model.functions == EXPECTED_FUNCTIONS
    assert model.triggers == {
        ("public", "tasks", "tasks_touch"): Trigger(
            "tasks_touch", TASKS, ("app", "touch"), "before", ("insert", "update")
        ),
        ("public", "tasks", "tasks_no_truncate"): Trigger(
            "tasks_no_truncate", TASKS, ("app", "refuse"), "after", ("delete", "truncate")
        ),
        ("app", "open_tasks", "open_tasks_no_delete"): Trigger(
            "open_tasks_no_delete", ("app", "open_tasks"), ("app", "refuse"), "instead of", ("delete",)
        ),
    }


def test_snapshot_agrees_with_direct_catalog_queries(engine: sa.Engine) -> None:
    build_every_kind(engine)
    with engine.connect() as conn:
        model = snapshot(conn)
        q = conn.exec_driver_sql
        valid = dict(
            q(
                "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'app')"
            ).all()
        )
        assert {name: ix.valid for (_, name), ix in model.indexes.items()} == valid
        assert valid["tasks_title_uq"] is False

        convalidated = dict(
            q(
                "SELECT conname, convalidated FROM pg_constraint WHERE contype IN ('f', 'c') "
                "AND connamespace IN (SELECT oid FROM pg_namespace WHERE nspname IN ('public', 'app'))"
            ).all()
        )
        ours = {k[2]: c.validated for k, c in model.constraints.items() if c.kind in ("foreign_key", "check")}
        assert ours == convalidated

        types = {
            (s, t, c): ty
            for s, t, c, ty in q(
                "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
                "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'app') "
                "AND a.attnum > 0 AND NOT a.attisdropped"
            )
        }
        # format_type spells these exactly as canonical_type does
        assert {(s, t, c.name): c.type for (s, t), tab in model.tables.items() for c in tab.columns} == types

        labels = [r[0] for r in q("SELECT unnest(enum_range(NULL::app.mood))::text")]
        assert list(model.enums[("app", "mood")].values) == labels

        triggers = {r[0] for r in q("SELECT trigger_name FROM information_schema.triggers")}
        assert {k[2] for k in model.triggers} == triggers


def test_exclude_leaves_out_bookkeeping_tables(engine: sa.Engine) -> None:
    build_every_kind(engine)
    with engine.connect() as conn:
        model = snapshot(conn, exclude=BOOKKEEPING_TABLES)
    assert ("public", "alembic_version") not in model.tables
    assert ("public", "alembic_version_pkey") not in model.indexes
    assert not [k for k in model.constraints if k[1] == "alembic_version"]
    assert ("public", "tasks") in model.tables


def test_schemas_argument_limits_what_is_read(engine: sa.Engine) -> None:
    build_every_kind(engine)
    with engine.connect() as conn:
        model = snapshot(conn, ["app"])
    assert model.schemas == {"app"}
    assert set(model.tables) == {PROJECTS, BOOKINGS}
    assert set(model.sequences) == {("app", "projects_id_seq"), ("app", "ticket_seq")}
    assert set(model.functions) == {("app", "touch"), ("app", "noop"), ("app", "refuse")}
    # a foreign key still names its target outside the schemas read
    assert model.constraints[("app", "projects", "projects_owner_fk")].ref_table == USERS


def restricted(model: SchemaModel, names: set[QName]) -> SchemaModel:
    """The facts a ``tables=`` snapshot is defined to hold, cut from a full one."""
    return SchemaModel(
        schemas={s for s, _ in names if (s, _) in model.tables or (s, _) in model.views},
        tables={k: v for k, v in model.tables.items() if k in names},
        views={k: v for k, v in model.views.items() if k in names},
        indexes={k: v for k, v in model.indexes.items() if v.table in names},
        constraints={k: v for k, v in model.constraints.items() if v.table in names},
        triggers={k: v for k, v in model.triggers.items() if v.table in names},
    )


@pytest.mark.parametrize(
    "names",
    [
        {TASKS},
        {USERS, PROJECTS, ("public", "task_counts")},
        {BOOKINGS, EVENTS, ("public", "no_such_table"), ("nowhere", "tasks")},
        {("app", "open_tasks"), ("public", "scratch"), ("public", "alembic_version")},
    ],
    ids=["one", "cross-schema", "missing-names", "view"],
)
def test_tables_restricted_snapshot_equals_full_one_restricted(engine: sa.Engine, names: set[QName]) -> None:
    build_every_kind(engine)
    with engine.connect() as conn:
        full = snapshot(conn)
        part = snapshot(conn, tables=names)
    assert part == restricted(full, names)
    assert part.tables or part.views


def test_refresh_sees_ddl_made_after_the_snapshot(engine: sa.Engine) -> None:
    build_every_kind(engine)
    with engine.connect() as conn:
        model = snapshot(conn)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE tasks ADD COLUMN priority smallint NOT NULL DEFAULT 3")
        conn.exec_driver_sql("DROP INDEX tasks_title_hash_idx")
        conn.exec_driver_sql("ALTER TABLE tasks VALIDATE CONSTRAINT tasks_project_fk")
        conn.exec_driver_sql("DROP TRIGGER tasks_touch ON tasks")
        conn.exec_driver_sql("DROP TABLE scratch")
        conn.exec_driver_sql("CREATE INDEX users_mood_idx ON users (mood)")
    untouched = model.tables[PROJECTS]
    with engine.connect() as conn:
        refresh(model, conn, [TASKS, ("public", "scratch"), USERS])
        now = snapshot(conn)

    assert model == now
    assert model.tables[TASKS].column("priority") == col("priority", "smallint", False, "3")
    assert ("public", "tasks_title_hash_idx") not in model.indexes
    assert model.constraints[("public", "tasks", "tasks_project_fk")].validated
    assert ("public", "scratch") not in model.tables
    assert ("public", "users_mood_idx") in model.indexes
    assert model.tables[PROJECTS] is untouched


def test_snapshot_uses_the_callers_open_transaction(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE uncommitted (a int)")
        assert conn.in_transaction()
        model = snapshot(conn)
        # it read inside the caller's transaction (sees its DDL) and left it open
        assert ("public", "uncommitted") in model.tables
        assert conn.in_transaction()
        conn.rollback()
        assert snapshot(conn).tables == {}
        # a transaction it opened itself is closed again
        assert not conn.in_transaction()


def test_snapshot_on_an_autocommit_connection(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a int NOT NULL)")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        model = snapshot(conn)
    assert model.tables == {("public", "t"): Table("public", "t", (col("a", "integer", False),))}


def test_an_error_of_the_read_itself_is_not_a_lost_connection(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        with pytest.raises(sa.exc.ProgrammingError):
            conn.exec_driver_sql("SELECT * FROM no_such_table")
        # the caller's transaction is now aborted; the snapshot runs inside it and fails
        with pytest.raises(SnapshotError) as err:
            snapshot(conn)
    assert not isinstance(err.value, ConnectionFailed)
    assert "current transaction is aborted" in err.value.message


def test_snapshot_of_the_legacy_sql_applied_in_a_working_order(engine: sa.Engine) -> None:
    first = (LEGACY / "0001_core_tables_idempotent.sql").read_text()
    project_index = "CREATE INDEX IF NOT EXISTS idx_tasks_project_id ON tasks (project_id);"
    assert project_index in first
    with engine.begin() as conn:
        conn.exec_driver_sql(first.replace(project_index, ""))
        conn.exec_driver_sql((LEGACY / "0003_tasks_project.sql").read_text())
        conn.exec_driver_sql(project_index)
        conn.exec_driver_sql((LEGACY / "0002_comments.sql").read_text())
        conn.exec_driver_sql((LEGACY / "0004_reporting.sql").read_text())
    with engine.connect() as conn:
        model = snapshot(conn)

    assert set(model.tables) == {USERS, ("public", "projects"), TASKS, ("public", "comments")}
    assert model.tables[TASKS].column_names() == (
        "id",
        "title",
        "status",
        "assignee_id",
        "created_at",
        "project_id",
    )
    assert model.tables[USERS].column("email") == col("email", "character varying(255)", False)
    fks = {
        k[2]: (c.table[1], c.columns, c.ref_table, c.ref_columns, c.on_delete)
        for k, c in model.constraints.items()
        if c.kind == "foreign_key"
    }
    assert fks == {
        "projects_owner_id_fkey": ("projects", ("owner_id",), USERS, ("id",), None),
        "tasks_assignee_id_fkey": ("tasks", ("assignee_id",), USERS, ("id",), None),
        "fk_tasks_project_id": ("tasks", ("project_id",), ("public", "projects"), ("id",), None),
        "comments_task_id_fkey": ("comments", ("task_id",), TASKS, ("id",), "cascade"),
        "comments_author_id_fkey": ("comments", ("author_id",), USERS, ("id",), None),
    }
    assert model.constraints[("public", "projects", "uq_projects_owner_name")].columns == ("owner_id", "name")
    assert model.constraints[("public", "tasks", "ck_tasks_status")].columns == ("status",)
    assert model.indexes[("public", "idx_tasks_project_id")].columns == ("project_id",)
    assert model.views[("public", "project_task_counts")].columns == ("project_id", "name", "open_tasks")
    assert set(model.sequences) == {
        ("public", f"{t}_id_seq") for t in ("users", "projects", "tasks", "comments")
    }


def test_lost_connection_is_one_masked_line(engine: sa.Engine, pg_url: str) -> None:
    url = sa.engine.make_url(pg_url).set(password="s3cret-pw")  # trust auth ignores it
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            conn.commit()
            with engine.begin() as admin:
                admin.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
            with pytest.raises(ConnectionFailed) as err:
                snapshot(conn)
    finally:
        eng.dispose()
    text = err.value.render()
    assert "s3cret-pw" not in text and "***" in text
    assert err.value.message.count("\n") == 0
    assert err.value.exit_code == 2


def test_missing_privilege_is_a_guard_error(engine: sa.Engine, pg_url: str) -> None:
    role = "snapshot_reader_" + sa.engine.make_url(pg_url).database.rsplit("_", 1)[-1]  # type: ignore[union-attr]
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a int)")
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        # pg_trigger is world-readable by default; take that away in this database only
        conn.exec_driver_sql("REVOKE SELECT ON pg_catalog.pg_trigger FROM PUBLIC")
    eng = sa.create_engine(sa.engine.make_url(pg_url).set(username=role, password="s3cret-pw"))
    try:
        with eng.connect() as conn, pytest.raises(SnapshotError) as err:
            snapshot(conn)
    finally:
        eng.dispose()
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP ROLE {role}")
    assert isinstance(err.value, GuardError)
    assert "permission denied" in err.value.message and "pg_trigger" in err.value.message
    assert "s3cret-pw" not in err.value.render()
    assert err.value.hint


def test_catalog_indexes_match_what_the_inspector_reports(engine: sa.Engine) -> None:
    """snapshot() reads indexes with one catalog query instead of get_multi_indexes
    (faster, and it also sees the primary-key indexes the Inspector leaves out);
    the two must agree on every index the Inspector does report."""
    build_every_kind(engine)
    with engine.connect() as conn:
        model = snapshot(conn)
        insp = sa.inspect(conn)
        seen = {}
        for schema in ("public", "app"):
            for (_, table), found in insp.get_multi_indexes(schema=schema).items():
                for ix in found:
                    opts = ix.get("dialect_options", {})
                    seen[(schema, ix["name"])] = Index(
                        schema,
                        ix["name"],
                        (schema, table),
                        tuple(ix.get("expressions") or ix["column_names"]),
                        unique=bool(ix["unique"]),
                        predicate=opts.get("postgresql_where"),
                        include=tuple(opts.get("postgresql_include") or ()),
                        method=opts.get("postgresql_using", "btree"),
                        valid=not opts.get("postgresql_invalid", False),
                    )
    tables_only = {k: v for k, v in model.indexes.items() if v.table in model.tables}
    pk_indexes = {k for k, v in tables_only.items() if v.name.endswith("_pkey")}
    assert pk_indexes and set(seen) == set(tables_only) - pk_indexes
    assert seen == {k: tables_only[k] for k in seen}


def test_snapshot_works_with_psycopg3(pg_url: str) -> None:
    eng = sa.create_engine(sa.engine.make_url(pg_url).set(drivername="postgresql+psycopg"))
    try:
        build_every_kind(eng)
        with eng.connect() as conn:
            model = snapshot(conn)
            part = snapshot(conn, tables=[TASKS])
    finally:
        eng.dispose()
    assert model.tables == EXPECTED_TABLES
    assert model.indexes == EXPECTED_INDEXES
    assert part == restricted(model, {TASKS})


# -- the one-query refresh (tables=) against the Inspector-based full snapshot --------------------

EDGE_TABLES = {("public", "Order Lines"), ("public", "shipments"), ("public", "remote_rows")}


def build_refresh_edges(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        if int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) < 150000:
            # the fixture's ON DELETE SET NULL (column) is PostgreSQL 15 syntax, its sharpest edge
            pytest.skip("refresh_edges.sql needs PostgreSQL 15 (ON DELETE SET NULL (column))")
    build_every_kind(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql((FIXTURES / "refresh_edges.sql").read_text())


def test_one_query_refresh_equals_full_snapshot_for_every_relation(engine: sa.Engine) -> None:
    """``tables=`` reads pg_constraint where the full snapshot asks the Inspector: same facts."""
    build_refresh_edges(engine)
    with engine.connect() as conn:
        full = snapshot(conn)
        names = set(full.tables) | set(full.views)
        part = snapshot(conn, tables=names | {("public", "missing")})
    assert names >= EDGE_TABLES
    assert part == restricted(full, names)
    # the facts most likely to differ between the two paths, checked where they must be
    lines, ships = ("public", "Order Lines"), ("public", "shipments")
    assert part.constraints[(*lines, "order_lines_pk")].columns == ("line", "Order")
    assert part.constraints[(*lines, "Order Lines SKU uq")].columns == ("SKU",)
    assert part.constraints[(*lines, "Order Lines_qty_check")].expression == "qty > 0"
    assert part.constraints[(*ships, "shipments_line_fk")] == Constraint(
        "shipments_line_fk",
        ships,
        "foreign_key",
        ("line", "ord"),
        lines,
        ("line", "Order"),
        on_delete="set null (ord)",
        on_update="cascade",
        deferrable=True,
    )
    self_fk = part.constraints[(*ships, "shipments_self_fk")]
    assert (self_fk.validated, self_fk.on_delete) == (False, "restrict")
    assert part.constraints[(*ships, "shipments_carrier_ck")].expression == (
        "carrier IS NULL OR length(carrier) > 1 AND carrier <> 'x'::text"
    )
    assert part.indexes[("public", "shipments_expr_partial")] == Index(
        "public",
        "shipments_expr_partial",
        ships,
        ("lower(carrier)", "(ord + line)"),
        predicate="(ord IS NOT NULL)",
    )
    assert part.indexes[("public", "tasks_title_uq")].valid is False
    assert part.constraints[("public", "tasks", "tasks_project_fk")].validated is False
    assert part.tables[("public", "remote_rows")].kind == "foreign"


def test_one_query_refresh_is_one_round_trip(engine: sa.Engine) -> None:
    build_refresh_edges(engine)
    statements: list[str] = []
    with engine.connect() as conn:
        sa.event.listen(conn, "before_cursor_execute", lambda *a: statements.append(a[2]))
        with conn.begin():  # inside the caller's transaction: no BEGIN / SET TRANSACTION of its own
            model = snapshot(conn, tables=EDGE_TABLES | {TASKS, USERS, ("app", "open_tasks")})
    assert len(statements) == 1
    assert set(model.tables) == EDGE_TABLES | {TASKS, USERS}
    assert set(model.views) == {("app", "open_tasks")}


def test_refresh_honours_schemas_and_exclude_like_the_full_read(engine: sa.Engine) -> None:
    build_every_kind(engine)
    names = {TASKS, PROJECTS, ("public", "alembic_version")}
    with engine.connect() as conn:
        only_app = snapshot(conn, ["app"], tables=names)
        no_bookkeeping = snapshot(conn, tables=names, exclude=BOOKKEEPING_TABLES)
    assert set(only_app.tables) == {PROJECTS} and only_app.schemas == {"app"}
    assert set(no_bookkeeping.tables) == {TASKS, PROJECTS}
    assert not [k for k in no_bookkeeping.indexes if k[1] == "alembic_version_pkey"]
