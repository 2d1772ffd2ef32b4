"""Decide, then execute: what each guarded operation would do, as data.

One module per family of operations (``columns``, ``tables``, ``indexes``,
``constraints``); each ``decide_*(model, spec)`` reads the schema model and
returns a :class:`~alembic_guard.decide.types.Decision`.  The adapters in
:mod:`alembic_guard.ops` turn Alembic's operation objects into specs and
execute decisions; pre-flight and dry runs read them without executing.

Pure: no connection, no filesystem, no Alembic or SQLAlchemy.
"""

from alembic_guard.decide.types import DataCheck, Decision, Step, Tx, Verdict

__all__ = ["DataCheck", "Decision", "Step", "Tx", "Verdict"]
