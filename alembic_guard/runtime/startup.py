"""``upgrade_on_startup``: the guarded ``alembic upgrade head`` as one call in application code."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alembic_guard.errors import GuardError, UsageError
from alembic_guard.runtime.config import load_settings
from alembic_guard.runtime.runner import RESULT_ATTR, SETTINGS_ATTR, STARTUP_ATTR, URL_ATTR, RunResult

log = logging.getLogger("alembic_guard")


def upgrade_on_startup(
    config: str | os.PathLike[str] | Any = "alembic.ini",
    *,
    url: str | None = None,
    profile: str | None = "prod",
    target: str = "head",
    **settings: Any,
) -> RunResult:
    """Upgrade the database to ``target`` with lock, ledger, pre-flight and guards; return the result.

    ``config``: the path of ``alembic.ini`` (default ``./alembic.ini``) or an
    ``alembic.config.Config``.  ``url``: the database URL; without it
    ``DATABASE_URL``, then ``sqlalchemy.url``.  ``profile`` defaults to
    ``prod`` (lenient, short ``lock_timeout``, retries); other keywords
    override settings (``lock_wait="2min"``, ``policy="strict"``, ...).  Safe
    to call from every replica at once: one migrates, the others wait for the
    lock and find the work done.  Blocks until then; raises a
    :class:`GuardError` on failure (a bad argument, URL or setting is a
    :class:`UsageError`).
    """
    from alembic.config import Config

    from alembic import command

    if isinstance(config, Config):
        cfg = config
    else:
        if not isinstance(config, (str, os.PathLike)):
            raise UsageError(
                f"upgrade_on_startup: the first argument must be an alembic.ini path or an Alembic Config, "
                f"not {type(config).__name__}",
                hint='call upgrade_on_startup("alembic.ini", url=...)',
            )
        if "://" in os.fspath(config):
            raise UsageError(
                "upgrade_on_startup: the first argument is the alembic.ini path, not a database URL",
                hint='pass the URL by name: upgrade_on_startup("alembic.ini", url=DATABASE_URL)',
            )
        path = Path(config)
        if not path.is_file():
            raise UsageError(
                f"{path}: no such Alembic configuration file",
                hint="pass the path of alembic.ini or an alembic.config.Config (guard-init creates one)",
            )
        cfg = Config(str(path))
    if url is not None:
        cfg.attributes[URL_ATTR] = str(url)
    cfg.attributes[SETTINGS_ATTR] = load_settings(
        ini_path=cfg.config_file_name, profile=profile, overrides=settings
    )
    # env.py leaves the application's logging configuration alone when this is set.
    cfg.attributes[STARTUP_ATTR] = True
    from alembic_guard.cli import explain_failure
    from alembic_guard.revision_files import graph_warnings_as_errors

    try:
        with graph_warnings_as_errors():
            command.upgrade(cfg, target)
    except GuardError:
        raise
    except Exception as exc:  # a broken revision file or alembic.ini: one UsageError naming it
        problem = explain_failure(exc, cfg)
        if problem is None:
            raise
        raise problem from exc
    result = cfg.attributes.get(RESULT_ATTR)
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
