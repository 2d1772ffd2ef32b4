"""Where later revisions take an object (``decide/later.py``): a first run is not a re-run.

A revision adds ``shared_inbox`` next to ``inbox``; a later one drops ``inbox`` and renames
``shared_inbox`` to ``inbox``.  On a re-run the ``inbox`` there may be ``shared_inbox`` moved
on; on the revision's first run it is the other column, and ``shared_inbox`` must be added
(lemmy's ``community.inbox_url`` went missing on a fresh upgrade).  The end-to-end case is
``swapped_columns`` in tests/integration/test_realworld_fixtures.py.
"""

from __future__ import annotations

from alembic_guard.changes import DropObject, PutColumn, RenameObject
from alembic_guard.decide.later import fate, moved_on
from alembic_guard.model import Column, ObjRef, SchemaModel, Table

LATER = (
    DropObject(ObjRef.column("public", "hosts", "inbox")),
    RenameObject(ObjRef.column("public", "hosts", "shared_inbox"), "inbox"),
)


def test_a_rename_onto_a_name_dropped_first_is_displaced() -> None:
    f = fate(ObjRef.column("public", "hosts", "shared_inbox"), LATER)
    assert (f.how, f.ref.name, f.displaced) == ("renamed", "inbox", True)
    plain = fate(ObjRef.column("public", "hosts", "shared_inbox"), LATER[1:])
    assert (plain.how, plain.displaced) == ("renamed", False)


def test_first_run_adds_the_column_a_re_run_does_not() -> None:
    m = SchemaModel()
    m.put_table(Table("public", "hosts", (Column("id", "integer"), Column("inbox", "text"))))
    ref = ObjRef.column("public", "hosts", "shared_inbox")
    made = (PutColumn("public", "hosts", Column("shared_inbox", "text")),)
    assert moved_on(m, ref, made, LATER, rerun=False) is None
    assert moved_on(m, ref, made, LATER, rerun=True) is not None
