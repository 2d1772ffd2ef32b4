#!/usr/bin/env bash
# Sourced by scripts/test.sh and scripts/demo.sh: everything a fresh machine
# of this image needs, installed idempotently.  Works as root (CI) or as a
# user with sudo-less access to an existing PostgreSQL installation.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

have_pg_server() {
    [ -n "${PG_BINDIR:-}" ] && [ -x "${PG_BINDIR}/initdb" ] && return 0
    command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && return 0
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return 0
    command -v initdb >/dev/null 2>&1 && return 0
    return 1
}

# apt_install PACKAGE WHAT: install a Debian package as root, else say what is missing (exit 2).
apt_install() {
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing $2 (apt-get install $1)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq "$1" >/dev/null
    else
        echo "setup: $2 not found; install it (Debian: apt-get install $1)" >&2
        exit 2
    fi
}

# The PostgreSQL server (or PG_BINDIR), for the throwaway test servers.
have_pg_server || apt_install postgresql "the PostgreSQL server (initdb, pg_ctl; or set PG_BINDIR)"
# PgBouncer: the pooling tests run a real one (Debian package; not started as a service).
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || apt_install pgbouncer "PgBouncer"

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=".venv/.alembic_guard-installed"
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    # The distribution was called alembic_guard before it became alembic-pg-guard: two
    # installed copies register the Alembic plugin twice, and Alembic then refuses to import.
    if .venv/bin/python -m pip show -q alembic_guard >/dev/null 2>&1; then
        .venv/bin/python -m pip uninstall -q -y alembic_guard >/dev/null 2>&1 || true
    fi
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,dev]" 2>&1 \
        | grep -v -e "^WARNING: Location" -e "^$" >&2 || true
    .venv/bin/python -c "import alembic_guard, alembic, pglast, sqlalchemy, psycopg2, pytest, hypothesis" \
        || { echo "setup: installing Python dependencies failed" >&2; exit 2; }
    touch "$stamp"
fi
# Byte-compile the package as a regular (non-editable) install does.  This image
# sets PYTHONDONTWRITEBYTECODE, so an editable install never gets .pyc files and
# every `alembic` process would compile alembic_guard afresh (~60 ms of CPU each,
# paid by each of N replicas starting together).  Up-to-date files are skipped.
.venv/bin/python -m compileall -q -j 0 -x '/templates/' alembic_guard >/dev/null
