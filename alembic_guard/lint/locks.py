"""Which table-level lock a statement takes, after PostgreSQL's documentation.

Pure.  The levels and the statements that take them follow the tables in
PostgreSQL's "Explicit Locking" chapter and the Notes of ``ALTER TABLE``,
``CREATE INDEX``, ``REINDEX`` and ``DROP INDEX`` (PostgreSQL 12 to 17 agree on
everything read here).  An ``ALTER TABLE`` with several subcommands takes the
strongest lock any of them needs, for the whole statement.

The PR-review report prints :func:`lock_level` next to each statement; the
``require-lock-timeout`` rule uses :func:`lock_targets` to know which
existing tables a statement would queue on.
"""

from __future__ import annotations

from alembic_guard.lint.nodes import Node, alter_cmds, name_qname, rel_qname, strings, top
from alembic_guard.model import QName
from alembic_guard.sql.statement import AnalyzedStatement, Statement

__all__ = ["LEVELS", "lock_level", "lock_targets", "strength"]

# Weakest first; the position is the mode number LOCK TABLE's parse node uses.
LEVELS = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
_AE = "ACCESS EXCLUSIVE"
_SUE = "SHARE UPDATE EXCLUSIVE"
_SRE = "SHARE ROW EXCLUSIVE"

# ALTER TABLE subcommands lighter than ACCESS EXCLUSIVE; every other one takes it.
_ALTER_TABLE_LOCKS = {
    "AT_SetStatistics": _SUE,
    "AT_SetOptions": _SUE,
    "AT_ResetOptions": _SUE,
    "AT_SetRelOptions": _SUE,
    "AT_ResetRelOptions": _SUE,
    "AT_ClusterOn": _SUE,
    "AT_DropCluster": _SUE,
    "AT_ValidateConstraint": _SUE,
    "AT_AttachPartition": _SUE,
    "AT_EnableTrig": _SRE,
    "AT_EnableAlwaysTrig": _SRE,
    "AT_EnableReplicaTrig": _SRE,
    "AT_DisableTrig": _SRE,
    "AT_EnableTrigAll": _SRE,
    "AT_DisableTrigAll": _SRE,
    "AT_EnableTrigUser": _SRE,
    "AT_DisableTrigUser": _SRE,
}
_DROPPED_RELATIONS = {
    "OBJECT_TABLE",
    "OBJECT_VIEW",
    "OBJECT_MATVIEW",
    "OBJECT_SEQUENCE",
    "OBJECT_INDEX",
    "OBJECT_FOREIGN_TABLE",
}


def strength(level: str) -> int:
    """1 for ACCESS SHARE ... 8 for ACCESS EXCLUSIVE; 0 for ``"none"``."""
    return LEVELS.index(level) + 1 if level in LEVELS else 0


def _node_of(statement: Statement | AnalyzedStatement | Node) -> Node:
    if isinstance(statement, AnalyzedStatement):
        return statement.statement.node
    if isinstance(statement, Statement):
        return statement.node
    return statement


def _has_option(stmt: Node, name: str) -> bool:
    return any(
        p.get("DefElem", {}).get("defname") == name for p in stmt.get("params") or stmt.get("options") or ()
    )


def _alter_table(stmt: Node) -> list[tuple[QName, str]]:
    table = rel_qname(stmt.get("relation"))
    out: list[tuple[QName, str]] = []
    level = "none"
    for cmd in alter_cmds(stmt):
        sub = cmd.get("subtype", "")
        this = _ALTER_TABLE_LOCKS.get(sub, _AE)
        part = cmd.get("def", {}).get("PartitionCmd", {})
        if sub == "AT_DetachPartition" and part.get("concurrent"):
            this = _SUE
        if sub in ("AT_AttachPartition", "AT_DetachPartition"):
            # the partition itself is locked ACCESS EXCLUSIVE (SHARE UPDATE
            # EXCLUSIVE for a concurrent detach)
            child = rel_qname(part.get("name"))
            if child is not None:
                out.append((child, this if part.get("concurrent") else _AE))
        con = cmd.get("def", {}).get("Constraint", {})
        if sub == "AT_AddConstraint" and con.get("contype") == "CONSTR_FOREIGN":
            # both the table and the referenced table take SHARE ROW EXCLUSIVE
            this = _SRE
            ref = rel_qname(con.get("pktable"))
            if ref is not None:
                out.append((ref, _SRE))
        if strength(this) > strength(level):
            level = this
    if table is not None and level != "none":
        out.insert(0, (table, level))
    return out


def _create_table(stmt: Node) -> list[tuple[QName, str]]:
    out: list[tuple[QName, str]] = []
    constraints: list[Node] = []
    for elt in stmt.get("tableElts") or ():
        if "Constraint" in elt:
            constraints.append(elt["Constraint"])
        for c in elt.get("ColumnDef", {}).get("constraints") or ():
            if "Constraint" in c:
                constraints.append(c["Constraint"])
    for con in constraints:
        if con.get("contype") == "CONSTR_FOREIGN":
            ref = rel_qname(con.get("pktable"))
            if ref is not None:
                out.append((ref, _SRE))
    if stmt.get("partbound"):
        for parent in stmt.get("inhRelations") or ():
            q = rel_qname(parent.get("RangeVar"))
            if q is not None:
                out.append((q, _AE))
    return out


def lock_targets(statement: Statement | AnalyzedStatement | Node) -> list[tuple[QName, str]]:
    """The relations a statement locks (other than ones it creates), each with its lock level.

    Row-level statements (INSERT, UPDATE, DELETE) report ROW EXCLUSIVE on
    their target; plain reads report nothing.  Pure.
    """
    found = top(_node_of(statement))
    if found is None:
        return []
    kind, stmt = found
    rel = rel_qname(stmt.get("relation"))
    if kind == "AlterTableStmt":
        return _alter_table(stmt)
    if kind == "IndexStmt":
        return [(rel, _SUE if stmt.get("concurrent") else "SHARE")] if rel else []
    if kind == "CreateStmt":
        return _create_table(stmt)
    if kind == "DropStmt" and stmt.get("removeType") in _DROPPED_RELATIONS:
        level = _SUE if stmt.get("concurrent") else _AE
        out = []
        for obj in stmt.get("objects") or ():
            q = name_qname(obj.get("List", {}).get("items"))
            if q is not None:
                out.append((q, level))
        return out
    if kind == "DropStmt" and stmt.get("removeType") in ("OBJECT_TRIGGER", "OBJECT_RULE", "OBJECT_POLICY"):
        out = []
        for obj in stmt.get("objects") or ():
            parts = strings(obj.get("List", {}).get("items"))
            q = name_qname([{"String": {"sval": p}} for p in parts[:-1]])
            if q is not None:
                out.append((q, _AE))
        return out
    if kind == "RenameStmt" and rel is not None:
        return [(rel, _SUE if stmt.get("renameType") == "OBJECT_INDEX" else _AE)]
    if kind == "TruncateStmt":
        return [(q, _AE) for r in stmt.get("relations") or () if (q := rel_qname(r.get("RangeVar")))]
    if kind == "ReindexStmt" and rel is not None:
        return [(rel, _SUE if _has_option(stmt, "concurrently") else "SHARE")]
    if kind == "VacuumStmt":
        level = _AE if _has_option(stmt, "full") else _SUE
        out = []
        for r in stmt.get("rels") or ():
            q = rel_qname(r.get("VacuumRelation", {}).get("relation"))
            if q is not None:
                out.append((q, level))
        return out
    if kind == "ClusterStmt" and rel is not None:
        return [(rel, _AE)]
    if kind == "CreateTrigStmt" and rel is not None:
        return [(rel, _SRE)]
    if kind == "RefreshMatViewStmt" and rel is not None:
        return [(rel, "EXCLUSIVE" if stmt.get("concurrent") else _AE)]
    if kind == "ViewStmt" and stmt.get("replace"):
        q = rel_qname(stmt.get("view"))
        return [(q, _AE)] if q else []
    if kind == "LockStmt":
        mode = int(stmt.get("mode", 8))
        level = LEVELS[mode - 1] if 1 <= mode <= 8 else _AE
        return [(q, level) for r in stmt.get("relations") or () if (q := rel_qname(r.get("RangeVar")))]
    if kind in ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt") and rel is not None:
        return [(rel, "ROW EXCLUSIVE")]
    if kind == "CommentStmt" and stmt.get("objtype") in ("OBJECT_TABLE", "OBJECT_COLUMN"):
        parts = strings(stmt.get("object", {}).get("List", {}).get("items"))
        if stmt.get("objtype") == "OBJECT_COLUMN":
            parts = parts[:-1]
        q = name_qname([{"String": {"sval": p}} for p in parts])
        return [(q, _SUE)] if q else []
    return []


def lock_level(statement: Statement | AnalyzedStatement | Node) -> str:
    """The strongest table lock the statement takes: ``"ACCESS EXCLUSIVE"`` ... ``"none"``.

    ``"none"`` means no lock on an existing relation beyond the catalog
    (``CREATE TABLE`` without foreign keys, ``CREATE VIEW``, ``GRANT``...);
    a plain ``SELECT`` reports ``"ACCESS SHARE"``.  Pure.
    """
    node = _node_of(statement)
    targets = lock_targets(node)
    if targets:
        return max((level for _, level in targets), key=strength)
    if node and next(iter(node)) == "SelectStmt":
        return "ACCESS SHARE"
    return "none"
