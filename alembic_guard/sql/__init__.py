"""Analysis of raw SQL with PostgreSQL's own grammar (pglast).  Pure: no I/O but reading text."""
