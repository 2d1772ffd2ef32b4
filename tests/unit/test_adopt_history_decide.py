"""Pure: guard-adopt's decision with the history (importer.adopt.decide(history=...))."""

from __future__ import annotations

from alembic_guard.changes import (
    AlterColumn,
    Change,
    DropObject,
    PutIndex,
    PutTable,
    RenameObject,
    apply,
)
from alembic_guard.importer.adopt import decide, render_decision
from alembic_guard.importer.module import ImportedRevision
from alembic_guard.model import Column, Index, ObjRef, SchemaModel, Table


def rev(n: int) -> ImportedRevision:
    return ImportedRevision(f"r{n}", f"r{n - 1}" if n > 1 else None, f"r{n}.py", f"00{n}.sql", f"00{n}.sql")


NOTE = Table("public", "note", (Column("id", "integer", False), Column("title", "character varying(10)")))
HISTORY = (
    (PutTable(NOTE), PutIndex(Index("public", "note_title", ("public", "note"), ("title",)))),
    (AlterColumn("public", "note", "title", type="text"),),
    (DropObject(ObjRef("index", "public", "note_title")),),
    (RenameObject(ObjRef.column("public", "note", "title"), "heading"),),
)
REVS = [rev(n) for n in range(1, 5)]


def model_after(k: int) -> SchemaModel:
    return replay_changes(HISTORY[:k])


def replay_changes(history: tuple[tuple[Change, ...], ...]) -> SchemaModel:
    m = SchemaModel()
    for changes in history:
        for c in changes:
            apply(m, c)
    return m


def test_a_database_at_head_is_stamped_at_head() -> None:
    d = decide(REVS, model_after(4), None, history=HISTORY)
    assert (d.stamp, d.adopted) == ("r4", 4)
    assert [v.status for v in d.verdicts] == ["present"] * 4


def test_a_database_part_way_is_stamped_where_it_stopped() -> None:
    d = decide(REVS, model_after(2), None, history=HISTORY)
    assert (d.stamp, d.adopted) == ("r2", 2)
    assert [v.status for v in d.verdicts[2:]] == ["absent", "absent"]
    text = "\n".join(render_decision(d, legacy_table=None))
    assert "should be dropped but still there: index note_title" in text


def test_one_object_the_history_does_not_explain_stops_the_stamp_before_its_revision() -> None:
    """At head but for an index a later revision should have dropped: the revisions before it are
    present against the whole history, and `upgrade head` completes the rest."""
    live = model_after(4)
    live.indexes[("public", "note_title")] = Index("public", "note_title", ("public", "note"), ("heading",))
    d = decide(REVS, live, None, history=HISTORY)
    assert (d.stamp, d.adopted) == ("r2", 2)
    assert d.verdicts[2].status == "absent"
    assert d.verdicts[2].still_there == (ObjRef("index", "public", "note_title"),)


def test_a_changed_type_is_explained_by_both_definitions() -> None:
    live = SchemaModel()
    live.tables[("public", "note")] = Table(
        "public", "note", (Column("id", "integer", False), Column("heading", "character varying(20)"))
    )
    d = decide(REVS, live, None, history=HISTORY)
    text = "\n".join(render_decision(d, legacy_table=None))
    assert (
        "another definition: column note.heading: character varying(20) NULL (the history gives text NULL)"
        in text
    )


def test_an_expression_index_as_the_catalog_deparses_it_agrees() -> None:
    """The catalog writes ``lower((email)::text)`` where the SQL said ``lower(email)``."""
    users = Table("public", "users", (Column("email", "character varying(255)"),))
    history = (
        (PutTable(users), PutIndex(Index("public", "users_email", ("public", "users"), ("lower(email)",)))),
    )
    live = replay_changes(history)
    live.indexes[("public", "users_email")] = Index(
        "public", "users_email", ("public", "users"), ("lower((email)::text)",)
    )
    d = decide([rev(1)], live, None, history=history)
    assert (d.stamp, [v.status for v in d.verdicts]) == ("r1", ["present"])
