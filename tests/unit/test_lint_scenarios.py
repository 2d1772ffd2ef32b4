"""lint() over whole migration sets: units, models, analyzed input, positions, locks."""

from __future__ import annotations

from pathlib import Path

import pytest

from alembic_guard.lint import LintContext, lint, lock_level
from alembic_guard.lint.examples import model_from_sql
from alembic_guard.model import Constraint
from alembic_guard.sql.effects import analyze_all
from alembic_guard.sql.parse import parse_source, parse_text
from alembic_guard.sql.source import load_directory
from alembic_guard.sql.statement import SourceFile, Statement

ROOT = Path(__file__).resolve().parents[2]


def _statements(*files: tuple[str, str]) -> list[Statement]:
    out: list[Statement] = []
    for order, (path, text) in enumerate(files):
        out.extend(parse_source(SourceFile(path=path, text=text, order=order)))
    return out


def _codes(findings: list) -> list[tuple[str, int, str]]:
    return [(f.file, f.line, f.code) for f in findings]


def test_taskboard_legacy_sql_on_a_fresh_database() -> None:
    stmts = [s for src in load_directory(ROOT / "alembic" / "legacy_sql") for s in parse_source(src)]
    found = _codes(lint(stmts))
    # 0001 creates its tables: locking them is harmless; later files alter them
    assert not [f for f in found if f[0].startswith("0001")]
    assert ("0003_tasks_project.sql", 4, "AG202") in found
    assert ("0003_tasks_project.sql", 7, "AG203") in found
    assert ("0004_reporting.sql", 2, "AG207") in found
    assert {c for _, _, c in found} == {"AG202", "AG203", "AG207", "AG208"}


def test_taskboard_against_production_where_tasks_already_exists() -> None:
    # the seed's failure: tasks exists in its older shape, so CREATE TABLE IF
    # NOT EXISTS is skipped and 0001's index builds on a live table
    live = model_from_sql(
        "CREATE TABLE users (id int); CREATE TABLE projects (id int); CREATE TABLE tasks (id int);"
    )
    srcs = load_directory(ROOT / "alembic" / "legacy_sql")
    found = _codes(lint(parse_source(srcs[0]), LintContext(model=live, lock_timeout_set=True)))
    assert found == [
        ("0001_core_tables_idempotent.sql", 29, "AG201"),
        ("0001_core_tables_idempotent.sql", 30, "AG201"),
    ]


def test_each_file_is_its_own_unit() -> None:
    stmts = _statements(
        (
            "0001.sql",
            "SET lock_timeout = '1s';\nCREATE TABLE IF NOT EXISTS t (id int);\n"
            "CREATE INDEX IF NOT EXISTS i1 ON t (id);",
        ),
        ("0002.sql", "CREATE INDEX IF NOT EXISTS i2 ON t (id);"),
    )
    # in 0002, t is a table of an earlier revision and the lock_timeout of 0001 is gone
    assert _codes(lint(stmts)) == [("0002.sql", 1, "AG201"), ("0002.sql", 1, "AG208")]


def test_analyzed_statements_keep_the_model_current() -> None:
    sql = (
        "ALTER TABLE t ADD CONSTRAINT ck_c CHECK (c IS NOT NULL) NOT VALID;\n"
        "ALTER TABLE t VALIDATE CONSTRAINT ck_c;\n"
        "ALTER TABLE t ALTER COLUMN c SET NOT NULL;\n"
        "ALTER TABLE t ALTER COLUMN c TYPE text;\n"
    )
    ctx = LintContext(model=model_from_sql("CREATE TABLE t (c varchar(5));"), lock_timeout_set=True)
    plain = lint(parse_text(sql, "m.sql"), ctx)
    analyzed = lint(analyze_all(parse_text(sql, "m.sql")), ctx)
    assert _codes(plain) == _codes(analyzed) == []


@pytest.mark.parametrize(
    ("expression", "validated", "flagged"),
    [
        ("CHECK ((project_id IS NOT NULL))", True, False),  # pg_get_constraintdef() spelling
        ("project_id IS NOT NULL", True, False),
        ('("project_id" is not null)', True, False),
        ("CHECK ((project_id IS NOT NULL))", False, True),  # NOT VALID proves nothing
        ("CHECK ((owner_id IS NOT NULL))", True, True),
        ("CHECK ((project_id IS NOT NULL AND owner_id > 0))", True, True),
    ],
)
def test_set_not_null_reads_checks_of_a_live_model(expression: str, validated: bool, flagged: bool) -> None:
    live = model_from_sql("CREATE TABLE tasks (id int, project_id int, owner_id int);")
    live.put_constraint(
        Constraint("ck", ("public", "tasks"), "check", expression=expression, validated=validated)
    )
    sql = "ALTER TABLE tasks ALTER COLUMN project_id SET NOT NULL;"
    found = lint(parse_text(sql, "m.sql"), LintContext(model=live, lock_timeout_set=True))
    assert [f.code for f in found] == (["AG204"] if flagged else [])


def test_set_local_outside_a_transaction_sets_nothing() -> None:
    sql = "SET LOCAL lock_timeout = '1s';\nALTER TABLE t ADD COLUMN IF NOT EXISTS c int;"
    assert [f.code for f in lint(parse_text(sql, "m.sql"), LintContext(in_transaction=False))] == ["AG208"]
    assert [f.code for f in lint(parse_text(sql, "m.sql"), LintContext(in_transaction=True))] == []


def test_positions_count_characters_after_non_ascii_comments() -> None:
    sql = "-- été, 日本語\nSELECT 1; CREATE INDEX IF NOT EXISTS i ON t (a); -- «index»\n"
    [f] = [f for f in lint(parse_text(sql, "m.sql"), LintContext(lock_timeout_set=True)) if f.code == "AG201"]
    assert (f.line, f.col) == (2, 11)
    assert f.statement_excerpt == "CREATE INDEX IF NOT EXISTS i ON t (a)"


def test_findings_are_sorted_by_file_order_then_position() -> None:
    stmts = _statements(
        ("b_first.sql", "DROP TABLE IF EXISTS x;\nCREATE INDEX IF NOT EXISTS i ON y (a);"),
        ("a_second.sql", "ALTER TABLE z DROP COLUMN IF EXISTS c;"),
    )
    found = lint(stmts)
    keys = [(f.file, f.line, f.code) for f in found]
    assert keys == [
        ("b_first.sql", 1, "AG208"),
        ("b_first.sql", 1, "AG302"),
        ("b_first.sql", 2, "AG201"),
        ("b_first.sql", 2, "AG208"),
        ("a_second.sql", 1, "AG208"),
        ("a_second.sql", 1, "AG301"),
    ]
    assert found == lint(stmts)


def test_finding_renders_where_and_what() -> None:
    [f] = lint(
        parse_text("\n  ALTER TABLE t RENAME TO u;", "rev_0042.sql"), LintContext(lock_timeout_set=True)
    )
    assert str(f) == (
        "rev_0042.sql:2:3: warning AG304 ban-rename-table: table t → u: Renaming a table breaks the "
        "application instances still running that use the old name."
    )


LOCKS = [
    ("CREATE TABLE t (id int)", "none"),
    ("CREATE TABLE c (id int, t_id int REFERENCES t (id))", "SHARE ROW EXCLUSIVE"),
    ("CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1)", "ACCESS EXCLUSIVE"),
    ("CREATE VIEW v AS SELECT 1", "none"),
    ("CREATE OR REPLACE VIEW v AS SELECT 1", "ACCESS EXCLUSIVE"),
    ("CREATE INDEX i ON t (a)", "SHARE"),
    ("CREATE INDEX CONCURRENTLY i ON t (a)", "SHARE UPDATE EXCLUSIVE"),
    ("DROP INDEX i", "ACCESS EXCLUSIVE"),
    ("DROP INDEX CONCURRENTLY i", "SHARE UPDATE EXCLUSIVE"),
    ("DROP TABLE t", "ACCESS EXCLUSIVE"),
    ("DROP FUNCTION f()", "none"),
    ("DROP TRIGGER trg ON t", "ACCESS EXCLUSIVE"),
    ("TRUNCATE t", "ACCESS EXCLUSIVE"),
    ("ALTER TABLE t ADD COLUMN a int", "ACCESS EXCLUSIVE"),
    ("ALTER TABLE t ALTER COLUMN a SET STATISTICS 100", "SHARE UPDATE EXCLUSIVE"),
    ("ALTER TABLE t VALIDATE CONSTRAINT c", "SHARE UPDATE EXCLUSIVE"),
    ("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id)", "SHARE ROW EXCLUSIVE"),
    (
        "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id), ADD COLUMN b int",
        "ACCESS EXCLUSIVE",
    ),
    ("ALTER TABLE t DISABLE TRIGGER ALL", "SHARE ROW EXCLUSIVE"),
    ("ALTER TABLE t SET (fillfactor = 70)", "SHARE UPDATE EXCLUSIVE"),
    # SHARE UPDATE EXCLUSIVE on t, ACCESS EXCLUSIVE on the table attached
    ("ALTER TABLE t ATTACH PARTITION t1 FOR VALUES IN (1)", "ACCESS EXCLUSIVE"),
    ("ALTER TABLE t DETACH PARTITION t1 CONCURRENTLY", "SHARE UPDATE EXCLUSIVE"),
    ("ALTER TABLE t DETACH PARTITION t1", "ACCESS EXCLUSIVE"),
    ("ALTER TABLE t RENAME TO u", "ACCESS EXCLUSIVE"),
    ("ALTER TABLE t RENAME COLUMN a TO b", "ACCESS EXCLUSIVE"),
    ("ALTER INDEX i RENAME TO j", "SHARE UPDATE EXCLUSIVE"),
    ("REINDEX TABLE t", "SHARE"),
    ("REINDEX TABLE CONCURRENTLY t", "SHARE UPDATE EXCLUSIVE"),
    ("VACUUM t", "SHARE UPDATE EXCLUSIVE"),
    ("VACUUM FULL t", "ACCESS EXCLUSIVE"),
    ("CLUSTER t USING i", "ACCESS EXCLUSIVE"),
    ("CREATE TRIGGER trg AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "SHARE ROW EXCLUSIVE"),
    ("REFRESH MATERIALIZED VIEW m", "ACCESS EXCLUSIVE"),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY m", "EXCLUSIVE"),
    ("LOCK TABLE t IN ROW EXCLUSIVE MODE", "ROW EXCLUSIVE"),
    ("LOCK TABLE t", "ACCESS EXCLUSIVE"),
    ("INSERT INTO t VALUES (1)", "ROW EXCLUSIVE"),
    ("UPDATE t SET a = 1", "ROW EXCLUSIVE"),
    ("DELETE FROM t", "ROW EXCLUSIVE"),
    ("SELECT * FROM t", "ACCESS SHARE"),
    ("COMMENT ON COLUMN t.a IS 'x'", "SHARE UPDATE EXCLUSIVE"),
    ("GRANT SELECT ON t TO app", "none"),
    ("ALTER TYPE e ADD VALUE 'x'", "none"),
]


@pytest.mark.parametrize(("sql", "level"), LOCKS, ids=[s for s, _ in LOCKS])
def test_lock_level(sql: str, level: str) -> None:
    [stmt] = parse_text(sql)
    assert lock_level(stmt) == level


def test_a_given_model_decides_what_exists() -> None:
    sql = (
        "DROP INDEX IF EXISTS ix_a;\n"
        "CREATE INDEX IF NOT EXISTS ix_b ON other (a);\n"
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int;"
    )
    stmts = parse_text(sql, "m.sql")
    # no model: every name not created here is taken to exist
    assert _codes(lint(stmts)) == [
        ("m.sql", 1, "AG208"),
        ("m.sql", 2, "AG201"),
        ("m.sql", 2, "AG208"),
        ("m.sql", 3, "AG208"),
    ]
    # a model that knows t and its index ix_a, and no table "other"
    known = model_from_sql("CREATE TABLE t (a int); CREATE INDEX ix_a ON t (a);")
    assert _codes(lint(stmts, LintContext(model=known))) == [("m.sql", 1, "AG208"), ("m.sql", 3, "AG208")]


def _all_fixture_sql() -> list[Path]:
    return sorted((ROOT / "tests" / "fixtures").rglob("*.sql"))


def test_lint_survives_every_sql_fixture_of_the_project() -> None:
    from alembic_guard.errors import SourceError

    checked = 0
    for path in _all_fixture_sql():
        try:
            text = path.read_text(encoding="utf-8")
            stmts = parse_text(text, path=path.name)
        except (SourceError, UnicodeDecodeError):
            continue  # the parser's own invalid cases
        for context in (LintContext(), LintContext(model=model_from_sql(""), in_transaction=False)):
            found = lint(stmts, context)
            assert [(f.line, f.col) for f in found] == sorted((f.line, f.col) for f in found)
        checked += 1
    assert checked >= 20
