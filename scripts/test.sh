#!/usr/bin/env bash
# The test command: installs what it needs, starts its own PostgreSQL, runs
# the whole suite (unit, property, integration, lint and type checks).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec .venv/bin/python -m pytest "$@"
