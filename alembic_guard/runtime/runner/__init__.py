"""The guarded run: lock → ledger → per revision (pre-flight → ops → commit) → release.

``run_migrations(context)`` is the one call a guarded ``env.py`` makes.  In
offline (``--sql``) mode it renders SQL as Alembic would.  Online it:

1. opens an AUTOCOMMIT "admin" connection and takes the advisory lock on it
   (polling, see :mod:`.lock`), then ensures the ledger and marks records of
   dead runs ``abandoned``;
2. opens the migration connection (``lock_timeout`` / ``statement_timeout``
   set for the session) and lets Alembic run with
   ``transaction_per_migration=True``; the current revision is read *after*
   the lock is granted, so a replica that waited finds the work done;
3. wraps every revision step: a ``running`` ledger record, pre-flight, the
   revision's ``upgrade()``, then ``succeeded`` once Alembic has committed it
   — or ``failed`` with SQLSTATE, message, statement and its position;
4. re-runs a revision that failed on ``lock_not_available`` (55P03) with
   backoff, at most ``retries`` times, and once, at once, a revision whose
   carried model PostgreSQL contradicted (:data:`CATALOG_CONFLICTS`).

The tables the pending revisions touch are read once, before the first
(``_preload``), and carried from revision to revision while only guarded
operations change them; after SQL the guards could not follow they are read
again (``GuardContext.forget``).

Statements run inside ``autocommit_block()`` commit on their own; each one is
recorded in the ledger as it completes, and a later attempt of the same
revision file skips those already done.

The parts, one responsibility each:

- :mod:`.entry`: ``run_migrations``, the ``env.py`` entry (offline rendering, settings, engine);
- :mod:`.run`: the run — lock, ledger, attempts on a migration connection, rollback verification;
- :mod:`.revisions`: each revision — pre-flight, ledger record, outcome;
- :mod:`.resume`: statement tracking and the steps an earlier attempt left done;
- :mod:`.retry`: which failures are tried again, and when;
- :mod:`.session`: the run's connections and the version table;
- :mod:`.results`: what the run returns and raises.
"""

from __future__ import annotations

from alembic_guard.runtime.runner.entry import (
    AUTOGENERATE_PLUGINS,
    RESULT_ATTR,
    SETTINGS_ATTR,
    STARTUP_ATTR,
    autogenerate_defaults,
    run_migrations,
)
from alembic_guard.runtime.runner.results import MigrationFailed, RevisionOutcome, RunResult, sqlstate_of
from alembic_guard.runtime.runner.session import URL_ATTR, resolve_url

__all__ = [
    "AUTOGENERATE_PLUGINS",
    "RESULT_ATTR",
    "SETTINGS_ATTR",
    "STARTUP_ATTR",
    "URL_ATTR",
    "MigrationFailed",
    "RevisionOutcome",
    "RunResult",
    "autogenerate_defaults",
    "resolve_url",
    "run_migrations",
    "sqlstate_of",
]
