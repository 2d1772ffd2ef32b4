#!/usr/bin/env bash
# The demo: the seed's taskboard migrations on a throwaway PostgreSQL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec .venv/bin/python -m alembic_guard.demo "$@"
