"""The example application's Alembic environment, guarded by alembic_guard.

The same one call ``alembic guard-init`` writes: offline (``--sql``) rendering,
or online the migration lock, the ledger (``alembic_guard_log``), pre-flight
checks, guarded operations, one transaction per revision and retries on lock
timeouts.  The database URL is ``DATABASE_URL`` when set, else
``sqlalchemy.url``.  Settings: ``[tool.alembic_guard]`` in pyproject.toml
(profile ``dev``), ``[alembic_guard]`` in alembic.ini, ``ALEMBIC_GUARD_*``
environment variables.
"""

import os
import sys
from logging.config import fileConfig

from alembic import context
from alembic_guard.runtime import run_migrations

config = context.config

# Leave the application's logging alone when it calls upgrade_on_startup().
if config.config_file_name is not None and not config.attributes.get("alembic_guard.startup"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# The example app lives beside this file (alembic/app/); the repository's own
# ``alembic`` directory cannot be imported as a package (it would shadow Alembic).
_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.insert(0, _here)

from app.models import metadata as target_metadata  # noqa: E402

# run_migrations also turns on alembic_guard's autogenerate comparators and hides
# its ledger table (alembic_guard_log) from autogenerate and `alembic check`.
run_migrations(context, target_metadata=target_metadata)
