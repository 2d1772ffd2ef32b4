"""A real PgBouncer in front of a throwaway :class:`~alembic_guard.testing.postgres.PostgresServer`."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from alembic_guard.errors import UsageError
from alembic_guard.testing.postgres import PostgresServer, free_port

__all__ = ["PgBouncer"]


class PgBouncer:
    """A real PgBouncer in front of a :class:`PostgresServer`, for tests of pooled deployments.

    ``pool_mode`` is PgBouncer's (``transaction`` by default: the mode that
    breaks session state); ``pool_size`` server connections per database and
    user.  Runs as the ``postgres`` OS user under root, like the server.  The
    Debian package ``pgbouncer`` provides the binary (scripts/setup.sh
    installs it).
    """

    def __init__(
        self,
        server: PostgresServer,
        *,
        pool_mode: str = "transaction",
        pool_size: int = 4,
        users: Sequence[str] = (),
    ) -> None:
        self.server = server
        # PgBouncer admits only the roles in its auth_file, even with auth_type = trust
        self.users = ("postgres", *users)
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.port = free_port()
        self._dir: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PgBouncer:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not os.path.exists(binary):
            raise UsageError(
                "pgbouncer not found", hint="apt-get install -y pgbouncer (scripts/setup.sh does)"
            )
        root = tempfile.mkdtemp(prefix="alembic_guard_pgbouncer_")
        Path(root, "userlist.txt").write_text("".join(f'"{u}" ""\n' for u in self.users))
        Path(root, "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={self.server.host} port={self.server.port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {root}/userlist.txt\n"
            f"pool_mode = {self.pool_mode}\ndefault_pool_size = {self.pool_size}\n"
            "max_client_conn = 200\nserver_reset_query =\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {root}/pgbouncer.log\nadmin_users = postgres\n"
        )
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
            for name in ("userlist.txt", "pgbouncer.ini"):
                shutil.chown(os.path.join(root, name), "postgres", "postgres")
        self._dir = root
        argv = [binary, os.path.join(root, "pgbouncer.ini")]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # ready when it accepts connections (it binds before it serves)
        for _ in range(200):
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        log = Path(root, "pgbouncer.log").read_text() if Path(root, "pgbouncer.log").exists() else ""
        self.stop()
        raise UsageError("pgbouncer did not start", details=log[-2000:])

    def url(self, dbname: str, driver: str = "psycopg2", user: str = "postgres") -> str:
        """The SQLAlchemy URL of ``dbname`` through the pooler, as ``user`` (one of ``users``)."""
        return f"postgresql+{driver}://{user}@127.0.0.1:{self.port}/{dbname}"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        root, self._dir = self._dir, None
        if root:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
