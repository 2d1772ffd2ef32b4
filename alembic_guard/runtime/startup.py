"""``upgrade_on_startup``: the guarded ``alembic upgrade head`` as one call in application code."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alembic_guard.errors import UsageError
from alembic_guard.runtime.config import load_settings
from alembic_guard.runtime.runner import RESULT_ATTR, SETTINGS_ATTR, URL_ATTR, RunResult

log = logging.getLogger("alembic_guard")

STARTUP_ATTR = "alembic_guard.startup"


def upgrade_on_startup(
    url_or_config: Any = None,
    *,
    profile: str | None = "prod",
    target: str = "head",
    ini_path: str | os.PathLike[str] | None = None,
    **settings: Any,
) -> RunResult:
    """Upgrade the database to ``target`` with lock, ledger, pre-flight and guards; return the result.

    ``url_or_config``: a database URL (it wins over ``DATABASE_URL`` and
    ``sqlalchemy.url``), an ``alembic.config.Config``, or ``None`` to use
    ``alembic.ini`` (``ini_path``, default ``./alembic.ini``) and
    ``DATABASE_URL``.  ``profile`` defaults to ``prod`` (lenient, short
    ``lock_timeout``, retries); other keywords override settings
    (``lock_wait="2min"``, ``policy="strict"``, ...).  Safe to call from every
    replica at once: one migrates, the others wait for the lock and find the
    work done.  Blocks until then; raises a :class:`GuardError` on failure.
    """
    from alembic.config import Config

    from alembic import command

    if isinstance(url_or_config, Config):
        config = url_or_config
    else:
        path = Path(ini_path or "alembic.ini")
        if not path.is_file():
            raise UsageError(
                f"{path}: no such Alembic configuration file",
                hint="pass ini_path= or an alembic.config.Config (guard-init creates one)",
            )
        config = Config(str(path))
        if url_or_config is not None:
            config.attributes[URL_ATTR] = str(url_or_config)
    config.attributes[SETTINGS_ATTR] = load_settings(
        ini_path=config.config_file_name, profile=profile, overrides=settings
    )
    # env.py leaves the application's logging configuration alone when this is set.
    config.attributes[STARTUP_ATTR] = True
    command.upgrade(config, target)
    result = config.attributes.get(RESULT_ATTR)
    if not isinstance(result, RunResult):
        raise UsageError(
            "env.py does not run alembic_guard: no guarded run took place",
            hint="call alembic_guard.runtime.run_migrations(context, ...) in env.py (see alembic guard-init)",
        )
    log.info(
        "database at %s: %d revision(s) applied in %.2fs (lock wait %.2fs, %d retr%s, %d debt(s))",
        ",".join(result.heads_after) or "base",
        len(result.applied),
        result.duration_s,
        result.lock_wait_s,
        result.retries,
        "y" if result.retries == 1 else "ies",
        len(result.debts),
    )
    return result
