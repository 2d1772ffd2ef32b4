"""Data pre-flight of the whole run: dirty data refuses the run before any pending revision applies.

Each case has a base revision (applied first, then made dirty) and three
pending ones; the third adds a constraint the data breaks.  Without the
whole-run pre-flight the first two would commit before the third is refused.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_guard.model import LEDGER_TABLE
from alembic_guard.testing import GuardedProject, schema_fingerprint

pytestmark = pytest.mark.db

BASE = """
op.create_table("owner", sa.Column("id", sa.Integer, primary_key=True))
op.create_table(
    "item",
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("owner_id", sa.Integer),
    sa.Column("name", sa.Text),
    sa.Column("qty", sa.Integer),
)
op.execute("INSERT INTO owner VALUES (1), (2)")
op.execute("INSERT INTO item VALUES (1, 1, 'a', 1), (2, 2, 'b', 2), (3, 1, 'c', 3)")
"""

HARMLESS = 'op.add_column("item", sa.Column("note", sa.Text))'
INDEX = 'op.create_index("ix_item_name", "item", ["name"])'

# case: (the dirt, the constraint revision, words of the refusal)
CASES = {
    "duplicate": (
        "UPDATE item SET name = 'a' WHERE id = 3",
        'op.create_unique_constraint("uq_item_owner_name", "item", ["owner_id", "name"])',
        ("item", "uq_item_owner_name", "1 value group(s)", "(owner_id=1, name='a') × 2"),
    ),
    # issue 12 item 7: a unique index gets the unique constraint's data pre-flight
    "unique_index": (
        "UPDATE item SET name = 'a' WHERE id = 3",
        'op.create_index("ix_item_owner_name_u", "item", ["owner_id", "name"], unique=True)',
        ("item", "unique index ix_item_owner_name_u", "1 value group(s)", "(owner_id=1, name='a') × 2"),
    ),
    "orphan": (
        "UPDATE item SET owner_id = 99 WHERE id IN (2, 3)",
        'op.create_foreign_key("fk_item_owner", "item", "owner", ["owner_id"], ["id"])',
        ("item", "fk_item_owner", "2 row(s)", "(id=2); (id=3)", "owner"),
    ),
    "check": (
        "UPDATE item SET qty = -5 WHERE id = 2",
        'op.create_check_constraint("ck_item_qty", "item", "qty >= 0")',
        ("item", "ck_item_qty", "1 row(s)", "(id=2)"),
    ),
    "not_null": (
        "UPDATE item SET name = NULL WHERE id = 1",
        'op.alter_column("item", "name", nullable=False)',
        ("item", "name", "1 row(s) have NULL", "(id=1)"),
    ),
}


def _fetch(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _fingerprint(url: str) -> frozenset[tuple[str, ...]]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return schema_fingerprint(conn, exclude_tables=(LEDGER_TABLE,))
    finally:
        engine.dispose()


def _project(tmp_path, pg_url, constraint: str, second: str = HARMLESS) -> GuardedProject:
    project = GuardedProject(tmp_path, pg_url)
    project.add_revision("d1", None, BASE)
    project.add_revision("d2", "d1", second)
    project.add_revision("d3", "d2", INDEX)
    project.add_revision("d4", "d3", constraint)
    applied = project.run("upgrade", "d1")
    assert applied.returncode == 0, applied.stderr
    return project


@pytest.mark.parametrize("policy", ["strict", "lenient"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_dirty_data_refuses_the_run_before_any_revision(tmp_path, pg_url, case, policy):
    dirt, constraint, words = CASES[case]
    project = _project(tmp_path, pg_url, constraint)
    _fetch(pg_url, dirt)
    schema = _fingerprint(pg_url)
    rows = _fetch(pg_url, "SELECT * FROM item ORDER BY id")

    result = project.run("upgrade", "head", env=project.env(ALEMBIC_GUARD_POLICY=policy))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "data pre-flight refused the run before any revision ran" in out
    assert "(revision d4)" in out and "0004_d4.py" in out
    for word in words:
        assert word in out, (word, out)
    # the refusal is printed once (issue 12 item 7): its sample keys and its message
    assert out.count(words[3]) == 1, out
    assert out.count("data pre-flight refused the run before any revision ran") == 1, out

    # nothing changed: version, schema (d2's column, d3's index), data
    assert _fetch(pg_url, "SELECT version_num FROM alembic_version") == [("d1",)]
    assert _fingerprint(pg_url) == schema
    assert _fetch(pg_url, "SELECT * FROM item ORDER BY id") == rows
    ledger = _fetch(pg_url, "SELECT revision, status, error FROM alembic_guard_log ORDER BY id")
    assert [r[:2] for r in ledger] == [("d1", "succeeded"), ("d4", "failed")]
    assert words[1] in ledger[1][2]

    # once the data is fixed, the same run applies everything
    _fetch(pg_url, "DELETE FROM item WHERE id > 1")
    _fetch(pg_url, "UPDATE item SET name = 'a', owner_id = 1, qty = 1")
    fixed = project.run("upgrade", "head", env=project.env(ALEMBIC_GUARD_POLICY=policy))
    assert fixed.returncode == 0, fixed.stderr
    assert _fetch(pg_url, "SELECT version_num FROM alembic_version") == [("d4",)]


def test_an_earlier_revision_that_fixes_the_data_is_left_to_run_first(tmp_path, pg_url):
    """A pending revision that changes the table's rows first: its check waits for the guarded op."""
    fix = 'op.execute("UPDATE item SET qty = 0 WHERE qty < 0")'
    project = _project(tmp_path, pg_url, CASES["check"][1], second=fix)
    _fetch(pg_url, CASES["check"][0])
    result = project.run("upgrade", "head")
    assert result.returncode == 0, result.stderr
    assert _fetch(pg_url, "SELECT version_num FROM alembic_version") == [("d4",)]
    assert _fetch(pg_url, "SELECT convalidated FROM pg_constraint WHERE conname = 'ck_item_qty'") == [(True,)]


def test_clean_data_passes_and_nothing_pending_checks_nothing(tmp_path, pg_url):
    project = _project(tmp_path, pg_url, CASES["duplicate"][1])
    result = project.run("upgrade", "head")
    assert result.returncode == 0, result.stderr
    assert "data pre-flight: 1 pending constraint(s) checked against the data, 0 would fail" in result.stderr
    again = project.run("upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert "data pre-flight" not in again.stderr


def test_a_check_the_server_cannot_run_yet_is_left_to_its_operation(tmp_path, pg_url):
    """The CHECK calls a function an earlier pending revision creates: checked by the op, not refused."""
    function = (
        'op.execute("CREATE FUNCTION positive(i integer) RETURNS boolean '
        'LANGUAGE sql IMMUTABLE AS $$ SELECT i >= 0 $$")'
    )
    check = 'op.create_check_constraint("ck_item_positive", "item", "positive(qty)")'
    project = _project(tmp_path, pg_url, check, second=function)
    result = project.run("upgrade", "head")
    assert result.returncode == 0, result.stderr
    assert "data pre-flight: cannot check CreateCheckConstraintOp of revision d4 now" in result.stderr
    assert _fetch(pg_url, "SELECT version_num FROM alembic_version") == [("d4",)]
