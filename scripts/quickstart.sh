#!/usr/bin/env bash
# The first run on a fresh clone with only Node 20 and npm: installs pnpm and every dependency,
# builds, then shows Drover doing its job (scripts/demo.sh) on the embedded SQLite default in a
# throwaway DROVER_HOME (.drover-quickstart/). Exits 0 only if runs reached COMPLETED.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
exec bash scripts/demo.sh
