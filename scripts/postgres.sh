#!/usr/bin/env bash
# The machine's PostgreSQL for the PostgreSQL tests (packages/server/src/postgres.test.ts) and
# benchmarks (bench/pgDriver.ts), at DROVER_TEST_PG_URL (default
# postgres://postgres@127.0.0.1:5432/postgres). Sourced by test.sh (`source` returns 1 when it
# fails); also runs on its own (`bash scripts/postgres.sh`). Starts the Debian cluster with
# pg_ctlcluster when nothing answers, installs Debian's postgresql first when it is missing, and
# fails, saying why, when it cannot: those tests never skip.

# The test files run in parallel, each starting servers that hold a pool of connections (and the
# benchmarks start several replicas): Debian's default of 100 connections runs out.
DROVER_PG_MIN_CONNECTIONS=300

drover_postgres() {
  local url="${DROVER_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  if ! drover_postgres_start "$url"; then return 1; fi
  local max
  max=$(psql -d "$url" -Atc 'SHOW max_connections' 2>/dev/null || echo 0)
  if [ "${max:-0}" -ge "$DROVER_PG_MIN_CONNECTIONS" ]; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "scripts/postgres.sh: PostgreSQL at $url allows $max connections, the tests need $DROVER_PG_MIN_CONNECTIONS: raise max_connections and restart it" >&2
    return 1
  fi
  echo "Raising PostgreSQL's max_connections from $max to $DROVER_PG_MIN_CONNECTIONS (a restart)..."
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  psql -d "$url" -qc "ALTER SYSTEM SET max_connections = $DROVER_PG_MIN_CONNECTIONS" &&
    pg_ctlcluster --skip-systemctl-redirect "$version" main restart >/dev/null 2>&1 &&
    drover_postgres_start "$url"
}

drover_postgres_start() {
  local url="$1"
  if pg_isready -q -d "$url" 2>/dev/null; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    echo "Installing postgresql (no PostgreSQL cluster on this machine)..."
    if ! { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }; then
      echo "scripts/postgres.sh: could not install Debian's postgresql with apt-get (run as root, with Debian's package mirror reachable)" >&2
      return 1
    fi
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  echo "Starting PostgreSQL $version (nothing answered at $url)..."
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do
    if pg_isready -q -d "$url" 2>/dev/null; then return 0; fi
    sleep 1
  done
  echo "scripts/postgres.sh: PostgreSQL does not answer at $url after starting cluster $version main (see /var/log/postgresql/)" >&2
  return 1
}

drover_postgres
