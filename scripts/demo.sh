#!/usr/bin/env bash
# Drover doing its job, on an installed and built repository (quickstart.sh runs this after
# bootstrap.sh): a server on the embedded SQLite default in a throwaway DROVER_HOME, a process
# work pool, the examples/quickstart project deployed (one deployment every 10 s, one on demand),
# a worker, a run watched to the end, the scheduler's runs with their logs. Everything started
# here is stopped on exit. Exits 0 only if runs reached COMPLETED. Takes about 30 s.
#
#   DEMO_HOME   where the database and logs go (default: .drover-quickstart/ in the repository)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
export TZ=UTC
home=${DEMO_HOME:-$repo/.drover-quickstart}
rm -rf "$home"
mkdir -p "$home"
export DROVER_HOME=$home
unset DROVER_DATABASE_URL DROVER_SERVICES

drover() { node "$repo/apps/cli" "$@"; }
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }

if [ ! -e examples/quickstart/node_modules/@drover/client ]; then
  echo "examples/quickstart is not installed (its flows import @drover/client and zod): run pnpm install first" >&2
  exit 1
fi

pids=()
stop_all() {
  # The worker first (it lets running jobs finish), then the server; each gets SIGTERM, a graceful stop.
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  pids=()
}
trap stop_all EXIT

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export DROVER_API_URL=http://127.0.0.1:$port

step "Start the server: API and scheduler on SQLite in $home"
node "$repo/apps/cli" server start --port "$port" >"$home/server.log" 2>"$home/server.err" &
pids+=($!)
drover server status --wait --timeout 30s

step "Create a work pool for processes on this machine"
drover work-pool create local --type process

step "Deploy examples/quickstart/drover.yaml (first what would change, then for real)"
(cd examples/quickstart && drover deploy --all --dry-run && drover deploy --all)
drover deployment ls

step "Start a worker for the pool (its output goes to $home/worker.log)"
node "$repo/apps/cli" worker start --pool local >"$home/worker.log" 2>&1 &
pids+=($!)

step "Run hello/on-demand now and watch it to the end"
drover deployment run hello/on-demand --param name=Drover --watch --timeout 2m

step "The scheduler's runs of tick/every-10s, run by the worker"
# The first tick is due within 10 s of the deploy; allow for a slow machine.
deadline=$((SECONDS + 90))
completed=''
while [ -z "$completed" ] && [ "$SECONDS" -lt "$deadline" ]; do
  completed=$(drover flow-run ls --deployment tick/every-10s --state completed --limit 1 --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(r[0]?r[0].id:"")})')
  [ -n "$completed" ] || sleep 1
done
if [ -z "$completed" ]; then
  echo "No run of tick/every-10s completed within 90 s; the worker said:" >&2
  cat "$home/worker.log" >&2
  exit 1
fi
drover flow-run ls --limit 8
step "Logs of a completed tick run"
drover flow-run logs "$completed"

step "Stop the worker and the server"
stop_all
echo "Done: runs went SCHEDULED -> PENDING -> RUNNING -> COMPLETED. Server and worker logs are in $home."
