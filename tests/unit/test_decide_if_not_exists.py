"""IF NOT EXISTS in the guards' decisions: an object of that name with another definition is kept, as
PostgreSQL keeps it (skip, both definitions shown), never refused; without IF NOT EXISTS it is refused.

The end-to-end case (a fresh upgrade of imported revisions against the raw files) is
``if_not_exists_expressions`` in tests/integration/test_realworld_fixtures.py.
"""

from __future__ import annotations

from alembic_guard.changes import PutColumn, PutIndex
from alembic_guard.decide.columns import AddColumn, decide_add_column
from alembic_guard.decide.indexes import CreateIndex, decide_create_index
from alembic_guard.decide.statements import RawStatement, decide_statement
from alembic_guard.decide.tables import CreateTable, decide_create_table
from alembic_guard.identity import same_expression
from alembic_guard.model import Column, Index, ObjRef, SchemaModel, Table


def _model() -> SchemaModel:
    m = SchemaModel()
    m.put_table(Table("public", "t", (Column("a", "integer"), Column("b", "text"))))
    m.put_index(Index("public", "t_ix", ("public", "t"), ("a",)))
    return m


def test_create_index_if_not_exists_keeps_another_definition() -> None:
    want = Index("public", "t_ix", ("public", "t"), ("a", "b"))
    d = decide_create_index(_model(), CreateIndex(want, ("a", "b"), if_not_exists=True))
    assert d.verdict == "skip"
    assert d.reason.startswith("IF NOT EXISTS: an index of that name exists with another definition")
    assert d.details is not None and "(a)" in d.details and "(a, b)" in d.details
    assert decide_create_index(_model(), CreateIndex(want, ("a", "b"))).verdict == "refuse"


def test_add_column_if_not_exists_keeps_another_definition() -> None:
    spec = AddColumn(("public", "t"), Column("b", "character varying(10)"), if_not_exists=True)
    d = decide_add_column(_model(), spec)
    assert (d.verdict, d.details is not None) == ("skip", True)
    assert "character varying(10)" in (d.details or "")
    spec = AddColumn(("public", "t"), Column("b", "character varying(10)"))
    assert decide_add_column(_model(), spec).verdict == "refuse"


def test_create_table_if_not_exists_keeps_a_column_of_another_definition() -> None:
    want = Table("public", "t", (Column("a", "bigint"), Column("b", "text")))
    d, reconcile = decide_create_table(_model(), CreateTable(want, if_not_exists=True))
    assert (d.verdict, reconcile) == ("skip", None)
    assert "column(s) a" in d.reason and "bigint" in (d.details or "")
    assert decide_create_table(_model(), CreateTable(want))[0].verdict == "refuse"


def test_raw_statement_if_not_exists_keeps_another_definition() -> None:
    want = Index("public", "t_ix", ("public", "t"), ("b",))
    ref = ObjRef("index", "public", "t_ix")
    ensured = RawStatement(
        "CREATE INDEX IF NOT EXISTS t_ix ON t (b)", "IndexStmt", (ref,), (), (PutIndex(want),), ensures=(ref,)
    )
    d = decide_statement(_model(), ensured)
    assert d.verdict == "skip" and d.reason.startswith("IF NOT EXISTS:")
    plain = RawStatement("CREATE INDEX t_ix ON t (b)", "IndexStmt", (ref,), (), (PutIndex(want),))
    assert decide_statement(_model(), plain).verdict == "refuse"


def test_raw_add_column_if_not_exists_of_a_missing_column_runs() -> None:
    col = ObjRef.column("public", "t", "c")
    st = RawStatement(
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int",
        "AlterTableStmt",
        (col,),
        (),
        (PutColumn("public", "t", Column("c", "integer"), if_not_exists=True),),
        ensures=(col,),
    )
    assert decide_statement(_model(), st).verdict == "run"


def test_same_expression_reads_the_catalogs_spelling_of_sql_syntax_functions() -> None:
    """The catalog gives back TRIM(BOTH FROM x), SUBSTRING(x FROM 2): the same expressions as written."""
    assert same_expression("trim(label) <> ''", "(TRIM(BOTH FROM label) <> ''::text)")
    assert same_expression("substring(code from 2) = 'x'", "(SUBSTRING(code FROM 2) = 'x'::text)")
    assert same_expression("char_length(trim(s)) > 0", "(char_length(TRIM(BOTH FROM s)) > 0)")
    assert not same_expression("trim(label) <> ''", "(TRIM(LEADING FROM label) <> ''::text)")
    assert not same_expression("trim(label) <> 'a'", "(TRIM(BOTH FROM label) <> 'b'::text)")
