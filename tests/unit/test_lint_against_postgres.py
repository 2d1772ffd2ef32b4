"""The linter's PostgreSQL knowledge, checked against a real PostgreSQL.

Which lock a statement takes is read from ``pg_locks`` inside the
statement's own transaction; whether a change rewrote a table is read from
``pg_class.relfilenode`` (a rewrite gives the table a new file); statements
the linter says cannot run in a transaction are run in one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg2
import pytest

from alembic_guard.lint import LintContext, lint, lock_targets
from alembic_guard.lint.examples import model_from_sql
from alembic_guard.lint.locks import strength
from alembic_guard.sql.parse import parse_text
from alembic_guard.testing import PostgresServer

pytestmark = pytest.mark.db

SETUP = """
CREATE TABLE u (id int PRIMARY KEY);
CREATE TABLE t (id int, a int, t_id int);
CREATE INDEX i ON t (a);
CREATE TABLE p (k int) PARTITION BY LIST (k);
CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);
CREATE TABLE t1 (k int);
CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE VIEW v AS SELECT 1 AS x;
CREATE MATERIALIZED VIEW m AS SELECT 1 AS x;
CREATE UNIQUE INDEX m_x ON m (x);
CREATE TYPE e AS ENUM ('a');
CREATE TRIGGER trg0 AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();
"""

# statements that run inside a transaction block against SETUP
IN_TRANSACTION = [
    "CREATE TABLE c (id int, u_id int REFERENCES u (id))",
    "CREATE TABLE p2 PARTITION OF p FOR VALUES IN (2)",
    "CREATE OR REPLACE VIEW v AS SELECT 1 AS x",
    "CREATE INDEX i2 ON t (a)",
    "DROP TABLE t",
    "DROP VIEW v",
    "TRUNCATE t",
    "ALTER TABLE t ADD COLUMN b int",
    "ALTER TABLE t ALTER COLUMN a SET STATISTICS 100",
    "ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0) NOT VALID",
    "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (t_id) REFERENCES u (id)",
    "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (t_id) REFERENCES u (id) NOT VALID, ADD COLUMN b int",
    "ALTER TABLE t DISABLE TRIGGER ALL",
    "ALTER TABLE t SET (fillfactor = 70)",
    "ALTER TABLE t ALTER COLUMN a SET NOT NULL",
    "ALTER TABLE t ALTER COLUMN a TYPE bigint",
    "ALTER TABLE t RENAME TO t_renamed",
    "ALTER TABLE t RENAME COLUMN a TO b",
    "ALTER TABLE p ATTACH PARTITION t1 FOR VALUES IN (3)",
    "ALTER TABLE p DETACH PARTITION p1",
    "REINDEX TABLE t",
    "CLUSTER t USING i",
    "CREATE TRIGGER trg AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
    "DROP TRIGGER trg0 ON t",
    "DROP INDEX i",
    "REFRESH MATERIALIZED VIEW m",
    "REFRESH MATERIALIZED VIEW CONCURRENTLY m",
    "LOCK TABLE t IN ROW EXCLUSIVE MODE",
    "LOCK TABLE t",
    "INSERT INTO t VALUES (1)",
    "UPDATE t SET a = 1",
    "DELETE FROM t",
    "COMMENT ON COLUMN t.a IS 'x'",
    "COMMENT ON TABLE t IS 'x'",
]


def _connect(url: str) -> psycopg2.extensions.connection:
    return psycopg2.connect(re.sub(r"^postgresql\+\w+://", "postgresql://", url))  # a libpq URI


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg2.extensions.connection]:
    c = _connect(pg_url)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def setup_conn(pg_server: PostgresServer) -> Iterator[tuple[psycopg2.extensions.connection, dict[int, str]]]:
    """One database with SETUP applied; each test runs its statement in a rolled-back transaction."""
    with pg_server.database() as url:
        c = _connect(url)
        try:
            cur = c.cursor()
            cur.execute(SETUP)
            cur.execute(
                "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
            )
            oids = dict(cur.fetchall())
            c.commit()
            yield c, oids
        finally:
            c.close()


def _mode_name(mode: str) -> str:
    # "ShareRowExclusiveLock" -> "SHARE ROW EXCLUSIVE"
    words, cur = [], ""
    for ch in mode.removesuffix("Lock"):
        if ch.isupper() and cur:
            words.append(cur)
            cur = ""
        cur += ch
    words.append(cur)
    return " ".join(w.upper() for w in words)


def _held(cur: psycopg2.extensions.cursor, oids: dict[int, str]) -> dict[str, str]:
    """Strongest lock this session holds on each relation that existed before."""
    cur.execute("SELECT relation, mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation IS NOT NULL")
    out: dict[str, str] = {}
    for oid, mode in cur.fetchall():
        name = oids.get(oid)
        if name is None:
            continue
        level = _mode_name(mode)
        if strength(level) > strength(out.get(name, "none")):
            out[name] = level
    return out


@pytest.mark.parametrize("sql", IN_TRANSACTION)
def test_lock_targets_match_pg_locks(
    setup_conn: tuple[psycopg2.extensions.connection, dict[int, str]], sql: str
) -> None:
    conn, oids = setup_conn
    cur = conn.cursor()
    cur.execute(sql)
    held = _held(cur, oids)
    conn.rollback()
    [stmt] = parse_text(sql)
    predicted = {name: level for (_, name), level in lock_targets(stmt)}
    if sql == "DROP INDEX i":
        # the statement names the index; PostgreSQL locks the index's table the same way
        predicted = {"t": predicted.pop("i")}
    assert predicted == held


def _relfilenode(cur: psycopg2.extensions.cursor, table: str) -> int:
    cur.execute("SELECT relfilenode FROM pg_class WHERE oid = %s::regclass", (table,))
    return int(cur.fetchone()[0])


TYPE_CHANGES = [
    ("varchar(10)", "varchar(20)"),
    ("varchar(20)", "varchar(10)"),
    ("varchar(10)", "varchar"),
    ("varchar(10)", "text"),
    ("text", "varchar"),
    ("text", "varchar(10)"),
    ("int", "bigint"),
    ("bigint", "int"),
    ("int", "text"),
    ("numeric(10,2)", "numeric(12,2)"),
    ("numeric(10,2)", "numeric(12,3)"),
    ("numeric(10,2)", "numeric"),
    ("numeric(10,2)", "numeric(8,2)"),
    ("cidr", "inet"),
    ("varchar(10)[]", "varchar(20)[]"),
    ("varchar(10)[]", "text"),
    ("timestamp", "timestamptz"),
    ("char(5)", "varchar(5)"),
    ("text", "text"),
]


def test_type_change_rewrites_exactly_when_flagged(conn: psycopg2.extensions.connection) -> None:
    cur = conn.cursor()
    # timestamp -> timestamptz is free only when the session time zone is UTC
    cur.execute("SET TimeZone = 'Europe/Paris'")
    wrong = []
    for n, (old, new) in enumerate(TYPE_CHANGES):
        table = f"tc{n}"
        cur.execute(f"CREATE TABLE {table} (c {old}); INSERT INTO {table} VALUES (NULL)")
        before = _relfilenode(cur, table)
        alter = f"ALTER TABLE {table} ALTER COLUMN c TYPE {new}"
        cur.execute(alter)
        rewrote = _relfilenode(cur, table) != before
        ctx = LintContext(model=model_from_sql(f"CREATE TABLE {table} (c {old});"), lock_timeout_set=True)
        flagged = any(f.code == "AG206" for f in lint(parse_text(alter), ctx))
        if rewrote != flagged:
            wrong.append(f"{old} -> {new}: PostgreSQL rewrote={rewrote}, AG206={flagged}")
    conn.rollback()
    assert not wrong, "\n".join(wrong)


DEFAULTS = [
    "text DEFAULT 'x'",
    "int DEFAULT 42",
    "timestamptz DEFAULT now()",
    "timestamptz DEFAULT current_timestamp",
    "timestamptz DEFAULT clock_timestamp()",
    "double precision DEFAULT random()",
    "uuid DEFAULT gen_random_uuid()",
    "bigint DEFAULT nextval('s')",
    "serial",
    "int GENERATED ALWAYS AS IDENTITY",
    "int GENERATED ALWAYS AS (id + 1) STORED",
    "int",
    "text DEFAULT md5(random()::text)",
]


def test_add_column_rewrites_exactly_when_flagged(conn: psycopg2.extensions.connection) -> None:
    cur = conn.cursor()
    cur.execute("SHOW server_version_num")
    version = int(cur.fetchone()[0]) // 10000
    cur.execute("CREATE SEQUENCE s")
    wrong = []
    for n, spec in enumerate(DEFAULTS):
        table = f"ad{n}"
        cur.execute(f"CREATE TABLE {table} (id int); INSERT INTO {table} VALUES (1)")
        before = _relfilenode(cur, table)
        alter = f"ALTER TABLE {table} ADD COLUMN c {spec}"
        cur.execute(alter)
        rewrote = _relfilenode(cur, table) != before
        ctx = LintContext(lock_timeout_set=True, server_version=version)
        flagged = any(f.code == "AG205" for f in lint(parse_text(alter), ctx))
        if rewrote != flagged:
            wrong.append(f"ADD COLUMN c {spec}: PostgreSQL rewrote={rewrote}, AG205={flagged}")
    conn.rollback()
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE INDEX CONCURRENTLY ix ON t (a)",
        "DROP INDEX CONCURRENTLY i",
        "REINDEX INDEX CONCURRENTLY i",
        "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY",
    ],
)
def test_statements_flagged_in_a_transaction_fail_there(
    conn: psycopg2.extensions.connection, sql: str
) -> None:
    assert "AG401" in [f.code for f in lint(parse_text(sql), LintContext(lock_timeout_set=True))]
    cur = conn.cursor()
    cur.execute(SETUP)
    conn.commit()
    with pytest.raises(psycopg2.Error, match="cannot run inside a transaction block"):
        cur.execute(sql)
    conn.rollback()
    conn.autocommit = True
    cur.execute(sql)  # and outside one it works


def test_new_enum_value_used_in_its_transaction_fails(conn: psycopg2.extensions.connection) -> None:
    sql = "ALTER TYPE e ADD VALUE 'b';\nSELECT 'b'::e;"
    assert [(f.line, f.code) for f in lint(parse_text(sql)) if f.code != "AG402"] == [(2, "AG404")]
    cur = conn.cursor()
    cur.execute(SETUP)
    conn.commit()
    with pytest.raises(psycopg2.Error, match="unsafe use of new value"):
        cur.execute(sql)
    conn.rollback()


@pytest.mark.parametrize(
    ("column", "fails"),
    [
        ("c int NOT NULL", True),
        ("c int PRIMARY KEY", True),
        ("c int NOT NULL DEFAULT 0", False),
        ("c int NOT NULL GENERATED ALWAYS AS IDENTITY", False),
        ("c bigserial NOT NULL", False),
        ("c int", False),
    ],
)
def test_not_null_column_without_default_fails_on_rows(
    conn: psycopg2.extensions.connection, column: str, fails: bool
) -> None:
    sql = f"ALTER TABLE t ADD COLUMN {column}"
    ctx = LintContext(model=model_from_sql("CREATE TABLE t (id int);"), lock_timeout_set=True)
    assert ("AG305" in [f.code for f in lint(parse_text(sql), ctx)]) is fails
    cur = conn.cursor()
    cur.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
    if fails:
        with pytest.raises(psycopg2.Error, match="contains null values"):
            cur.execute(sql)
    else:
        cur.execute(sql)
    conn.rollback()
