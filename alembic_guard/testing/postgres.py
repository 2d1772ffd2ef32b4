"""A throwaway PostgreSQL server for tests, demos and benchmarks.

``PostgresServer`` runs ``initdb`` + ``pg_ctl`` in a temporary directory,
hands out fresh databases and removes everything on :meth:`stop`.  PostgreSQL
refuses to run as root, so when the effective uid is 0 the server runs as the
``postgres`` OS user (``runuser -u postgres``) in a directory that user owns.

The test suite, the README demo and users' own tests use it::

    with PostgresServer() as pg:
        url = pg.create_database()
        engine = sqlalchemy.create_engine(url)

Reuse a running server with ``ALEMBIC_GUARD_TEST_URL`` (a superuser URL);
:func:`shared_server` honours it.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from alembic_guard.errors import UsageError
from alembic_guard.quoting import quote_ident

__all__ = ["PostgresServer", "find_bindir", "free_port", "shared_server"]


def find_bindir() -> str:
    """Directory holding ``pg_ctl`` and ``initdb``.

    ``PG_BINDIR`` wins; then ``pg_config --bindir``; then the newest
    ``/usr/lib/postgresql/*/bin``; then ``PATH``.
    """
    env = os.environ.get("PG_BINDIR")
    if env and os.path.exists(os.path.join(env, "initdb")):
        return env
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            d = out.stdout.strip()
            if os.path.exists(os.path.join(d, "initdb")):
                return d
        except (OSError, subprocess.CalledProcessError):
            pass
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2].split(".")[0])
    )
    for d in reversed(candidates):
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    pg_ctl = shutil.which("pg_ctl")
    initdb = shutil.which("initdb")
    if pg_ctl and initdb:
        return os.path.dirname(os.path.realpath(initdb))
    raise UsageError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found",
        hint="install them (Debian: apt-get install -y postgresql) or set PG_BINDIR",
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One PostgreSQL server in a temporary directory, for as long as it is needed."""

    def __init__(
        self,
        port: int | None = None,
        bindir: str | None = None,
        *,
        max_connections: int = 200,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.bindir = bindir
        self.max_connections = max_connections
        self.settings = settings or {}
        self.host = "127.0.0.1"
        self.user = "postgres"
        self._dir: str | None = None
        self._counter = itertools.count(1)
        self._external_url: str | None = None

    # -- lifecycle -------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._dir is not None or self._external_url is not None

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def start(self) -> PostgresServer:
        """initdb + start; ~1 s.  Raises :class:`UsageError` when it cannot."""
        if self.running:
            return self
        bindir = self.bindir or find_bindir()
        self.bindir = bindir
        root = tempfile.mkdtemp(prefix="alembic_guard_pg_")
        data = os.path.join(root, "data")
        sock = os.path.join(root, "sock")
        os.makedirs(sock)
        if os.geteuid() == 0:
            try:
                shutil.chown(root, "postgres", "postgres")
                shutil.chown(sock, "postgres", "postgres")
            except (LookupError, PermissionError) as exc:
                shutil.rmtree(root, ignore_errors=True)
                raise UsageError(
                    "running as root, but there is no 'postgres' OS user to run the server as",
                    hint="install the server package (apt-get install -y postgresql) which creates it",
                ) from exc
        else:
            self.user = os.environ.get("USER") or "postgres"
        self._dir = root
        try:
            self._run(
                [
                    os.path.join(bindir, "initdb"),
                    "-D",
                    data,
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                cwd=root,
            )
            self.user = "postgres"
            options = {
                "port": str(self.port),
                "listen_addresses": "127.0.0.1",
                "unix_socket_directories": f"'{sock}'",
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "max_connections": str(self.max_connections),
                "shared_buffers": "128MB",
                "log_min_messages": "fatal",
                **self.settings,
            }
            opts = " ".join(f"-c {k}={v}" for k, v in options.items())
            self._run(
                [
                    os.path.join(bindir, "pg_ctl"),
                    "-D",
                    data,
                    "-o",
                    opts,
                    "-l",
                    os.path.join(root, "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                cwd=root,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _run(self, argv: list[str], cwd: str) -> None:
        proc = subprocess.run(self._as_owner(argv), cwd=cwd, capture_output=True, text=True)
        if proc.returncode != 0:
            log = ""
            if self._dir:
                with contextlib.suppress(OSError):
                    log = Path(self._dir, "server.log").read_text()[-2000:]
            raise UsageError(
                f"could not start the throwaway PostgreSQL server: {Path(argv[0]).name} exited "
                f"{proc.returncode}",
                details=(proc.stderr or proc.stdout or "").strip() + ("\n" + log if log else ""),
            )

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        root, self._dir = self._dir, None
        if root is None:
            return
        data = os.path.join(root, "data")
        if os.path.exists(os.path.join(data, "postmaster.pid")) and self.bindir:
            subprocess.run(
                self._as_owner([os.path.join(self.bindir, "pg_ctl"), "-D", data, "-m", "immediate", "stop"]),
                cwd=root,
                capture_output=True,
            )
        shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------------

    def url(self, dbname: str = "postgres", driver: str | None = None) -> str:
        """SQLAlchemy URL of a database on this server (superuser, no password).

        ``driver``: ``psycopg`` (3) or ``psycopg2``; by default
        ``$ALEMBIC_GUARD_TEST_DRIVER``, else the one a bare ``postgresql://`` URL
        would use (:func:`alembic_guard.dburl.installed_driver`), so the whole
        suite can be run under either driver.
        """
        from alembic_guard.dburl import installed_driver

        driver = driver or os.environ.get("ALEMBIC_GUARD_TEST_DRIVER") or installed_driver() or "psycopg"
        if self._external_url is not None:
            from sqlalchemy.engine import make_url

            u = make_url(self._external_url).set(database=dbname, drivername=f"postgresql+{driver}")
            return u.render_as_string(hide_password=False)
        return f"postgresql+{driver}://{self.user}@{self.host}:{self.port}/{dbname}"

    def _admin_sql(self, sql: str, *, retry_in_use: bool = False) -> None:
        """Run one statement on the ``postgres`` database in autocommit (CREATE / DROP DATABASE)."""
        from alembic_guard.dburl import create_engine

        engine = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                # template databases can be "in use" for a moment after a test
                for attempt in range(50):
                    try:
                        conn.exec_driver_sql(sql)
                        return
                    except Exception as exc:  # ObjectInUse (55006), under either driver
                        if not retry_in_use or "being accessed" not in str(exc) or attempt == 49:
                            raise
                        time.sleep(0.1)
        finally:
            engine.dispose()

    def create_database(self, name: str | None = None, template: str = "template1") -> str:
        """Create an empty database and return its SQLAlchemy URL (see :meth:`url` for the driver)."""
        name = name or f"t_{os.getpid()}_{next(self._counter)}_{uuid.uuid4().hex[:6]}"
        self._admin_sql(
            f"CREATE DATABASE {quote_ident(name)} TEMPLATE {quote_ident(template)}", retry_in_use=True
        )
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._admin_sql(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh database for the duration of the ``with`` block."""
        url = self.create_database()
        try:
            yield url
        finally:
            from sqlalchemy.engine import make_url

            name = make_url(url).database
            assert name is not None
            with contextlib.suppress(Exception):
                self.drop_database(name)

    @classmethod
    def external(cls, url: str) -> PostgresServer:
        """Wrap an already running server (given by a superuser URL)."""
        from sqlalchemy.engine import make_url

        u = make_url(url)
        srv = cls(port=u.port or 5432)
        srv.host = u.host or "127.0.0.1"
        srv.user = u.username or "postgres"
        srv._external_url = url
        return srv


_shared: PostgresServer | None = None


def shared_server() -> PostgresServer:
    """One server per process (``ALEMBIC_GUARD_TEST_URL`` when set); stopped at exit."""
    global _shared
    if _shared is None:
        url = os.environ.get("ALEMBIC_GUARD_TEST_URL")
        if url:
            _shared = PostgresServer.external(url)
        else:
            import atexit

            _shared = PostgresServer().start()
            atexit.register(_shared.stop)
    return _shared
