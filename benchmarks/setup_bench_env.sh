#!/usr/bin/env bash
# Create (idempotently) the separate benchmark virtualenv `.venv-bench` that holds instructlab-training
# beside this project. instructlab-training is never installed into the main `.venv` (its dependencies
# may clash). torch is pinned to 2.13.0 in the same pip command, so pip keeps the CPU build from the local
# wheel directory and never pulls a CUDA torch.
#
# Usage: bash benchmarks/setup_bench_env.sh [VENV_DIR]   (default: <repo>/.venv-bench)
# Prints the venv's python path as its last line.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-${BENCH_VENV:-$REPO/.venv-bench}}"
PYTHON="${PYTHON311:-python3.11}"
TORCH_PIN="torch==2.13.0"
ILAB_PIN="${ILAB_PIN:-instructlab-training}"
# The stamp changes when the pins or pyproject.toml change, so a stale venv is reinstalled.
STAMP_KEY="$(printf '%s\n%s\n' "$TORCH_PIN" "$ILAB_PIN" | cat - "$REPO/pyproject.toml" | sha256sum | cut -c1-16)"
STAMP="$VENV/.installed-$STAMP_KEY"

if [[ -f "$STAMP" ]]; then
  echo "==> $VENV is up to date" >&2
  echo "$VENV/bin/python"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "==> creating $VENV with $("$PYTHON" --version)" >&2
  "$PYTHON" -m venv "$VENV"
fi

echo "==> installing $TORCH_PIN (CPU) + $ILAB_PIN + training-hub[train] into $VENV" >&2
"$VENV/bin/python" -m pip install --quiet --progress-bar off "$TORCH_PIN" "$ILAB_PIN" -e "$REPO[train]" >&2

# Refuse a CUDA torch: the pin above must have kept the CPU build.
"$VENV/bin/python" - <<'PY' >&2
import torch
assert torch.__version__.startswith("2.13.0"), torch.__version__
assert torch.version.cuda is None, f"a CUDA torch was installed: {torch.__version__}"
import instructlab.training.data_process  # noqa: F401
print(f"torch {torch.__version__}, instructlab-training data_process importable")
PY
rm -f "$VENV"/.installed-*
touch "$STAMP"
echo "$VENV/bin/python"
