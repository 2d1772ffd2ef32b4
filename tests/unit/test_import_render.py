"""guard-import's code generation, as data: SQL fixtures in, golden revision files out.

Each ``tests/fixtures/import/<case>/sql`` directory is planned and rendered;
the revision files must equal ``<case>/expected`` byte for byte.  The
``taskboard`` case is the example application itself: ``alembic/legacy_sql``
rendered must equal the committed ``alembic/versions``.  After an
intended change, rewrite them with::

    ALEMBIC_GUARD_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_import_render.py

and review the diff like code.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from alembic_guard.importer import naming
from alembic_guard.importer.module import build_revisions, module_text
from alembic_guard.importer.render import escape_binds, render_statement, sql_block
from alembic_guard.plan import plan_directory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
EXAMPLE_APP = Path(__file__).resolve().parents[2] / "alembic"
CASES = sorted([p.name for p in FIXTURES.iterdir() if (p / "sql").is_dir()] + ["taskboard"])


def sql_dir(case: str) -> Path:
    """The example app (taskboard) is its own fixture: its legacy SQL and its committed revisions."""
    return EXAMPLE_APP / "legacy_sql" if case == "taskboard" else FIXTURES / case / "sql"


def expected_dir_of(case: str) -> Path:
    return EXAMPLE_APP / "versions" if case == "taskboard" else FIXTURES / case / "expected"


UPDATE = os.environ.get("ALEMBIC_GUARD_UPDATE_GOLDEN") == "1"


def generate(case: str) -> dict[str, str]:
    plan = plan_directory(sql_dir(case))
    assert plan.ok, [p.render() for p in plan.problems]
    return {spec.filename: module_text(spec) for spec in build_revisions(plan.steps)}


@pytest.mark.parametrize("case", CASES)
def test_golden_revisions(case: str) -> None:
    got = generate(case)
    expected_dir = expected_dir_of(case)
    if UPDATE:
        expected_dir.mkdir(exist_ok=True)
        for old in expected_dir.glob("*.py"):
            old.unlink()
        for name, text in got.items():
            (expected_dir / name).write_text(text, encoding="utf-8")
    expected = {p.name: p.read_text(encoding="utf-8") for p in sorted(expected_dir.glob("*.py"))}
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name] == expected[name], f"{case}/{name} differs (ALEMBIC_GUARD_UPDATE_GOLDEN=1 rewrites)"


@pytest.mark.parametrize("case", CASES)
def test_generated_revisions_are_valid_chained_python(case: str) -> None:
    got = generate(case)
    down = None
    for name, text in got.items():  # dict order is the history order
        tree = ast.parse(text, filename=name)
        consts = {
            t.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        rev = ast.literal_eval(consts["revision"])
        assert name.startswith(rev + "_")
        assert ast.literal_eval(consts["down_revision"]) == down
        down = rev


def test_seed_interleaving_splits_files_into_explicit_revisions() -> None:
    titles = [spec.title for spec in build_revisions(plan_directory(sql_dir("taskboard")).steps)]
    assert titles == [
        "0001_core_tables_idempotent.sql statements 1–3, 5 of 5",
        "0002_comments.sql (2 statements)",
        "0003_tasks_project.sql statement 1 of 3",
        "0001_core_tables_idempotent.sql statement 4 of 5",
        "0003_tasks_project.sql statements 2–3 of 3",
        "0004_reporting.sql (2 statements)",
    ]


def test_skipped_files_chain_after_the_given_head() -> None:
    steps = plan_directory(sql_dir("taskboard")).steps
    all_specs = build_revisions(steps)
    later = build_revisions(steps, skip_files={"0001_core_tables_idempotent.sql"}, head="abc")
    assert [s.down_revision for s in later][:1] == ["abc"]
    assert [s.title for s in later] == [
        "0002_comments.sql (2 statements)",
        "0003_tasks_project.sql (3 statements)",  # no longer split by 0001's index
        "0004_reporting.sql (2 statements)",
    ]
    # ids depend on what a revision carries, not on its place in the chain
    ids = {s.title: s.revision for s in all_specs}
    assert later[0].revision == ids["0002_comments.sql (2 statements)"]
    assert later[2].revision == ids["0004_reporting.sql (2 statements)"]


# What each statement becomes: (SQL, op rendered).  Anything a structured op
# cannot say exactly stays raw SQL ("execute").
RENDER_CASES = [
    ("CREATE TABLE t (id serial PRIMARY KEY)", "create_table"),
    ('CREATE TABLE t (id integer PRIMARY KEY, v text COLLATE "C")', "execute"),
    ("CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY)", "execute"),
    ("CREATE TABLE t (a serial, b int, PRIMARY KEY (a, b))", "execute"),
    ("CREATE TABLE t (a int REFERENCES u)", "execute"),
    ("CREATE TABLE t (a int) PARTITION BY RANGE (a)", "execute"),
    ("CREATE UNLOGGED TABLE t (a int)", "execute"),
    ("CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a * 2) STORED)", "execute"),
    ("CREATE TABLE t (a money)", "execute"),
    ("CREATE INDEX ON t (a)", "execute"),
    ("CREATE INDEX ix ON t (a DESC)", "execute"),
    ("CREATE INDEX ix ON t (a text_pattern_ops)", "execute"),
    ("CREATE INDEX ix ON t USING brin (a)", "create_index"),
    ("ALTER TABLE t ADD COLUMN a int REFERENCES u (id)", "execute"),
    ("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id) NOT VALID", "execute"),
    ("ALTER TABLE t ADD CHECK (a > 0)", "execute"),
    ("ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY (a)", "create_primary_key"),
    ("ALTER TABLE t ALTER COLUMN a DROP NOT NULL", "alter_column"),
    ("ALTER TABLE t ALTER COLUMN a DROP DEFAULT", "alter_column"),
    ("ALTER TABLE IF EXISTS t ADD COLUMN a int", "execute"),
    ("ALTER TABLE t RENAME COLUMN a TO b", "execute"),
    ("ALTER TABLE t DROP COLUMN a CASCADE", "execute"),
    ("DROP TABLE t", "drop_table"),
    ("DROP TABLE IF EXISTS t", "execute"),
    ("DROP INDEX CONCURRENTLY ix", "drop_index"),
    # other kinds name themselves in other node shapes: raw SQL, never a crash
    ("DROP FUNCTION f()", "execute"),
    ("DROP FUNCTION app.f(integer, text)", "execute"),
    ("DROP TYPE mood", "execute"),
    ("DROP SCHEMA app", "execute"),
    ("DROP EXTENSION citext", "execute"),
    ("DROP DOMAIN app.email", "execute"),
    ("DROP SEQUENCE s", "execute"),
    ("DROP VIEW v", "execute"),
    ("CREATE MATERIALIZED VIEW mv AS SELECT 1 AS one", "execute"),
    ("VACUUM t", "execute"),
]


@pytest.mark.parametrize(("sql", "op"), RENDER_CASES, ids=[c[0] for c in RENDER_CASES])
def test_render_statement_kind(sql: str, op: str) -> None:
    r = render_statement(sql)
    assert r.op == op
    compile("\n".join(r.upgrade), "<upgrade>", "exec", dont_inherit=True)


def test_autocommit_statements() -> None:
    assert render_statement("CREATE INDEX CONCURRENTLY ix ON t (a)").autocommit
    assert render_statement("DROP INDEX CONCURRENTLY ix").autocommit
    assert render_statement("VACUUM t").autocommit
    assert render_statement("REINDEX (CONCURRENTLY) INDEX ix").autocommit
    assert not render_statement("CREATE INDEX ix ON t (a)").autocommit


INVERSE_CASES = [
    ("CREATE TYPE \"order\" AS ENUM ('a')", 'DROP TYPE "order"'),
    ('CREATE VIEW "user" AS SELECT 1 AS one', 'DROP VIEW "user"'),
    ('CREATE MATERIALIZED VIEW "My View" AS SELECT 1 AS one', 'DROP MATERIALIZED VIEW "My View"'),
    ('CREATE SEQUENCE app."select"', 'DROP SEQUENCE app."select"'),
    ('CREATE SCHEMA "Weird; Name"', 'DROP SCHEMA "Weird; Name"'),
]


@pytest.mark.parametrize(("sql", "drop"), INVERSE_CASES, ids=[c[0] for c in INVERSE_CASES])
def test_generated_downgrade_quotes_reserved_and_odd_names(sql: str, drop: str) -> None:
    downgrade = render_statement(sql).downgrade
    assert downgrade is not None
    [line] = downgrade
    assert ast.literal_eval(line.removeprefix("op.execute(").removesuffix(")")) == drop


def test_plain_integer_key_is_not_serial() -> None:
    code = "\n".join(render_statement("CREATE TABLE t (id integer PRIMARY KEY)").upgrade)
    assert 'sa.Column("id", sa.Integer(), autoincrement=False, nullable=False)' in code


@pytest.mark.parametrize(
    ("sql", "escaped"),
    [
        ("SELECT ':a'", "SELECT '\\:a'"),
        ("x := 1", "x := 1"),
        ("a::text", "a::text"),
        ("'10:30'", "'10:30'"),
        # sa.text() reads "\:x" as an escaped ":x": one more backslash keeps the SQL's own (issue 14)
        ("\\:x", "\\\\:x"),
        (" :ab:", " :ab:"),
        ("f(:x, :y)", "f(\\:x, \\:y)"),
    ],
)
def test_escape_binds(sql: str, escaped: str) -> None:
    assert escape_binds(sql) == escaped


def test_sql_block_keeps_multiline_sql_verbatim() -> None:
    body = "CREATE FUNCTION f() RETURNS text AS $$\nselect 'a\n  b'\n$$ LANGUAGE sql"
    assert sql_block(body) == 'r"""' + body + '"""'
    # verbatim, byte for byte (issue 14): no indentation added to the SQL any more
    assert sql_block("SELECT 1\nFROM t") == 'r"""SELECT 1\nFROM t"""'
    assert sql_block("SELECT 1") == '"SELECT 1"'
    for tricky in ('SELECT 1 AS """x"""', 'SELECT 1\nAS "x"', "SELECT 1\r\nFROM t", "SELECT '\u2028'\n"):
        assert ast.literal_eval(sql_block(tricky)) == tricky


def test_escape_binds_round_trips_through_sa_text() -> None:
    """Every string over the characters that matter: sa.text() of the escaped text compiles to the text."""
    import itertools

    import sqlalchemy as sa

    for n in range(1, 6):
        for chars in itertools.product(":\\a1 ", repeat=n):
            sql = "".join(chars)
            clause = sa.text(escape_binds(sql))
            assert not clause._bindparams, sql
            assert str(clause.compile()) == sql, sql


def test_naming_is_deterministic() -> None:
    a = naming.revision_id("0001_x.sql", (1, 2), "sha256:abc")
    assert a == naming.revision_id("0001_x.sql", (1, 2), "sha256:abc")
    assert a != naming.revision_id("0001_x.sql", (1, 3), "sha256:abc")
    assert a != naming.revision_id("0001_x.sql", (1, 2), "sha256:abd")
    assert len(a) == 12 and int(a, 16) >= 0
    assert naming.slug("0001_Core-Tables.sql", (1, 2, 3), 3) == "0001_core_tables"
    assert naming.slug("0001_x.sql", (1, 2, 3, 5), 5) == "0001_x_s1to3_5"
    assert naming.slug("2024-01-01-000000_create_users/up.sql", (1,), 1) == "2024_01_01_000000_create_users"
    assert naming.slug("1_widgets.up.sql", (1,), 1) == "1_widgets"
    assert naming.describe_numbers((1, 2, 3, 5, 7, 8)) == "1–3, 5, 7–8"


PURE_IMPORTER = ("render.py", "naming.py", "module.py", "adopt.py")


@pytest.mark.parametrize("name", PURE_IMPORTER)
def test_importer_core_is_pure(name: str) -> None:
    """Code generation and the adopt decision touch neither files nor databases (writer.py does)."""
    path = Path(__file__).resolve().parents[2] / "alembic_guard" / "importer" / name
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    bad = {m for m in imported if m.split(".")[0] in ("sqlalchemy", "psycopg2", "os", "subprocess", "socket")}
    bad |= {m for m in imported if m.startswith(("alembic.", "alembic_guard.importer.writer"))}
    assert not bad
    text = path.read_text()
    assert not any(call in text for call in ("open(", ".read_text(", ".write_text("))


def test_writer_never_overwrites_other_content(tmp_path: Path) -> None:
    from alembic_guard.errors import UsageError
    from alembic_guard.importer.writer import write_revisions

    specs = build_revisions(plan_directory(FIXTURES / "updown" / "sql").steps)
    assert [p.name for p in write_revisions(tmp_path, specs)] == [s.filename for s in specs]
    assert write_revisions(tmp_path, specs) == []  # same content: nothing rewritten
    (tmp_path / specs[0].filename).write_text("# edited by hand\n")
    with pytest.raises(UsageError, match="exists with other content"):
        write_revisions(tmp_path, specs)
    assert (tmp_path / specs[0].filename).read_text() == "# edited by hand\n"
