"""alembic_guard: safe, idempotent, explainable Alembic migrations for PostgreSQL."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["GuardError", "__version__", "upgrade_on_startup"]


def __getattr__(name: str) -> object:
    # Lazy: ``import alembic_guard`` runs inside Alembic's plugin loading and
    # must stay cheap; the runtime pulls in SQLAlchemy engines and Alembic.
    if name == "upgrade_on_startup":
        from alembic_guard.runtime.startup import upgrade_on_startup

        return upgrade_on_startup
    if name == "GuardError":  # what upgrade_on_startup raises (UsageError, ConnectionFailed...)
        from alembic_guard.errors import GuardError

        return GuardError
    raise AttributeError(f"module 'alembic_guard' has no attribute {name!r}")
