#!/usr/bin/env bash
# Debian's Chromium for the web UI's browser tests (packages/cli/src/ui.test.ts, bench/ui.ts).
# Sourced by test.sh (`source` returns 1 when it fails); also runs on its own
# (`bash scripts/chromium.sh`). Installs the package when /usr/bin/chromium is missing, with
# apt-get update first, and fails, saying why, when it cannot: those tests never skip.
# Never a browser download of a test tool's own (`npx playwright install` cannot reach its host here).

drover_chromium() {
  if [ -x /usr/bin/chromium ]; then return 0; fi
  echo "Installing chromium (no /usr/bin/chromium on this machine)..."
  if ! { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; then
    echo "scripts/chromium.sh: could not install Debian's chromium with apt-get (run as root, with Debian's package mirror reachable)" >&2
    return 1
  fi
  if ! /usr/bin/chromium --version >/dev/null 2>&1; then
    echo "scripts/chromium.sh: /usr/bin/chromium is installed but does not run: $(/usr/bin/chromium --version 2>&1 | head -1)" >&2
    return 1
  fi
}

drover_chromium
