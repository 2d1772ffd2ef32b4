"""Pure: guard-adopt's decision with the history (importer.adopt.decide(history=...))."""

from __future__ import annotations

from alembic_guard.changes import (
    AlterColumn,
    Change,
    DropObject,
    PutColumn,
    PutIndex,
    PutTable,
    RenameObject,
    apply,
)
from alembic_guard.importer.adopt import Unsure, decide, render_decision
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


# r1 makes note (and, through dynamic SQL, parts the history does not see), r2 indexes a part,
# r3 drops note.title only if the catalog says so, r4 drops the parent (the part goes with it)
PARENT = Table("public", "feed", (Column("id", "integer", False),))
PART_INDEX = Index("public", "feed_0_id", ("public", "feed_0"), ("id",))
UNSURE_HISTORY = (
    (PutTable(NOTE), PutTable(PARENT)),
    (PutIndex(PART_INDEX),),
    (),
    (DropObject(ObjRef.relation("public", "feed")),),
)
UNSURE = [
    Unsure(dynamic=("relation:public.*",)),
    Unsure(),
    Unsure(maybe_dropped=(ObjRef.column("public", "note", "title"),)),
    Unsure(),
]


def _at_head_without_title_and_part() -> SchemaModel:
    live = SchemaModel()
    live.tables[("public", "note")] = Table("public", "note", (Column("id", "integer", False),))
    return live


def test_what_the_history_cannot_tell_is_not_judged() -> None:
    live = _at_head_without_title_and_part()
    d = decide(REVS, live, None, history=UNSURE_HISTORY, unsure=UNSURE)
    assert (d.stamp, d.adopted) == ("r4", 4)
    assert [v.unjudged for v in d.verdicts] == [
        (),
        (ObjRef("index", "public", "feed_0_id"),),
        (ObjRef.column("public", "note", "title"),),
        (),
    ]
    text = "\n".join(render_decision(d, legacy_table=None))
    assert "not judged (a conditional drop, or dynamic SQL, leaves them unknown): column note.title" in text
    # the conditional drop may also not have happened
    live.tables[("public", "note")] = NOTE
    assert decide(REVS, live, None, history=UNSURE_HISTORY, unsure=UNSURE).adopted == 4


def test_without_what_is_unsure_the_same_database_reads_missing() -> None:
    d = decide(REVS, _at_head_without_title_and_part(), None, history=UNSURE_HISTORY)
    assert d.adopted == 0
    assert d.verdicts[0].missing == (ObjRef.column("public", "note", "title"),)
    assert d.verdicts[1].missing == (ObjRef("index", "public", "feed_0_id"),)


def test_a_part_index_without_dynamic_sql_to_explain_it_is_judged() -> None:
    """An index on a table neither the history nor dynamic SQL made (an outside table) stays judged."""
    unsure = [Unsure(), Unsure(), UNSURE[2], Unsure()]
    d = decide(REVS, _at_head_without_title_and_part(), None, history=UNSURE_HISTORY, unsure=unsure)
    assert d.verdicts[1].missing == (ObjRef("index", "public", "feed_0_id"),)
    assert d.adopted == 1


def test_a_later_revision_settles_a_conditional_drop() -> None:
    """r4 adds the column back: it must be there again."""
    history = (*UNSURE_HISTORY[:3], (PutColumn("public", "note", Column("title", "text")),))
    live = _at_head_without_title_and_part()
    d = decide(REVS, live, None, history=history, unsure=UNSURE)
    assert d.verdicts[3].missing == (ObjRef.column("public", "note", "title"),)


def test_a_type_the_search_path_shows_unqualified_is_the_same_type() -> None:
    """format_type() writes ``kind`` where the search_path finds it; the model writes shop.kind."""
    from alembic_guard.identity import same_type

    assert same_type("kind", "shop.kind", ("shop", "public"))
    assert same_type("kind[]", '"shop".kind[]', ("shop", "public"))
    assert not same_type("kind", "shop.kind", ("public",))
    assert not same_type("other.kind", "shop.kind", ("shop", "other"))
    assert same_type("character varying(20)", "character varying(20)", ("public",))
