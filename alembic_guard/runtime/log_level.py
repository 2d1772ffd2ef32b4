"""alembic_guard's log lines in projects whose ``alembic.ini`` does not name our logger.

``alembic guard-init`` writes an ``alembic.ini`` with a ``[logger_alembic_guard]``
section.  A project converted by hand keeps Alembic's stock one: its root logger
is at ``WARNING``, so our ``INFO`` lines (applied / skipped / waiting for the
lock) were dropped, and the stock ``env.py``'s ``fileConfig()`` (with
``disable_existing_loggers=True``) even disables the ``alembic_guard`` logger,
which exists by then.  Such a user sees Alembic's lines and none of ours.
"""

from __future__ import annotations

import logging

LOGGER = "alembic_guard"


def follow_alembic_logger() -> None:
    """Give the ``alembic_guard`` logger Alembic's level when the configuration left it unset.

    A logger the configuration named (a level set on it, or handlers of its
    own) is left exactly as configured.  Otherwise it is enabled again and
    logs at the level of the ``alembic`` logger, through the same (root)
    handlers.  Call it from a command-line run only: an application calling
    ``upgrade_on_startup`` owns its logging.
    """
    ours = logging.getLogger(LOGGER)
    if ours.level != logging.NOTSET or ours.handlers:
        return
    ours.disabled = False
    ours.propagate = True
    alembic_level = logging.getLogger("alembic").getEffectiveLevel()
    if alembic_level < ours.getEffectiveLevel():
        ours.setLevel(alembic_level)
