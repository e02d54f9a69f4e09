#!/usr/bin/env bash
# Install (idempotently) a real Lua 5.4 interpreter for the Argo CD health-check tests.
#
# Argo CD runs health checks in gopher-lua (Lua 5.1 semantics); charts/training-hub/files/argocd-health.lua
# sticks to the subset both understand. Debian's lua5.4 is what the tests run it with.
# Prints the interpreter path as its last line.
set -euo pipefail
for cand in "${LUA:-}" lua5.4 lua5.3 lua; do
  if [[ -n "$cand" ]] && command -v "$cand" >/dev/null 2>&1; then
    command -v "$cand"
    exit 0
  fi
done
if [[ "$(id -u)" != "0" ]] && ! command -v sudo >/dev/null 2>&1; then
  echo "install_lua.sh: lua5.4 is missing and I am not root: apt-get install -y lua5.4" >&2
  exit 1
fi
SUDO=""
[[ "$(id -u)" == "0" ]] || SUDO="sudo"
echo "==> installing lua5.4 with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends lua5.4 >&2; then
  $SUDO apt-get update >&2
  $SUDO apt-get install -y --no-install-recommends lua5.4 >&2
fi
command -v lua5.4
