"""The example application (taskboard): its SQLAlchemy models.

Importable as ``app`` with ``alembic/`` on ``sys.path`` (``env.py`` puts it
there); ``app.models.metadata`` is the ``MetaData`` autogenerate compares with
the database at head.
"""
