"""Guarded, idempotent Alembic operations."""
