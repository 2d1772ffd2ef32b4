"""Raw SQL → Alembic revisions (``guard-import``) and legacy databases → stamped history (``guard-adopt``)."""
