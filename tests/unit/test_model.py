from __future__ import annotations

import pytest

from alembic_guard.model import Column, ObjRef, SchemaModel, Table, canonical_type


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("int", "integer"),
        ("INT4", "integer"),
        ("pg_catalog.int8", "bigint"),
        ("varchar(255)", "character varying(255)"),
        ("character varying(255)", "character varying(255)"),
        ("timestamptz", "timestamp with time zone"),
        ("timestamp(3) with time zone", "timestamp(3) with time zone"),
        ("numeric(10, 2)", "numeric(10,2)"),
        ("int[]", "integer[]"),
        ("public.status", "status"),
        ('"MyType"', '"MyType"'),
        ('"status"', "status"),
        ("serial", "integer"),
        ("int[][]", "integer[]"),
        ("numeric(5)", "numeric(5,0)"),
    ],
)
def test_canonical_type(spec: str, expected: str) -> None:
    assert canonical_type(spec) == expected
    assert canonical_type(expected) == expected


def test_has_and_put_column() -> None:
    m = SchemaModel()
    m.put_table(Table("public", "tasks", (Column("id", "integer", nullable=False),)))
    assert m.has(ObjRef.relation("public", "tasks"))
    assert not m.has(ObjRef.column("public", "tasks", "project_id"))
    m.put_column("public", "tasks", Column("project_id", "integer"))
    assert m.has(ObjRef.column("public", "tasks", "project_id"))
    copy = m.copy()
    copy.drop_column("public", "tasks", "project_id")
    assert m.has(ObjRef.column("public", "tasks", "project_id"))
    assert not copy.has(ObjRef.column("public", "tasks", "project_id"))
