"""What the lint rules know about the moment a statement runs.

Pure.  A :class:`Scope` starts from the caller's :class:`LintContext` (the
model before the unit, transaction mode, server version) and is advanced
statement by statement by :func:`alembic_guard.lint.base.lint`; rules only
read it.  A *unit* is what runs as one revision: one source file.

Tables created earlier in the unit are "new": nothing reads or writes them
yet, so locking them is harmless.  A table the unit did not create is taken
to exist with data, whether or not the model knows it (a lint that stayed
quiet about tables it cannot see would miss the common case of a model that
was never given).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alembic_guard import changes as ch
from alembic_guard.lint.nodes import (
    Node,
    alter_cmds,
    column_constraints,
    is_not_null_test,
    name_qname,
    rel_qname,
    strings,
    top,
    type_spec,
)
from alembic_guard.model import Column, Constraint, Index, ObjRef, QName, SchemaModel, Table, View
from alembic_guard.sql.statement import Effect, Statement

__all__ = ["LintContext", "Scope"]


@dataclass(frozen=True, slots=True)
class LintContext:
    """What was true before the first statement of the unit.

    - ``model``: the schema before the unit (e.g. replayed from earlier
      revisions, or a live snapshot); ``None`` for "unknown";
    - ``in_transaction``: Alembic runs each revision in a transaction unless
      it is inside ``autocommit_block()``; raw ``BEGIN`` / ``COMMIT``
      statements in the unit switch it;
    - ``lock_timeout_set``: a ``lock_timeout`` is in force already (set by
      ``env.py`` or the guarded runner);
    - ``server_version``: PostgreSQL major version the migrations target;
      ``None`` when nobody said (rules that need a number assume
      :data:`ASSUMED_SERVER_VERSION`; rules about the version itself stay quiet).
    """

    model: SchemaModel | None = None
    in_transaction: bool = True
    lock_timeout_set: bool = False
    server_version: int | None = None


ASSUMED_SERVER_VERSION = 15


_NOT_NULL_CHECK = re.compile(r'^(?:check)?[("\s]*"?([^"()\s]+)"?\s+is\s+not\s+null[)\s]*$', re.IGNORECASE)


class Scope:
    """The state of one unit just before the statement being checked."""

    def __init__(self, context: LintContext) -> None:
        self.context = context
        # a number for rules whose advice depends on the version; ``target_version``
        # is what the user (or the server) really said, ``None`` when unknown
        self.server_version = context.server_version or ASSUMED_SERVER_VERSION
        self.target_version = context.server_version
        self.model = context.model.copy() if context.model is not None else SchemaModel()
        self.new_tables: set[QName] = set()
        self.in_transaction = context.in_transaction
        self.lock_timeout_set = context.lock_timeout_set
        self._lock_timeout_local = False
        # enum values added by ALTER TYPE ... ADD VALUE in the open transaction
        self.enum_values_added: dict[str, QName] = {}
        self.file: str | None = None
        # (schema, table, column) -> keys of CHECK (column IS NOT NULL) constraints;
        # built on first use and kept current by advance(): scanning every
        # constraint of a large model per SET NOT NULL would be quadratic
        self._not_null_checks: dict[tuple[str, str, str], set[tuple[str, str, str]]] | None = None

    # -- questions rules ask -------------------------------------------------

    def is_new(self, table: QName) -> bool:
        """Was ``table`` created earlier in this unit?"""
        return table in self.new_tables

    def is_existing(self, table: QName | None) -> bool:
        """Does ``table`` (probably) hold data that running code reads and writes?

        Not when this unit created it.  When the caller gave a model, a name
        the model has no relation, index or sequence of is not there either
        (the statement then has nothing to lock or break); without a model
        every other name is taken to exist.
        """
        if table is None or table in self.new_tables:
            return False
        if self.context.model is None:
            return True
        m = self.model
        return table in m.tables or table in m.views or table in m.indexes or table in m.sequences

    def column(self, table: QName, name: str) -> Column | None:
        return self.model.column(table[0], table[1], name)

    def has_not_null_check(self, table: QName, column: str) -> bool:
        """Is there a *validated* ``CHECK (column IS NOT NULL)`` on ``table``?"""
        if self._not_null_checks is None:
            self._not_null_checks = {}
            for key in self.model.constraints:
                self._index_check(key)
        for key in self._not_null_checks.get((table[0], table[1], column), ()):
            # the index may hold keys of dropped constraints: the model decides
            con = self.model.constraints.get(key)
            if con is not None and con.validated and _not_null_column(con) == column and con.table == table:
                return True
        return False

    def _index_check(self, key: tuple[str, str, str]) -> None:
        con = self.model.constraints.get(key)
        column = _not_null_column(con) if con is not None else None
        if con is not None and column is not None and self._not_null_checks is not None:
            self._not_null_checks.setdefault((con.table[0], con.table[1], column), set()).add(key)

    def _apply(self, change: ch.Change) -> None:
        ch.apply(self.model, change)
        if self._not_null_checks is None:
            return
        if isinstance(change, ch.PutConstraint):
            con = change.constraint
            if con.name is not None:
                self._index_check((con.table[0], con.table[1], con.name))
            elif self.model.constraints:
                # an unnamed constraint got PostgreSQL's name; dicts keep insertion order
                self._index_check(next(reversed(self.model.constraints)))
        elif isinstance(change, ch.RenameObject | ch.SetSchema):
            self._not_null_checks = None  # rare: rebuild on next use

    # -- advancing -------------------------------------------------------------

    def start_unit(self, file: str) -> None:
        """A new source file starts: a new revision, with its own transaction and settings."""
        self.file = file
        self.new_tables.clear()
        self.in_transaction = self.context.in_transaction
        self.lock_timeout_set = self.context.lock_timeout_set
        self._lock_timeout_local = False
        self.enum_values_added.clear()

    def advance(self, statement: Statement, effect: Effect | None = None) -> None:
        """Record what ``statement`` did: model changes, new tables, transaction and settings."""
        found = top(statement.node)
        if found is None:
            return
        kind, stmt = found
        self._track_session(kind, stmt)
        if kind in ("CreateStmt", "CreateTableAsStmt"):
            rel = stmt.get("relation") or stmt.get("into", {}).get("rel")
            q = rel_qname(rel)
            if q is not None and not (stmt.get("if_not_exists") and self.model.relation_exists(*q)):
                self.new_tables.add(q)
        elif kind == "RenameStmt" and stmt.get("renameType") == "OBJECT_TABLE":
            q = rel_qname(stmt.get("relation"))
            if q is not None and q in self.new_tables:
                self.new_tables.discard(q)
                self.new_tables.add((q[0], stmt.get("newname", q[1])))
        changes = effect.changes if effect is not None and effect.changes else _changes_of(kind, stmt)
        for change in changes:
            self._apply(change)

    def _track_session(self, kind: str, stmt: Node) -> None:
        if kind == "TransactionStmt":
            tk = stmt.get("kind", "")
            if tk in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
                self.in_transaction = True
            elif tk in ("TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK", "TRANS_STMT_COMMIT_PREPARED"):
                # after COMMIT the driver's next statements run outside any
                # transaction (also when op.execute("COMMIT") is used inside a
                # revision), and SET LOCAL values end with the transaction
                self.in_transaction = False
                self.enum_values_added.clear()
                if self._lock_timeout_local:
                    self.lock_timeout_set = self.context.lock_timeout_set
                    self._lock_timeout_local = False
        elif kind == "VariableSetStmt" and stmt.get("name") == "lock_timeout":
            if stmt.get("is_local") and not self.in_transaction:
                return  # SET LOCAL outside a transaction block does nothing (PostgreSQL warns)
            if stmt.get("kind") in ("VAR_RESET", "VAR_SET_DEFAULT"):
                self.lock_timeout_set = False
                return
            args = stmt.get("args") or []
            const = args[0].get("A_Const", {}) if args else {}
            zero = ("ival" in const and not const["ival"].get("ival")) or (
                "sval" in const and const["sval"].get("sval", "").strip() in ("0", "0ms", "0s")
            )
            self.lock_timeout_set = not zero
            self._lock_timeout_local = bool(stmt.get("is_local"))
        elif kind == "AlterEnumStmt" and stmt.get("newVal") and self.in_transaction:
            q = name_qname(stmt.get("typeName"))
            if q is not None:
                self.enum_values_added[stmt["newVal"]] = q


def _not_null_column(con: Constraint) -> str | None:
    """The column of a ``CHECK (column IS NOT NULL)`` constraint, else ``None``."""
    if con.kind != "check" or not con.expression:
        return None
    m = _NOT_NULL_CHECK.match(con.expression.strip())
    return m.group(1) if m else None


# --------------------------------------------------------------------------
# Model changes for plain statements (no Effect given): only what rules read
# --------------------------------------------------------------------------


def _column_of(coldef: Node) -> Column:
    nullable = True
    default = None
    for con in column_constraints(coldef):
        if con.get("contype") in ("CONSTR_NOTNULL", "CONSTR_PRIMARY"):
            nullable = False
        elif con.get("contype") == "CONSTR_DEFAULT":
            default = "?"
    return Column(
        name=coldef.get("colname", ""),
        type=type_spec(coldef.get("typeName")) or "?",
        nullable=nullable,
        default=default,
    )


def _check_of(table: QName, con: Node) -> Constraint | None:
    if con.get("contype") != "CONSTR_CHECK":
        return None
    expr = con.get("raw_expr")
    test = (expr or {}).get("NullTest", {})
    ref = test.get("arg", {}).get("ColumnRef", {})
    cols = strings(ref.get("fields"))
    text = f"{cols[0]} IS NOT NULL" if len(cols) == 1 and is_not_null_test(expr, cols[0]) else "?"
    return Constraint(
        name=con.get("conname"),
        table=table,
        kind="check",
        expression=text,
        validated=not con.get("skip_validation"),
    )


def _changes_of(kind: str, stmt: Node) -> list[ch.Change]:
    out: list[ch.Change] = []
    if kind == "CreateStmt":
        q = rel_qname(stmt.get("relation"))
        if q is None:
            return out
        cols = tuple(_column_of(e["ColumnDef"]) for e in stmt.get("tableElts") or () if "ColumnDef" in e)
        out.append(ch.PutTable(Table(q[0], q[1], cols), if_not_exists=bool(stmt.get("if_not_exists"))))
        for e in stmt.get("tableElts") or ():
            check = _check_of(q, e.get("Constraint", {}))
            if check is not None:
                out.append(ch.PutConstraint(check))
    elif kind == "AlterTableStmt" and stmt.get("objtype", "OBJECT_TABLE") == "OBJECT_TABLE":
        q = rel_qname(stmt.get("relation"))
        if q is None:
            return out
        for cmd in alter_cmds(stmt):
            sub = cmd.get("subtype")
            d = cmd.get("def") or {}
            if sub == "AT_AddColumn" and "ColumnDef" in d:
                out.append(ch.PutColumn(q[0], q[1], _column_of(d["ColumnDef"]), bool(cmd.get("missing_ok"))))
            elif sub == "AT_AlterColumnType" and "ColumnDef" in d:
                spec = type_spec(d["ColumnDef"].get("typeName"))
                out.append(ch.AlterColumn(q[0], q[1], cmd.get("name", ""), type=spec))
            elif sub == "AT_SetNotNull":
                out.append(ch.AlterColumn(q[0], q[1], cmd.get("name", ""), nullable=False))
            elif sub == "AT_DropNotNull":
                out.append(ch.AlterColumn(q[0], q[1], cmd.get("name", ""), nullable=True))
            elif sub == "AT_DropColumn":
                out.append(ch.DropObject(ObjRef.column(q[0], q[1], cmd.get("name", ""))))
            elif sub == "AT_AddConstraint":
                check = _check_of(q, d.get("Constraint", {}))
                if check is not None:
                    out.append(ch.PutConstraint(check))
            elif sub == "AT_ValidateConstraint":
                out.append(ch.ValidateConstraint(q[0], q[1], cmd.get("name", "")))
            elif sub == "AT_DropConstraint":
                out.append(ch.DropObject(ObjRef("constraint", q[0], cmd.get("name", ""), q[1])))
    elif kind == "IndexStmt" and stmt.get("idxname"):
        q = rel_qname(stmt.get("relation"))
        if q is not None:
            index = Index(q[0], stmt["idxname"], q, (), unique=bool(stmt.get("unique")))
            out.append(ch.PutIndex(index, if_not_exists=bool(stmt.get("if_not_exists"))))
    elif kind == "ViewStmt":
        q = rel_qname(stmt.get("view"))
        if q is not None:
            out.append(ch.PutView(View(q[0], q[1]), replace=bool(stmt.get("replace"))))
    elif kind == "DropStmt" and stmt.get("removeType") == "OBJECT_TABLE":
        for obj in stmt.get("objects") or ():
            dq = name_qname(obj.get("List", {}).get("items"))
            if dq is not None:
                out.append(ch.DropObject(ObjRef.relation(*dq)))
    elif kind == "RenameStmt" and stmt.get("renameType") == "OBJECT_TABLE":
        q = rel_qname(stmt.get("relation"))
        if q is not None:
            out.append(ch.RenameObject(ObjRef.relation(*q), stmt.get("newname", "")))
    return out
