#!/usr/bin/env bash
# The whole test suite from a fresh clone: install, build, lint, typecheck, every test.
# Ends with one line `N passed, N failed, N skipped`, which CI reads.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh

# A failed check still ends with the counts line, so CI reports what failed rather than nothing.
if ! pnpm run lint || ! pnpm run typecheck; then
  echo "lint or typecheck failed: no tests were run" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# The docker pool's tests need a Docker engine and a base image: docker.sh installs, starts and
# builds what is missing, or fails; the dockerd it started (none when one was running) stops at exit.
if ! source scripts/docker.sh; then
  echo "0 passed, 1 failed"
  exit 1
fi
trap drover_docker_stop EXIT

# The PostgreSQL tests use the machine's PostgreSQL: postgres.sh starts (or installs) it, or fails.
if ! source scripts/postgres.sh; then
  echo "0 passed, 1 failed"
  exit 1
fi

# The web UI's tests drive Debian's Chromium: chromium.sh installs it when missing, or fails.
if ! source scripts/chromium.sh; then
  echo "0 passed, 1 failed"
  exit 1
fi

report=$(mktemp -t drover-vitest-XXXXXX.json)
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=$?
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  const failed = r.numFailedTests + (r.numTotalTests === 0 ? 1 : 0);
  console.log(`${r.numPassedTests} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report"
rm -f "$report"
exit "$status"
