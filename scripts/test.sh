#!/usr/bin/env bash
# The test command: installs what it needs, starts its own PostgreSQL, runs
# the whole suite (unit, property, integration, lint and type checks).
#
#   bash scripts/test.sh [pytest args]              # on this machine's PostgreSQL (Debian: 15)
#   bash scripts/test.sh --pg 18 -m pgmatrix        # the version subset on PostgreSQL 18 (14-18)
set -euo pipefail
pg_major=""
if [ "${1:-}" = "--pg" ]; then
    pg_major="${2:?usage: scripts/test.sh --pg MAJOR [pytest args]}"
    shift 2
fi
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
if [ -n "$pg_major" ]; then
    PG_BINDIR="$(bash scripts/pgbin.sh "$pg_major")"
    export PG_BINDIR
fi
exec .venv/bin/python -m pytest "$@"
