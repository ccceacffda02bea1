#!/usr/bin/env bash
# A Docker engine and the base image for the docker pool's tests (packages/worker/src/dockerEngine.test.ts).
# Sourced by test.sh (`source` returns 1 when it fails), which stops at exit the dockerd this
# started, and only that one (drover_docker_stop); also runs on its own (`bash scripts/docker.sh`),
# leaving the engine running. Fails, saying why, when it cannot give the tests an engine and base
# image: those tests never skip.
#
# - Installs Debian's docker.io when there is no dockerd (apt-get update first).
# - Starts dockerd when `docker info` does not answer, with no bridge: containers then use
#   `--network host` (to reach a server on 127.0.0.1) or `--network none`, and no traffic ever
#   leaves loopback. Never the default bridge on these machines.
# - Builds drover-node-base:20 once (reused afterwards): no registry is reachable, so the base
#   is this machine's node binary, the libraries ldd lists, the loader and /bin/sh, imported
#   with `docker import`. Images built on it use the legacy builder (DOCKER_BUILDKIT=0).

DROVER_DOCKER_BASE_IMAGE=drover-node-base:20
DROVER_DOCKERD_PID=${DROVER_DOCKERD_PID:-} # kept when sourced again: still the one to stop
DROVER_DOCKERD_LOG=${DROVER_DOCKERD_LOG:-/tmp/drover-dockerd.log}

drover_docker_fail() {
  echo "scripts/docker.sh: $1" >&2
  return 1
}

# Stops the dockerd this script started, and only that one.
drover_docker_stop() {
  [ -n "$DROVER_DOCKERD_PID" ] || return 0
  kill -TERM "$DROVER_DOCKERD_PID" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$DROVER_DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$DROVER_DOCKERD_PID" 2>/dev/null; then kill -KILL "$DROVER_DOCKERD_PID" 2>/dev/null || true; fi
  DROVER_DOCKERD_PID=""
}

drover_docker_install() {
  command -v dockerd >/dev/null 2>&1 && return 0
  echo "Installing docker.io (no dockerd on this machine)..."
  apt-get update -q >/dev/null || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null || return 1
  command -v dockerd >/dev/null 2>&1
}

drover_docker_start() {
  docker info >/dev/null 2>&1 && return 0
  echo "Starting dockerd with no bridge (log: $DROVER_DOCKERD_LOG)..."
  dockerd --bridge=none --iptables=false --ip-masq=false >"$DROVER_DOCKERD_LOG" 2>&1 &
  DROVER_DOCKERD_PID=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$DROVER_DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  tail -n 5 "$DROVER_DOCKERD_LOG" >&2
  drover_docker_stop
  return 1
}

drover_docker_base_image() {
  docker image inspect "$DROVER_DOCKER_BASE_IMAGE" >/dev/null 2>&1 && return 0
  echo "Building $DROVER_DOCKER_BASE_IMAGE from this machine's node..."
  local node folder file
  node=$(readlink -f "$(command -v node)") || return 1
  folder=$(mktemp -d -t drover-node-base-XXXXXX)
  mkdir -p "$folder/usr/local/bin" "$folder/bin" "$folder/tmp"
  chmod 1777 "$folder/tmp"
  cp "$node" "$folder/usr/local/bin/node"
  # A shell, as node:20-slim has one: Dockerfile RUN lines and `command` job variables use it.
  cp "$(readlink -f /bin/sh)" "$folder/bin/sh"
  # Every library node and sh link (ldd prints `name => /path (addr)` or `/path (addr)`), and the loader.
  for file in $( (ldd "$node"; ldd /bin/sh) | grep -o '/[^ ]*'); do
    [ -e "$file" ] && cp --parents -L "$file" "$folder"
  done
  local status=0
  tar -C "$folder" -c . | docker import - "$DROVER_DOCKER_BASE_IMAGE" >/dev/null || status=$?
  rm -rf "$folder"
  [ "$status" -eq 0 ] && docker run --rm --network=none "$DROVER_DOCKER_BASE_IMAGE" node --version >/dev/null
}

drover_docker_setup() {
  drover_docker_install || drover_docker_fail "cannot install docker.io with apt-get; the docker pool's tests need a Docker engine" || return 1
  drover_docker_start || drover_docker_fail "dockerd did not answer (see $DROVER_DOCKERD_LOG); the docker pool's tests need a Docker engine" || return 1
  if ! drover_docker_base_image; then
    drover_docker_stop
    drover_docker_fail "cannot build the base image $DROVER_DOCKER_BASE_IMAGE from $(command -v node)"
    return 1
  fi
  # What the docker tests read: the base their images build from, and the legacy builder (BuildKit wants a registry).
  export DROVER_TEST_DOCKER_BASE_IMAGE=$DROVER_DOCKER_BASE_IMAGE DOCKER_BUILDKIT=0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  drover_docker_setup
else
  drover_docker_setup || return 1
fi
