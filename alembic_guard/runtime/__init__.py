"""Running migrations: advisory lock, ledger, pre-flight, policies.

``run_migrations(context)`` is what a guarded ``env.py`` calls;
``upgrade_on_startup(...)`` is the same run for application code.
"""

from __future__ import annotations

from alembic_guard.runtime.runner import MigrationFailed, RevisionOutcome, RunResult, run_migrations
from alembic_guard.runtime.startup import upgrade_on_startup

__all__ = ["MigrationFailed", "RevisionOutcome", "RunResult", "run_migrations", "upgrade_on_startup"]
