"""Database URL normalisation and connection-failure messages (no database needed)."""

from __future__ import annotations

import pytest

from alembic_guard import dburl
from alembic_guard.errors import ConnectionFailed, UsageError


@pytest.fixture
def only(monkeypatch):
    """Pretend only the given drivers are importable."""

    def _only(*drivers: str) -> None:
        monkeypatch.setattr(dburl, "driver_installed", lambda d: d in drivers)

    return _only


@pytest.mark.parametrize(
    ("url", "installed", "expected"),
    [
        # a bare URL takes the installed driver, psycopg 3 first
        ("postgresql://u:pw@h:5432/db", ("psycopg", "psycopg2"), "postgresql+psycopg://u:pw@h:5432/db"),
        ("postgresql://u:pw@h:5432/db", ("psycopg2",), "postgresql+psycopg2://u:pw@h:5432/db"),
        ("postgresql://u:pw@h:5432/db", ("psycopg",), "postgresql+psycopg://u:pw@h:5432/db"),
        # the hosting platforms' short form
        ("postgres://u:pw@h/db", ("psycopg", "psycopg2"), "postgresql+psycopg://u:pw@h/db"),
        ("postgres://u:pw@h/db", ("psycopg2",), "postgresql+psycopg2://u:pw@h/db"),
        ("postgres+psycopg2://u@h/db", ("psycopg", "psycopg2"), "postgresql+psycopg2://u@h/db"),
        # an explicit driver is kept
        ("postgresql+psycopg2://u@h/db", ("psycopg", "psycopg2"), "postgresql+psycopg2://u@h/db"),
        ("postgresql+psycopg://u@h/db", ("psycopg", "psycopg2"), "postgresql+psycopg://u@h/db"),
        # query, socket directory and a password with reserved characters survive
        (
            "postgresql://u@/db?host=/var/run/postgresql",
            ("psycopg",),
            "postgresql+psycopg://u@/db?host=%2Fvar%2Frun%2Fpostgresql",  # SQLAlchemy's rendering, same URL
        ),
        ("postgresql://u:p%40ss%2Fw@h/db", ("psycopg2",), "postgresql+psycopg2://u:p%40ss%2Fw@h/db"),
    ],
)
def test_normalize_url(only, url, installed, expected):
    only(*installed)
    assert dburl.normalize_url(url) == expected
    assert dburl.normalize_url(expected) == expected  # idempotent


@pytest.mark.parametrize(
    ("url", "installed", "message", "hint"),
    [
        ("mysql://u:secret@h/db", ("psycopg",), "migrates PostgreSQL only, not 'mysql'", "PostgreSQL"),
        ("sqlite:///x.db", ("psycopg",), "migrates PostgreSQL only, not 'sqlite'", "PostgreSQL"),
        ("postgresql+asyncpg://u:secret@h/db", ("psycopg",), "driver 'asyncpg' is not supported", "psycopg"),
        ("postgresql+pg8000://u@h/db", ("psycopg",), "driver 'pg8000' is not supported", "psycopg"),
        ("postgresql://u:secret@h:port/db", ("psycopg",), "cannot be parsed", "postgresql://user@host"),
        ("not a url", ("psycopg",), "cannot be parsed", "postgresql://user@host"),
        ("postgresql://u:secret@h/db", (), "no PostgreSQL driver is installed", "psycopg[binary]"),
        (
            "postgresql+psycopg://u:secret@h/db",
            ("psycopg2",),
            "driver 'psycopg' is not installed",
            "or use postgresql+psycopg2:// (installed)",
        ),
        ("postgresql+psycopg2://u:secret@h/db", (), "driver 'psycopg2' is not installed", "psycopg2-binary"),
    ],
)
def test_bad_urls_are_usage_errors_naming_the_masked_url(only, url, installed, message, hint):
    only(*installed)
    with pytest.raises(UsageError) as info:
        dburl.normalize_url(url)
    assert info.value.exit_code == 2
    assert message in info.value.message
    assert hint in (info.value.hint or "")
    assert "secret" not in info.value.render()


def test_offline_rendering_needs_no_driver(only):
    only()
    assert dburl.normalize_url("postgres://u@h/db", need_driver=False) == "postgresql://u@h/db"
    with pytest.raises(UsageError, match="PostgreSQL only"):
        dburl.normalize_url("mysql://u@h/db", need_driver=False)


@pytest.mark.parametrize(
    ("driver_message", "hint"),
    [
        (
            'connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed '
            'for user "app"',
            "user name and password",
        ),
        ('connection to server at "h", port 5432 failed: FATAL:  database "app" does not exist', "createdb"),
        ('connection to server at "h", port 5432 failed: FATAL:  role "app" does not exist', "user name"),
        (
            'connection to server at "127.0.0.1", port 1 failed: Connection refused\n\tIs the server running',
            "host and port",
        ),
        ('could not translate host name "nohost" to address: Name or service not known', "host name"),
        ('FATAL:  no pg_hba.conf entry for host "10.0.0.1", user "app"', "pg_hba.conf"),
        ("fe_sendauth: no password supplied", "PGPASSWORD"),
    ],
)
def test_connection_failures_say_what_failed_where_and_what_to_do(driver_message, hint):
    err = dburl.connection_failed("postgresql+psycopg://app:secret@h:5432/app", RuntimeError(driver_message))
    assert isinstance(err, ConnectionFailed) and err.exit_code == 2
    assert err.message.startswith("cannot connect to postgresql+psycopg://app:***@h:5432/app: ")
    assert "\n" not in err.message  # the driver's first line only
    assert hint in (err.hint or "")
    assert "secret" not in err.render()
