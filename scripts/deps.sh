#!/usr/bin/env bash
# Installs what the project needs on a Debian/Ubuntu machine, only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

case "${1:-all}" in
redis|all)
  if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
    echo "deps: installing redis-server" >&2
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  # redis-cli (package redis-tools) runs the old upgrade runbook's bash probe (bench/) in the comparison tests.
  if ! command -v redis-cli >/dev/null 2>&1; then
    echo "deps: installing redis-tools (redis-cli)" >&2
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-tools >/dev/null
  fi
  # The Debian package starts a system service on port 6379. The tests start
  # their own servers on free ports and do not need it stopped, but `make run`
  # and the examples' instructions use 6379: say so before stopping it, and
  # leave it alone with REDISHA_KEEP_SYSTEM_REDIS=1.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
    if [ "${REDISHA_KEEP_SYSTEM_REDIS:-0}" = 1 ]; then
      echo "deps: a system redis-server service is running on this machine; leaving it (REDISHA_KEEP_SYSTEM_REDIS=1)" >&2
    else
      echo "deps: stopping the system redis-server service (systemctl stop redis-server), which the Debian package" >&2
      echo "      started on port 6379; nothing of redisha uses it. Start it again with: systemctl start redis-server." >&2
      echo "      To keep it running, set REDISHA_KEEP_SYSTEM_REDIS=1." >&2
      sudo_if_needed systemctl stop redis-server || echo "deps: could not stop redis-server; continuing" >&2
    fi
  fi
  ;;&
examples|all)
  # examples/python runs on Debian's redis-py, for the system python3.
  if ! /usr/bin/python3 -c 'import redis' >/dev/null 2>&1; then
    echo "deps: installing python3-redis (redis-py for examples/python)" >&2
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-redis >/dev/null
  fi
  # examples/node runs on ioredis, pinned in examples/node/package-lock.json.
  if ! command -v npm >/dev/null 2>&1; then
    echo "deps: installing nodejs and npm (for examples/node)" >&2
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  if [ ! -d examples/node/node_modules ] || [ examples/node/package-lock.json -nt examples/node/node_modules ]; then
    echo "deps: npm ci in examples/node (pinned ioredis)" >&2
    (cd examples/node && npm ci --no-audit --no-fund --loglevel=error)
    touch examples/node/node_modules
  fi
  ;;&
build|all)
  # make build packs the Lambda asset with zip.
  if ! command -v zip >/dev/null 2>&1; then
    echo "deps: installing zip" >&2
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zip >/dev/null
  fi
  ;;&
node|all)
  if [ "${1:-all}" = node ] || [ -f package-lock.json ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "deps: installing nodejs and npm" >&2
      sudo_if_needed apt-get update -qq
      sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    fi
    if [ -f package-lock.json ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; }; then
      echo "deps: npm ci (pinned CDK CLI)" >&2
      npm ci --no-audit --no-fund --loglevel=error
      touch node_modules
    fi
  fi
  ;;
esac
