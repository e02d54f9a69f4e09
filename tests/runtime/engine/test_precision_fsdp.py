"""FSDP2 under bf16 autocast keeps bf16 copies of every weight for backward unless the layers are gathered
in bf16 (``MixedPrecisionPolicy``): 2 gloo ranks, an 8-layer Llama, the engine's own ``shard_fsdp``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

WORKER = Path(__file__).resolve().parents[3] / "benchmarks" / "gpu_check_fsdp_worker.py"


def test_bf16_policy_leaves_no_weight_copies_after_forward(tmp_path: Path) -> None:
    out = tmp_path / "copies.json"
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", "--standalone"]
    proc = subprocess.run(
        [*argv, str(WORKER), str(out)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    r = json.loads(out.read_text())
    # autocast alone: a bf16 copy of every weight lives until backward, more than all layer weights
    assert r["autocast_only"] > r["layer_weight_bf16_bytes"]
    # with the policy the gathered bf16 layers are freed by resharding: only the root's stay
    assert r["policy"] < 0.4 * r["autocast_only"]
    assert r["policy"] < 0.5 * r["layer_weight_bf16_bytes"]
