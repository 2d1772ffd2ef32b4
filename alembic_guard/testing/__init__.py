"""Test helpers: real servers and real projects for tests, benchmarks, the demo and users' own tests.

- :class:`PostgresServer` (:mod:`.postgres`): a throwaway PostgreSQL server
  (``initdb`` + ``pg_ctl`` in a temporary directory), handing out fresh
  databases; :func:`shared_server` gives one per process
  (``ALEMBIC_GUARD_TEST_URL`` reuses a running one);
- :class:`PgBouncer` (:mod:`.pgbouncer`): a real PgBouncer in front of it;
- :class:`GuardedProject` (:mod:`.project`): a ``guard-init`` project in a
  directory, driven through the real ``alembic`` executable;
- :func:`schema_fingerprint` / :func:`row_checksums` (:mod:`.fingerprint`):
  read-only descriptions of a database's schema and rows, to compare before
  and after a run, or two databases.

Nothing in the runtime imports this package (``tests/unit/test_quality.py``
checks); the guarded ops outside ``env.py`` that repair also uses are
:mod:`alembic_guard.ops.standalone`.
"""

from __future__ import annotations

from alembic_guard.testing.fingerprint import row_checksums, schema_fingerprint
from alembic_guard.testing.pgbouncer import PgBouncer
from alembic_guard.testing.postgres import PostgresServer, find_bindir, shared_server
from alembic_guard.testing.project import GuardedProject, alembic_executable

__all__ = [
    "GuardedProject",
    "PgBouncer",
    "PostgresServer",
    "alembic_executable",
    "find_bindir",
    "row_checksums",
    "schema_fingerprint",
    "shared_server",
]
