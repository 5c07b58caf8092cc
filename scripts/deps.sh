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
  # redis-cli (package redis-tools) runs the runbook's bash probe in the comparison tests.
  if ! command -v redis-cli >/dev/null 2>&1; then
    echo "deps: installing redis-tools (redis-cli)" >&2
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-tools >/dev/null
  fi
  # The Debian package starts a system service; tests start their own servers.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
    sudo_if_needed systemctl stop redis-server || true
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
