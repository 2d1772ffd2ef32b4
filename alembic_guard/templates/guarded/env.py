"""Alembic environment guarded by alembic_guard.

One call does everything: offline (``--sql``) rendering, or online the
migration lock, the ledger (``alembic_guard_log``), pre-flight checks, guarded
operations, one transaction per revision and retries on lock timeouts.
The database URL is ``DATABASE_URL`` when set, else ``sqlalchemy.url``.
Settings and profiles: ``[alembic_guard]`` in alembic.ini, ``[tool.alembic_guard]``
in pyproject.toml, ``ALEMBIC_GUARD_*`` environment variables.
"""

from logging.config import fileConfig

from alembic import context
from alembic_guard.runtime import run_migrations

config = context.config

# Leave the application's logging alone when it calls upgrade_on_startup().
if config.config_file_name is not None and not config.attributes.get("alembic_guard.startup"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Your models' MetaData, for autogenerate (e.g. ``from myapp.models import Base``).
target_metadata = None

run_migrations(context, target_metadata=target_metadata)
