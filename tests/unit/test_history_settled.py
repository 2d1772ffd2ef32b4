"""Pure: re-running a history (decide.history.settled), judged against what the whole history leaves.

Each case is a small history of raw SQL (analysed as the runtime analyses ``op.execute``
text); "the database" is what that history leaves (``history_end(...).model``) unless a case
changes it, as a database the revisions built and that then drifted.
"""

from __future__ import annotations

import pytest

from alembic_guard.changes import Change, DropObject, apply
from alembic_guard.decide.history import HistoryEnd, HistoryStep, effect_changes, history_end, settled
from alembic_guard.model import ObjRef, SchemaModel
from alembic_guard.sql.effects import analyze_all
from alembic_guard.sql.parse import parse_text


def steps(sql: str) -> list[HistoryStep]:
    return [HistoryStep.of_effect(a.effect) for a in analyze_all(parse_text(sql))]


def changes_of(statement: str) -> tuple[Change, ...]:
    (a,) = analyze_all(parse_text(statement))
    return effect_changes(a.effect)


def at_end(sql: str) -> tuple[HistoryEnd, SchemaModel]:
    end = history_end(steps(sql))
    return end, end.model.copy()


SWAPPED = """
CREATE TABLE hosts (id integer PRIMARY KEY);
ALTER TABLE hosts ADD COLUMN inbox text NOT NULL DEFAULT 'none';
ALTER TABLE hosts ADD COLUMN shared_inbox text;
ALTER TABLE hosts DROP COLUMN inbox, ALTER COLUMN shared_inbox SET NOT NULL;
ALTER TABLE hosts RENAME COLUMN shared_inbox TO inbox;
"""

REMADE_KEY = """
CREATE TABLE action (id text PRIMARY KEY, name text);
ALTER TABLE action DROP CONSTRAINT action_pkey, DROP COLUMN id,
    ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid(), ADD CONSTRAINT action_pkey PRIMARY KEY (id);
CREATE TABLE step (id integer PRIMARY KEY, action_id uuid REFERENCES action (id));
"""

MADE_AND_DROPPED = """
CREATE TABLE post (id integer PRIMARY KEY, title text);
CREATE VIEW post_view AS SELECT id, title FROM post;
CREATE TABLE post_fast AS SELECT * FROM post_view;
ALTER TABLE post_fast ADD PRIMARY KEY (id);
CREATE INDEX post_title ON post (title);
DROP TABLE post_fast;
DROP VIEW post_view;
"""


def test_a_drop_of_the_name_a_later_rename_took_is_settled() -> None:
    # run again, the drop would take the column the rename made (the data with it)
    end, live = at_end(SWAPPED)
    reason = settled(
        end, live, changes_of("ALTER TABLE hosts DROP COLUMN inbox, ALTER COLUMN shared_inbox SET NOT NULL")
    )
    assert reason is not None and reason.startswith("re-running the history:")
    assert "column hosts.inbox there" in reason and "shared_inbox gone" in reason
    assert settled(end, live, changes_of("ALTER TABLE hosts RENAME COLUMN shared_inbox TO inbox")) is not None
    assert settled(end, live, changes_of("ALTER TABLE hosts ADD COLUMN shared_inbox text")) is not None


def test_a_key_the_same_revision_makes_again_is_not_dropped_again() -> None:
    end, live = at_end(REMADE_KEY)
    assert settled(end, live, changes_of("ALTER TABLE action DROP CONSTRAINT action_pkey")) is not None
    assert settled(end, live, changes_of("ALTER TABLE action DROP COLUMN id")) is not None


def test_objects_made_and_later_dropped_are_not_made_again() -> None:
    end, live = at_end(MADE_AND_DROPPED)
    for statement in (
        "CREATE VIEW post_view AS SELECT id, title FROM post",
        "CREATE TABLE post_fast AS SELECT * FROM post_view",
        "ALTER TABLE post_fast ADD PRIMARY KEY (id)",
    ):
        reason = settled(end, live, changes_of(statement))
        assert reason is not None and "gone, as the later revisions leave" in reason, statement


def test_what_the_database_lacks_is_not_settled() -> None:
    end, live = at_end(MADE_AND_DROPPED)
    apply(live, DropObject(ObjRef("index", "public", "post_title")))  # drift: the index is gone
    assert settled(end, live, changes_of("CREATE INDEX post_title ON post (title)")) is None
    # a key the history remade, missing from the database: dropping it again is not "settled"
    end, live = at_end(REMADE_KEY)
    apply(live, DropObject(ObjRef("constraint", "public", "action_pkey", "action")))
    assert settled(end, live, changes_of("ALTER TABLE action DROP CONSTRAINT action_pkey")) is None


def test_objects_the_history_never_made_are_not_taken_as_gone() -> None:
    # a table from outside the history: the replay could not add the column, the database lacks it
    end, live = at_end(MADE_AND_DROPPED)
    assert settled(end, live, changes_of("ALTER TABLE users ADD COLUMN nickname text")) is None


def test_an_object_there_with_another_shape_is_not_settled() -> None:
    end, _ = at_end(SWAPPED + "ALTER TABLE hosts ALTER COLUMN inbox DROP NOT NULL;")
    live = history_end(steps(SWAPPED)).model  # the database still has inbox NOT NULL
    assert settled(end, live, changes_of("ALTER TABLE hosts ADD COLUMN inbox text")) is None


@pytest.mark.parametrize(
    "statement",
    ["INSERT INTO post (id, title) VALUES (1, 'a')", "GRANT SELECT ON post TO PUBLIC", "SELECT 1"],
)
def test_statements_the_model_does_not_follow_are_not_judged(statement: str) -> None:
    end, live = at_end(MADE_AND_DROPPED)
    assert settled(end, live, changes_of(statement)) is None


def test_a_conditional_drop_leaves_the_object_in_doubt_either_way() -> None:
    history = """
    CREATE TABLE item (id integer PRIMARY KEY);
    CREATE FUNCTION item_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM item';
    DO $$ BEGIN
        IF current_setting('server_version_num')::int > 0 THEN DROP FUNCTION item_count(); END IF;
    END $$;
    """
    end, live = at_end(history)
    assert ObjRef("function", "public", "item_count") in end.unknown.maybe_dropped
    create = changes_of(
        "CREATE FUNCTION item_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM item'"
    )
    assert "left in doubt" in (settled(end, live, create) or "")
    apply(live, DropObject(ObjRef("function", "public", "item_count")))
    assert "left in doubt" in (settled(end, live, create) or "")
