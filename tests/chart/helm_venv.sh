#!/usr/bin/env bash
# Create (idempotently) the virtualenv that holds helm-sdkpy, the Helm v4 library the chart tests drive.
#
# helm-sdkpy needs Python 3.12+, while the project runs on 3.11, so it lives in its own venv
# (default: <repo>/.venv-helm). The chart tests call it through tests/chart/helm_driver.py in a subprocess.
# Prints the venv's python path as its last line.
#
# Environment:
#   HELM_VENV      where to create the venv (default: <repo>/.venv-helm)
#   HELM_PYTHON    a Python 3.12+ interpreter (default: python3.12 on PATH, else pyenv's 3.12.x)
#   HELM_SDKPY_SPEC  pip requirement for helm-sdkpy (default: helm-sdkpy>=0.1.32,<0.2)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${HELM_VENV:-$repo/.venv-helm}"
spec="${HELM_SDKPY_SPEC:-helm-sdkpy>=0.1.32,<0.2}"
stamp="$venv/.installed-helm-sdkpy"

find_python() {
  if [[ -n "${HELM_PYTHON:-}" ]]; then
    echo "$HELM_PYTHON"
    return
  fi
  # pyenv shims exist for versions that are not selected: only accept an interpreter that really runs 3.12+.
  for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3 python3.12 \
      "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3 python3.13 python3; do
    if "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
      command -v "$cand"
      return
    fi
  done
  echo "helm_venv.sh: no Python 3.12+ found (set HELM_PYTHON)" >&2
  exit 1
}

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$spec" ]]; then
  echo "$venv/bin/python"
  exit 0
fi
py="$(find_python)"
echo "==> creating $venv with $("$py" --version) for $spec" >&2
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --progress-bar off "$spec" pyyaml >&2
"$venv/bin/python" -c 'import helm_sdkpy' >&2
echo "$spec" >"$stamp"
echo "$venv/bin/python"
