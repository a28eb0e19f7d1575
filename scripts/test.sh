#!/usr/bin/env bash
# The test suite: lint, then pytest (unit, graph, browser tests) while watching that no DDS
# packet leaves loopback. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl}
.venv/bin/ruff check restock test bench launch
# A declared system tool that is missing or broken fails here, by name, never as a skip.
scripts/check_system.sh
# pytest exits 5 when it collects nothing: that fails this script too.
exec scripts/dds_watch.sh .venv/bin/python -m pytest -q "$@"
