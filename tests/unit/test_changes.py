"""Model changes: replaying analysed statements gives the schema PostgreSQL would have.

The first tests replay small sets and check the model; the last one builds
real databases from the migration corpus and compares replay with the
catalog, so that implicit names, types and nullability are PostgreSQL's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from alembic_guard.changes import DropObject, apply, pg_object_name, replay
from alembic_guard.model import Column, Constraint, Index, ObjRef, SchemaModel, Table
from alembic_guard.sql.effects import analyze_all
from alembic_guard.sql.parse import parse_text
from alembic_guard.sql.statement import AnalyzedStatement
from alembic_guard.testing import PostgresServer

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus"


def run(sql: str, start: SchemaModel | None = None) -> SchemaModel:
    return replay(analyze_all(parse_text(sql, "m.sql")), start)


def test_serial_primary_key_and_defaults() -> None:
    m = run(
        "CREATE TABLE users (id serial PRIMARY KEY, email varchar(255) NOT NULL UNIQUE,"
        " nick text, created_at timestamptz DEFAULT now());"
    )
    t = m.tables[("public", "users")]
    assert t.columns == (
        Column("id", "integer", False, "nextval('users_id_seq'::regclass)"),
        Column("email", "character varying(255)", False),
        Column("nick", "text", True),
        Column("created_at", "timestamp with time zone", True, "now()"),
    )
    assert m.sequences[("public", "users_id_seq")].owned_by == ("public", "users", "id")
    assert set(m.constraints) == {("public", "users", "users_pkey"), ("public", "users", "users_email_key")}


def test_primary_key_added_later_makes_columns_not_null() -> None:
    m = run("CREATE TABLE t (a int, b int);\nALTER TABLE t ADD PRIMARY KEY (a, b);")
    assert [c.nullable for c in m.tables[("public", "t")].columns] == [False, False]
    assert m.constraints[("public", "t", "t_pkey")].columns == ("a", "b")


def test_create_table_if_not_exists_adds_missing_columns_to_an_older_table() -> None:
    """The seed's failure: tasks exists in an older shape; the guarded form ensures every column."""
    old = SchemaModel()
    old.put_table(Table("public", "tasks", (Column("id", "integer", False), Column("title", "text"))))
    m = run(
        "CREATE TABLE IF NOT EXISTS tasks (id serial PRIMARY KEY, title text NOT NULL, project_id integer);\n"
        "CREATE INDEX IF NOT EXISTS idx_tasks_project_id ON tasks (project_id);",
        old,
    )
    assert m.tables[("public", "tasks")].column_names() == ("id", "title", "project_id")
    # the existing column keeps its shape: ensuring is not altering
    assert m.column("public", "tasks", "title") == Column("title", "text")
    assert m.indexes[("public", "idx_tasks_project_id")].columns == ("project_id",)
    assert old.tables[("public", "tasks")].column_names() == ("id", "title"), (
        "replay must not touch its start"
    )


def test_renames_carry_indexes_and_constraints() -> None:
    m = run(
        "CREATE TABLE a (id int PRIMARY KEY, ref int);\n"
        "CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a (id));\n"
        "CREATE INDEX b_a_id_ix ON b (a_id);\n"
        "ALTER TABLE b RENAME COLUMN a_id TO parent_id;\n"
        "ALTER TABLE a RENAME TO parents;\n"
        "ALTER TABLE parents RENAME COLUMN id TO pid;\n"
        "ALTER INDEX b_a_id_ix RENAME TO b_parent_ix;\n"
        "ALTER TABLE b RENAME CONSTRAINT b_a_id_fkey TO b_parent_fkey;\n"
    )
    assert ("public", "a") not in m.tables
    assert m.tables[("public", "parents")].column_names() == ("pid", "ref")
    assert m.indexes[("public", "b_parent_ix")].columns == ("parent_id",)
    fk = m.constraints[("public", "b", "b_parent_fkey")]
    assert (fk.columns, fk.ref_table, fk.ref_columns) == (("parent_id",), ("public", "parents"), ("pid",))
    assert m.constraints[("public", "parents", "a_pkey")].columns == ("pid",)


def test_renaming_the_index_behind_a_key_renames_the_constraint() -> None:
    m = run(
        "CREATE TABLE u (id int PRIMARY KEY, code text UNIQUE);\n"
        "ALTER TABLE u RENAME TO p;\n"
        "ALTER INDEX u_pkey RENAME TO p_pkey;\n"
        "ALTER INDEX u_code_key RENAME TO p_code_key;\n"
    )
    assert set(m.constraints) == {("public", "p", "p_pkey"), ("public", "p", "p_code_key")}
    assert m.constraints[("public", "p", "p_pkey")].kind == "primary_key"


def test_drop_column_takes_its_index_and_constraints() -> None:
    m = run(
        "CREATE TABLE t (id int PRIMARY KEY, code text UNIQUE, note text);\n"
        "CREATE INDEX t_note_ix ON t (note);\n"
        "ALTER TABLE t DROP COLUMN code, DROP COLUMN note;\n"
    )
    assert m.tables[("public", "t")].column_names() == ("id",)
    assert list(m.constraints) == [("public", "t", "t_pkey")]
    assert not m.indexes


def test_what_postgres_drops_and_renames_with_a_column_a_matview_a_function() -> None:
    """Expression keys, predicates, INCLUDE and CHECKs name columns too; a materialized view's
    index and a trigger calling a function dropped with CASCADE go with them."""
    m = run(
        "CREATE TABLE a (id int PRIMARY KEY, handle text, email text, seen timestamptz, n int,"
        " CHECK (handle <> 'handle'));\n"
        "CREATE INDEX a_handle ON a (lower(handle)) WHERE seen IS NOT NULL;\n"
        "CREATE INDEX a_email ON a (lower(email));\n"
        "CREATE INDEX a_cover ON a (id) INCLUDE (n);\n"
        "ALTER TABLE a RENAME COLUMN handle TO login;\n"
        "ALTER TABLE a RENAME COLUMN seen TO seen_at;\n"
        "ALTER TABLE a DROP COLUMN email, DROP COLUMN n;\n"
        "CREATE MATERIALIZED VIEW a_ids AS SELECT id FROM a;\n"
        "CREATE UNIQUE INDEX a_ids_id ON a_ids (id);\n"
        "DROP MATERIALIZED VIEW a_ids;\n"
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
        "CREATE TRIGGER a_touch BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION touch();\n"
        "ALTER FUNCTION touch() RENAME TO touch_a;\n"  # the trigger calls it under its new name
        "DROP FUNCTION touch_a() CASCADE;\n"
    )
    assert list(m.indexes) == [("public", "a_handle")]  # (the primary key is held as the constraint)
    ix = m.indexes[("public", "a_handle")]
    assert (ix.columns, ix.predicate) == (("lower(login)",), "seen_at IS NOT NULL")
    (check,) = [c for c in m.constraints.values() if c.kind == "check"]
    assert "login" in (check.expression or "") and "'handle'" in (check.expression or "")  # not the literal
    assert not m.triggers and not m.views


def test_drop_constraint_takes_the_index_behind_it() -> None:
    """PostgreSQL drops a UNIQUE / PRIMARY KEY constraint's index with it (a guard that found the
    index still in the model reused it: ADD CONSTRAINT ... USING INDEX failed with 42704)."""
    m = SchemaModel()
    m.put_table(Table("public", "t", (Column("id", "integer"), Column("code", "text"))))
    m.put_constraint(Constraint("t_code_key", ("public", "t"), "unique", ("code",)))
    m.put_index(Index("public", "t_code_key", ("public", "t"), ("code",), True))
    m.put_index(Index("public", "t_id_ix", ("public", "t"), ("id",), True))
    # as a live read gives it: the statement alone does not say the index goes
    apply(m, DropObject(ObjRef("constraint", "public", "t_code_key", "t")))
    assert list(m.indexes) == [("public", "t_id_ix")]


def test_renamed_type_stays_the_type_of_its_columns() -> None:
    """PostgreSQL refers to a column's type by OID: after ALTER TYPE ... RENAME the columns have the new
    name, and a new type under the old name is another type."""
    m = run(
        "CREATE TYPE mood AS ENUM ('sad', 'ok');\n"
        "CREATE SCHEMA app; CREATE TYPE app.level AS ENUM ('lo', 'hi');\n"
        "CREATE TABLE p (m mood, ms mood[], l app.level);\n"
        "ALTER TYPE mood RENAME TO mood__; ALTER TYPE app.level RENAME TO level__;\n"
        "CREATE TYPE mood AS ENUM ('sad');\n"
    )
    types = [c.type for c in m.tables[("public", "p")].columns]
    assert types == ["mood__", "mood__[]", "app.level__"]


def test_alter_column_changes() -> None:
    m = run(
        "CREATE TABLE t (a int DEFAULT 1, b text NOT NULL);\n"
        "ALTER TABLE t ALTER COLUMN a TYPE bigint, ALTER COLUMN a DROP DEFAULT, ALTER COLUMN a SET NOT NULL,"
        " ALTER COLUMN b DROP NOT NULL, ALTER COLUMN b SET DEFAULT 'x';\n"
    )
    assert m.tables[("public", "t")].columns == (
        Column("a", "bigint", False, None),
        Column("b", "text", True, "'x'"),
    )


def test_not_valid_then_validate() -> None:
    m = run(
        "CREATE TABLE p (id int PRIMARY KEY);\nCREATE TABLE c (pid int);\n"
        "ALTER TABLE c ADD CONSTRAINT c_p_fk FOREIGN KEY (pid) REFERENCES p (id) NOT VALID;\n"
    )
    assert m.constraints[("public", "c", "c_p_fk")].validated is False
    m = run("ALTER TABLE c VALIDATE CONSTRAINT c_p_fk;", m)
    assert m.constraints[("public", "c", "c_p_fk")].validated is True


def test_enum_values_in_order() -> None:
    m = run(
        "CREATE TYPE s AS ENUM ('a', 'c');\n"
        "ALTER TYPE s ADD VALUE 'b' BEFORE 'c';\nALTER TYPE s ADD VALUE IF NOT EXISTS 'd' AFTER 'c';\n"
        "ALTER TYPE s ADD VALUE IF NOT EXISTS 'a';\nALTER TYPE s RENAME VALUE 'd' TO 'z';\n"
    )
    assert m.enums[("public", "s")].values == ("a", "b", "c", "z")


def test_like_inherits_and_partitions_take_columns() -> None:
    m = run(
        "CREATE TABLE base (id int NOT NULL DEFAULT 0, note text);\n"
        "CREATE TABLE copy (LIKE base, extra int);\n"
        "CREATE TABLE child (own int) INHERITS (base);\n"
        "CREATE TABLE parted (id int, day date) PARTITION BY RANGE (day);\n"
        "CREATE TABLE parted_2024 PARTITION OF parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n"
    )
    assert m.tables[("public", "copy")].columns[0] == Column("id", "integer", False, None)
    assert m.tables[("public", "copy")].column_names() == ("id", "note", "extra")
    assert m.tables[("public", "child")].column_names() == ("id", "note", "own")
    assert m.tables[("public", "parted")].kind == "partitioned"
    assert m.tables[("public", "parted_2024")].column_names() == ("id", "day")


def test_if_exists_on_missing_objects_changes_nothing() -> None:
    m = run(
        "ALTER TABLE IF EXISTS ghost ADD COLUMN x int;\nDROP TABLE IF EXISTS ghost;\n"
        "DROP INDEX IF EXISTS ghost_ix;\nALTER TABLE IF EXISTS ghost RENAME TO spirit;\n"
    )
    assert m.is_empty()


def test_set_schema_and_search_path() -> None:
    m = run(
        "CREATE SCHEMA app;\nSET search_path TO app;\nCREATE TABLE t (id int PRIMARY KEY);\n"
        "CREATE INDEX t_id_ix ON t (id);\nALTER TABLE t SET SCHEMA public;\n"
    )
    assert ("public", "t") in m.tables and ("app", "t") not in m.tables
    assert m.indexes[("public", "t_id_ix")].table == ("public", "t")
    assert ("public", "t", "t_pkey") in m.constraints


def test_do_block_changes_are_replayed() -> None:
    m = run(
        "CREATE TABLE t (id int);\n"
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN"
        " CREATE TYPE mood AS ENUM ('ok'); END IF; ALTER TABLE t ADD COLUMN m mood; END $$;"
    )
    assert ("public", "mood") in m.enums
    assert m.column("public", "t", "m") == Column("m", "mood")


def test_views_functions_triggers_extensions() -> None:
    m = run(
        "CREATE EXTENSION IF NOT EXISTS citext;\n"
        "CREATE TABLE t (id int, name citext);\n"
        "CREATE VIEW v AS SELECT id, upper(name) AS shout FROM t;\n"
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
        "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();\n"
    )
    assert m.extensions["citext"].name == "citext"
    assert m.views[("public", "v")].columns == ("id", "shout")
    assert m.views[("public", "v")].definition == "SELECT id, upper(name) AS shout FROM t"
    assert m.functions[("public", "f")].language == "plpgsql"
    tr = m.triggers[("public", "t", "tr")]
    assert (tr.function, tr.timing, tr.events) == (("public", "f"), "before", ("insert",))
    m = run("DROP TABLE t CASCADE;\nDROP FUNCTION f();", m)
    assert not m.triggers and ("public", "f") not in m.functions


@pytest.mark.parametrize(
    ("name1", "name2", "label", "expected"),
    [
        ("users", "email", "key", "users_email_key"),
        ("users", None, "pkey", "users_pkey"),
        ("t", None, "check", "t_check"),
        # checked against PostgreSQL 15: the longer part is cut first
        (
            "a_table_with_a_really_long_name_that_goes_on_and_on_and_on",
            "a_column_with_a_long_name_as_well",
            "key",
            "a_table_with_a_really_long_na_a_column_with_a_long_name_as__key",
        ),
    ],
)
def test_pg_object_name(name1: str, name2: str | None, label: str, expected: str) -> None:
    assert pg_object_name(name1, name2, label) == expected
    assert len(pg_object_name(name1 * 3, name2, label).encode()) <= 63


# --------------------------------------------------------------------------
# Replay against PostgreSQL itself
# --------------------------------------------------------------------------

CHAINS = {
    "flyway_billing": ["flyway_V1__baseline", "flyway_V2__audit_and_functions", "flyway_V2_1__reporting",
                       "flyway_V3__enum_and_backfill", "flyway_V4__reporting_functions"],
    "golang_migrate_tenants": ["migrate_000001_create_tenants.up", "migrate_000002_documents.up",
                               "migrate_000003_events_partitioned.up", "migrate_000004_cleanup.up",
                               "dbmate_20240101_sessions", "goose_00042_notifications"],
    "rails": ["rails_structure", "rails_20240301_add_teams"],
    "django": ["django_shop_0001_initial", "django_shop_0002_product_sku", "django_shop_0003_order_total",
               "django_shop_0004_rename_created"],
    "liquibase": ["liquibase_changelog"],
    # the live snapshot's own fixture: one object of every kind
    "snapshot_every_kind": ["../snapshot/every_kind"],
}  # fmt: skip

# What the corpus assumes exists before it: roles it grants to, Django's auth_user.
SETUP = """
DO $$ BEGIN
  PERFORM 1;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'billing_app') THEN
    CREATE ROLE billing_app;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'billing_readonly') THEN
    CREATE ROLE billing_readonly;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_rw') THEN
    CREATE ROLE app_rw;
  END IF;
EXCEPTION WHEN unique_violation OR duplicate_object THEN NULL;  -- another test created it meanwhile
END $$;
CREATE TABLE auth_user (id serial PRIMARY KEY, username varchar(150) NOT NULL UNIQUE);
"""

_SYSTEM = "('pg_catalog', 'information_schema', 'pg_toast')"


def _catalog(conn: sa.Connection) -> dict[str, set[tuple[object, ...]]]:
    """The facts replay must reproduce, read straight from pg_catalog."""
    q = {
        "tables": f"""SELECT n.nspname, c.relname FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN {_SYSTEM}""",
        "columns": f"""SELECT n.nspname, c.relname, a.attname,
                             format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
                      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                      JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
                      AND n.nspname NOT IN {_SYSTEM}""",
        "constraints": f"""SELECT n.nspname, c.relname, k.conname, k.contype::text, k.convalidated
                          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN {_SYSTEM}""",
        # indexes that back a constraint are the constraint's, not separate facts of the model
        "indexes": f"""SELECT n.nspname, c.relname, t.relname, i.indisunique, am.amname
                      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                      JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am am ON am.oid = c.relam
                      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN {_SYSTEM}
                      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)""",
        # key columns of primary, unique and foreign keys, in order, and what a foreign key points at
        "keys": f"""SELECT n.nspname, c.relname, k.conname,
                       array_to_string(ARRAY(
                         SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, o)
                         JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.o
                       ), ','),
                       CASE WHEN k.confrelid = 0 THEN '' ELSE k.confrelid::regclass::text END
                   FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname NOT IN {_SYSTEM} AND k.contype IN ('p', 'u', 'f')""",
        "sequences": f"""SELECT n.nspname, c.relname FROM pg_class c
                        JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE c.relkind = 'S' AND n.nspname NOT IN {_SYSTEM}""",
        "views": f"""SELECT n.nspname, c.relname, c.relkind = 'm' FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN {_SYSTEM}""",
        "enums": """SELECT n.nspname, t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                    FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
                    JOIN pg_namespace n ON n.oid = t.typnamespace GROUP BY 1, 2""",
        "functions": f"""SELECT n.nspname, p.proname, p.prokind::text,
                        pg_get_function_identity_arguments(p.oid),
                        CASE WHEN p.prokind <> 'p' THEN pg_get_function_result(p.oid) END, l.lanname
                        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                        JOIN pg_language l ON l.oid = p.prolang
                        WHERE n.nspname NOT IN {_SYSTEM}
                        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
                        AND p.oid = (SELECT min(p2.oid) FROM pg_proc p2 WHERE p2.pronamespace = p.pronamespace
                          AND p2.proname = p.proname AND pg_get_function_identity_arguments(p2.oid) =
                          (SELECT min(pg_get_function_identity_arguments(p3.oid)) FROM pg_proc p3
                           WHERE p3.pronamespace = p.pronamespace AND p3.proname = p.proname))""",
        "triggers": """SELECT n.nspname, c.relname, t.tgname FROM pg_trigger t
                       JOIN pg_class c ON c.oid = t.tgrelid
                       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal""",
    }
    return {k: {tuple(r) for r in conn.execute(sa.text(v))} for k, v in q.items()}


_PROKIND = {"function": "f", "procedure": "p", "aggregate": "a"}
_CONTYPE = {"primary_key": "p", "foreign_key": "f", "unique": "u", "check": "c", "exclude": "x"}


def _regclass(q: tuple[str, str]) -> str:
    """How ``regclass::text`` prints a table: unqualified when in the default search path."""
    return q[1] if q[0] == "public" else f"{q[0]}.{q[1]}"


def _from_model(m: SchemaModel) -> dict[str, set[tuple[object, ...]]]:
    return {
        "tables": set(m.tables),
        "columns": {
            (s, t, c.name, c.type, c.nullable) for (s, t), tab in m.tables.items() for c in tab.columns
        },
        "constraints": {(s, t, n, _CONTYPE[c.kind], c.validated) for (s, t, n), c in m.constraints.items()},
        "indexes": {(s, n, ix.table[1], ix.unique, ix.method) for (s, n), ix in m.indexes.items()},
        "keys": {
            (s, t, n, ",".join(c.columns), _regclass(c.ref_table) if c.ref_table else "")
            for (s, t, n), c in m.constraints.items()
            if c.kind in ("primary_key", "unique", "foreign_key")
        },
        "sequences": set(m.sequences),
        "views": {(s, n, v.materialized) for (s, n), v in m.views.items()},
        "enums": {(s, n, ",".join(e.values)) for (s, n), e in m.enums.items()},
        "triggers": set(m.triggers),
        "functions": {
            (s, n, _PROKIND[f.kind], f.arguments, f.returns, f.language) for (s, n), f in m.functions.items()
        },
    }


@pytest.mark.db
@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_replay_matches_the_database_built_from_the_same_sql(chain: str, pg_url: str) -> None:
    analyzed: list[AnalyzedStatement] = []
    setup = analyze_all(parse_text(SETUP, "setup.sql"))
    files = [setup] + [
        analyze_all(parse_text((CORPUS / f"{name}.sql").read_text(), f"{name}.sql")) for name in CHAINS[chain]
    ]
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for file in files:
                # analyze_all restarts the search path at each file: so does the database session
                conn.execute(sa.text("RESET search_path"))
                for a in file:
                    conn.exec_driver_sql(a.statement.text.replace("%", "%%"))
                analyzed.extend(file)
            conn.execute(sa.text("RESET search_path"))
            live = _catalog(conn)
    finally:
        engine.dispose()
    replayed = _from_model(replay(analyzed))
    problems = []
    for facet in live:
        missing, extra = live[facet] - replayed[facet], replayed[facet] - live[facet]
        if missing or extra:
            problems.append(f"{facet}:\n  in the database only: {sorted(map(str, missing))}"
                            f"\n  in the replay only:   {sorted(map(str, extra))}")  # fmt: skip
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# Property: any CREATE TABLE / ALTER TABLE ADD COLUMN of the shapes below
# replays to exactly what PostgreSQL builds (types, nullability, names)
# --------------------------------------------------------------------------

_TYPES = [
    "int", "integer", "int4", "bigint", "int8", "smallint", "serial", "bigserial", "smallserial", "text",
    "varchar(20)", "character varying(255)", "char(3)", "numeric(12, 2)", "numeric", "decimal(5)",
    "timestamptz", "timestamp(3) with time zone", "timestamp", "time with time zone", "date", "boolean",
    "bool", "jsonb", "uuid", "int[]", "text[][]", "double precision", "float8", "real", "float4",
    "interval", "interval(3)", "interval day to second(2)", "interval year to month", "interval hour",
    "bytea", "bit(3)", "varbit(8)", "inet", "tsvector",
]  # fmt: skip
_IDENTS = st.from_regex(r"[a-z][a-z0-9_]{0,40}", fullmatch=True).filter(lambda s: s.upper() not in _RESERVED)
_RESERVED = {
    "ALL", "AND", "ANY", "ARRAY", "AS", "ASC", "CASE", "CAST", "CHECK", "COLLATE", "COLUMN", "CONSTRAINT",
    "CREATE", "DEFAULT", "DESC", "DISTINCT", "DO", "ELSE", "END", "FOR", "FOREIGN", "FROM", "GRANT",
    "GROUP", "HAVING", "IN", "INTO", "LIMIT", "NOT", "NULL", "OFFSET", "ON", "OR", "ORDER", "PRIMARY",
    "REFERENCES", "SELECT", "TABLE", "THEN", "TO", "UNION", "UNIQUE", "USER", "USING", "WHEN", "WHERE",
    "WITH", "ANALYSE", "ANALYZE", "BOTH", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_USER", "FALSE", "TRUE",
    "LEADING", "TRAILING", "ONLY", "PLACING", "RETURNING", "SOME", "SYMMETRIC", "WINDOW", "VARIADIC",
    "ASYMMETRIC", "INITIALLY", "DEFERRABLE", "LATERAL", "LOCALTIME", "LOCALTIMESTAMP", "SESSION_USER",
    "CURRENT_ROLE", "CURRENT_CATALOG", "CURRENT_SCHEMA", "CURRENT_TIMESTAMP", "FETCH", "EXCEPT",
    "INTERSECT", "AUTHORIZATION", "BINARY", "COLLATION", "CONCURRENTLY", "CROSS", "FREEZE",
    "FULL", "ILIKE", "INNER", "IS", "ISNULL", "JOIN", "LEFT", "LIKE", "NATURAL", "NOTNULL", "OUTER",
    "OVERLAPS", "RIGHT", "SIMILAR", "TABLESAMPLE", "VERBOSE",
}  # fmt: skip


@st.composite
def _table_sql(draw: st.DrawFn) -> str:
    table = draw(_IDENTS)
    names = draw(st.lists(_IDENTS, min_size=1, max_size=6, unique=True))
    cols = []
    for i, name in enumerate(names):
        typ = draw(st.sampled_from(_TYPES))
        parts = [name, typ]
        if i == 0 and draw(st.booleans()):
            parts.append("PRIMARY KEY")
        elif draw(st.booleans()):
            parts.append("NOT NULL")
        if "serial" not in typ and "[" not in typ and draw(st.integers(0, 4)) == 0:
            parts.append("UNIQUE")
        if typ in ("int", "integer", "bigint", "numeric") and draw(st.booleans()):
            parts.append(f"CHECK ({name} > 0)")
        cols.append(" ".join(parts))
    if len(names) >= 2 and draw(st.booleans()):
        cols.append(f"UNIQUE ({names[0]}, {names[1]})")
    sql = f"CREATE TABLE {table} ({', '.join(cols)});\n"
    for extra in draw(st.lists(_IDENTS.filter(lambda n: n not in names), max_size=2, unique=True)):
        sql += f"ALTER TABLE {table} ADD COLUMN {extra} {draw(st.sampled_from(_TYPES))} UNIQUE;\n"
    return sql


@pytest.mark.db
@settings(settings.get_profile("db"), max_examples=15)
@given(sql=_table_sql())
def test_replay_of_generated_tables_matches_postgres(sql: str, pg_server: PostgresServer) -> None:
    analyzed = analyze_all(parse_text(sql, "gen.sql"))
    with pg_server.database() as url:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for a in analyzed:
                    conn.exec_driver_sql(a.statement.text)
                live = _catalog(conn)
        finally:
            engine.dispose()
    replayed = _from_model(replay(analyzed))
    for facet in ("tables", "columns", "constraints", "indexes", "sequences", "keys"):
        assert replayed[facet] == live[facet], f"{facet} differ for:\n{sql}"


def test_alter_constraint_changes_only_its_deferrability() -> None:
    from alembic_guard.changes import replay
    from alembic_guard.sql.effects import analyze_all
    from alembic_guard.sql.parse import parse_text

    sql = (
        "CREATE TABLE a (id int PRIMARY KEY);\n"
        "CREATE TABLE b (a_id int CONSTRAINT b_fk REFERENCES a (id) DEFERRABLE);\n"
        "ALTER TABLE b ALTER CONSTRAINT b_fk NOT DEFERRABLE;\n"
    )
    analyzed = analyze_all(parse_text(sql, "alter_constraint.sql"))
    before = replay(analyzed[:2]).constraints[("public", "b", "b_fk")]
    after = replay(analyzed).constraints[("public", "b", "b_fk")]
    assert before.deferrable is True
    assert after.deferrable is False
    assert after == before.__class__(
        **{**{f: getattr(before, f) for f in before.__slots__}, "deferrable": False}
    )
    assert analyzed[2].effect.opaque is None


def test_drop_column_takes_indexes_on_a_mixed_case_column() -> None:
    """A key entry is the column's name as written: "A" must match "A" (hatchet's fresh upgrade
    skipped re-creating such an index as "already there" after DROP COLUMN "A")."""
    from alembic_guard.model import Column, Index, SchemaModel, Table

    m = SchemaModel()
    m.put_table(Table("public", "T", (Column("A", "uuid"), Column("B", "uuid"))))
    m.put_index(Index("public", "T_AB_key", ("public", "T"), ("A", "B"), unique=True))
    m.put_index(Index("public", "T_B_idx", ("public", "T"), ("B",), include=("A",)))
    m.put_index(Index("public", "T_B_only", ("public", "T"), ("B",)))
    m.drop_column("public", "T", "A")
    assert set(m.indexes) == {("public", "T_B_only")}


def test_a_mixed_case_key_is_not_the_lower_case_column_renamed_or_dropped() -> None:
    """A key entry is the column's own name as written: "Abc" is not abc (an expression is read)."""
    sql = (
        'CREATE TABLE t (id int, "Abc" int, abc int);\n'
        'CREATE INDEX t_mixed ON t ("Abc");\n'
        "CREATE INDEX t_expr ON t (lower(abc::text));\n"
        "ALTER TABLE t RENAME COLUMN abc TO xyz;\n"
    )
    m = run(sql)
    assert m.indexes[("public", "t_mixed")].columns == ("Abc",)
    assert m.indexes[("public", "t_expr")].columns == ("lower(xyz::text)",)
    m = run(sql + "ALTER TABLE t DROP COLUMN xyz;\n")
    assert list(m.indexes) == [("public", "t_mixed")]
