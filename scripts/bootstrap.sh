#!/usr/bin/env bash
# Installs everything Drover needs on a machine with only Node 20 and npm, then builds.
# Sourced by quickstart.sh and test.sh; safe to run again (a warm install takes about a second).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export npm_config_nodedir=/usr                      # better-sqlite3 builds against the local Node headers, never downloads them
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1    # turbo would otherwise look up its telemetry host on every run
export TZ=UTC

if [ "$(pnpm --version 2>/dev/null)" != "12.4.2" ]; then
  echo "Installing pnpm 12.4.2 (the version this repository pins)..."
  npm install --global --save-exact --loglevel=error pnpm@12.4.2
fi
pnpm install --frozen-lockfile --reporter=append-only
pnpm run build
