#!/usr/bin/env bash
# Install (idempotently) real Lua interpreters for the Argo CD health-check tests: Debian's lua5.4 and
# lua5.1. Argo CD runs health checks in gopher-lua, which implements Lua 5.1; the tests run the script with
# both and require the same answer. Prints the interpreter paths, one per line.
set -euo pipefail
need=()
for pkg in lua5.4 lua5.1; do
  command -v "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  SUDO=""
  if [[ "$(id -u)" != "0" ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "install_lua.sh: need root for: apt-get install ${need[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "==> installing ${need[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends "${need[@]}" >&2; then
    $SUDO apt-get update >&2
    $SUDO apt-get install -y --no-install-recommends "${need[@]}" >&2
  fi
fi
command -v lua5.4
command -v lua5.1
