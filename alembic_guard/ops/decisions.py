"""An Alembic operation object's :class:`~alembic_guard.decide.types.Decision`, without executing it.

For pre-flight and dry runs: the same spec the guarded operation builds, the
same pure decision, against whatever model the caller holds (the live one, or
a scratch copy carrying the revision's earlier operations).  Compiles
SQLAlchemy types and expressions with the context's dialect; touches no
database.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from alembic.operations import ops as aops

from alembic_guard.changes import Change
from alembic_guard.decide.columns import (
    DropColumn,
    decide_add_column,
    decide_alter_column,
    decide_drop_column,
)
from alembic_guard.decide.constraints import DropConstraint, decide_add_constraint, decide_drop_constraint
from alembic_guard.decide.indexes import DropIndex, decide_create_index, decide_drop_index
from alembic_guard.decide.tables import DropTable, decide_create_table, decide_drop_table
from alembic_guard.decide.types import Decision
from alembic_guard.model import QName, SchemaModel
from alembic_guard.ops.base import qname_of
from alembic_guard.ops.columns import add_column_spec, alter_column_spec
from alembic_guard.ops.constraints import constraint_spec
from alembic_guard.ops.indexes import index_spec
from alembic_guard.ops.tables import create_table_spec

if TYPE_CHECKING:  # the runtime imports the ops: its package imported here would be a cycle
    from alembic_guard.runtime.config import RuntimeSettings

_T = TypeVar("_T")

# op object -> {(spec kind, dialect, options): spec}.  Pre-flight decides each recorded op, and
# the later-changes hook replays the same recorded op: building its spec (a SQLAlchemy Table,
# compiled types) once instead of twice is a tenth of a guarded run's pre-flight.
_SPECS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()


def _spec(operation: Any, key: tuple[Any, ...], build: Callable[[], _T]) -> _T:
    """``build()``, once per op object and ``key``: specs depend on nothing else and are not changed."""
    specs = _SPECS.setdefault(operation, {})
    if key not in specs:
        specs[key] = build()
    return specs[key]


def decide_operation(
    operations: Any, operation: Any, model: SchemaModel, settings: RuntimeSettings
) -> Decision | None:
    """The decision the guarded operation would make on ``model``; ``None``: not a guarded kind.

    ``op.execute`` is not decided here: its SQL goes through the analysis.
    """
    dialect = operations.migration_context.dialect
    if isinstance(operation, aops.AddColumnOp):
        return decide_add_column(
            model,
            _spec(
                operation, ("add_column", dialect), lambda: add_column_spec(operations, operation, dialect)
            ),
        )
    if isinstance(operation, aops.AlterColumnOp):
        return decide_alter_column(
            model, _spec(operation, ("alter_column", dialect), lambda: alter_column_spec(operation, dialect))
        )
    if isinstance(operation, aops.DropColumnOp):
        q = qname_of(operation.table_name, operation.schema)
        return decide_drop_column(model, DropColumn(q, operation.column_name, settings.allow_destructive))
    if isinstance(operation, aops.CreateTableOp):
        return decide_create_table(model, _table_spec(operations, operation))[0]
    if isinstance(operation, aops.DropTableOp):
        q = qname_of(operation.table_name, operation.schema)
        return decide_drop_table(model, DropTable(q, settings.allow_destructive))
    if isinstance(operation, aops.CreateIndexOp):
        if operation.index_name is None:
            return None
        return decide_create_index(model, _index_spec(operation, dialect, settings.concurrent_indexes))
    if isinstance(operation, aops.DropIndexOp):
        table = qname_of(operation.table_name, operation.schema) if operation.table_name else None
        return decide_drop_index(model, DropIndex(qname_of(operation.index_name, operation.schema), table))
    if isinstance(operation, aops.AddConstraintOp):
        constraint = constraint_spec(operation, dialect, settings.concurrent_indexes)
        return decide_add_constraint(model, constraint) if constraint is not None else None
    if isinstance(operation, aops.DropConstraintOp):
        q = qname_of(operation.table_name, operation.schema)
        return decide_drop_constraint(model, DropConstraint(q, str(operation.constraint_name)))
    return None


def operation_tables(operation: Any) -> set[QName] | None:
    """The tables a typed operation reads or changes (to load before deciding); ``None``: unknown."""
    if isinstance(operation, aops.ExecuteSQLOp):
        return None
    if isinstance(operation, aops.CreateForeignKeyOp):
        return {
            qname_of(operation.source_table, operation.kw.get("source_schema")),
            qname_of(operation.referent_table, operation.kw.get("referent_schema")),
        }
    out: set[QName] = set()
    table = getattr(operation, "table_name", None)
    if isinstance(table, str):
        out.add(qname_of(table, getattr(operation, "schema", None)))
    if isinstance(operation, aops.AddColumnOp):
        for fk in operation.column.foreign_keys:
            schema, ref, _ = fk._column_tokens
            out.add(qname_of(ref, schema))
    elif isinstance(operation, aops.CreateTableOp):
        for col in operation.columns:
            for fk in getattr(col, "foreign_keys", ()):
                schema, ref, _ = fk._column_tokens
                out.add(qname_of(ref, schema))
            if hasattr(col, "elements"):  # a ForeignKeyConstraint given as an argument
                for element in col.elements:
                    schema, ref, _ = element._column_tokens
                    out.add(qname_of(ref, schema))
    return out


def operation_changes(operations: Any, operation: Any) -> tuple[Change, ...]:
    """What a typed operation changes in the model, decided against nothing (for replaying history).

    Used to know the shape later revisions give an object; ``()`` for
    operations that change no schema fact the guards compare.
    """
    from alembic_guard import changes as ch
    from alembic_guard.model import Constraint, ObjRef

    dialect = operations.migration_context.dialect
    if isinstance(operation, aops.AddColumnOp):
        spec = _spec(
            operation, ("add_column", dialect), lambda: add_column_spec(operations, operation, dialect)
        )
        out: list[Change] = [ch.PutColumn(spec.table[0], spec.table[1], spec.column)]
        out.extend(ch.PutConstraint(fk) for fk in spec.foreign_keys)
        if spec.unique:
            out.append(ch.PutConstraint(Constraint(None, spec.table, "unique", (spec.column.name,))))
        out.extend(ch.PutIndex(ix) for ix in spec.indexes)
        return tuple(out)
    if isinstance(operation, aops.AlterColumnOp):
        a = _spec(operation, ("alter_column", dialect), lambda: alter_column_spec(operation, dialect))
        alter = ch.AlterColumn(
            a.table[0],
            a.table[1],
            a.name,
            type=a.type,
            nullable=a.nullable,
            default=a.default if a.set_default else None,
            drop_default=a.set_default and a.default is None,
        )
        if a.new_name and a.new_name != a.name:
            return (alter, ch.RenameObject(ObjRef.column(a.table[0], a.table[1], a.name), a.new_name))
        return (alter,)
    if isinstance(operation, aops.DropColumnOp):
        q = qname_of(operation.table_name, operation.schema)
        return (ch.DropObject(ObjRef.column(q[0], q[1], operation.column_name)),)
    if isinstance(operation, aops.CreateTableOp):
        t_spec = _table_spec(operations, operation)
        return (
            ch.PutTable(t_spec.table),
            *(ch.PutConstraint(c) for c in t_spec.constraints),
            *(ch.PutIndex(ix) for ix in t_spec.indexes),
        )
    if isinstance(operation, aops.DropTableOp):
        return (ch.DropObject(ObjRef.relation(*qname_of(operation.table_name, operation.schema))),)
    if isinstance(operation, aops.CreateIndexOp) and operation.index_name is not None:
        return (ch.PutIndex(_index_spec(operation, dialect, False).index),)
    if isinstance(operation, aops.DropIndexOp):
        return (ch.DropObject(ObjRef("index", *qname_of(operation.index_name, operation.schema))),)
    if isinstance(operation, aops.AddConstraintOp):
        spec_c = constraint_spec(operation, dialect)
        return (ch.PutConstraint(spec_c.constraint),) if spec_c is not None else ()
    if isinstance(operation, aops.DropConstraintOp):
        q = qname_of(operation.table_name, operation.schema)
        return (ch.DropObject(ObjRef("constraint", q[0], str(operation.constraint_name), q[1])),)
    return ()


def _table_spec(operations: Any, operation: Any) -> Any:
    dialect = operations.migration_context.dialect
    return _spec(operation, ("create_table", dialect), lambda: create_table_spec(operations, operation)[0])


def _index_spec(operation: Any, dialect: Any, concurrent: bool) -> Any:
    return _spec(
        operation, ("create_index", dialect, concurrent), lambda: index_spec(operation, dialect, concurrent)
    )
