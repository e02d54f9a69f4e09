"""The launchers are interchangeable: the same TrainingRun and seed train to the same weights under each.

Each launcher's rendered pods (native Jobs, a PyTorchJob with the training operator's env, a TrainJob with
Trainer's torch plugin env) run through the local executor: two "nodes" of one process each rendezvous over
loopback and train the tiny model. The final weights and the loss curve must be identical.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from tests.support.runs import tiny_run
from training_hub.local.runner import run_local

pytestmark = pytest.mark.integration

LAUNCHERS = ("native", "pytorchjob", "trainjob")


def final_weights(out: Path) -> dict[str, object]:
    from safetensors.torch import load_file

    files = sorted((out / "hf_format").glob("*/*.safetensors"))
    assert files, f"no saved model under {out}"
    final = [f for f in files if f.parent.name == "final"] or files[-1:]
    return dict(load_file(str(final[0])))


def losses(out: Path) -> list[float]:
    metrics = sorted(out.glob("*metrics*.jsonl"))
    assert metrics, f"no metrics file in {out}"
    values = []
    for line in metrics[0].read_text().splitlines():
        record = json.loads(line)
        for key in ("loss", "avg_loss"):
            if key in record:
                values.append(float(record[key]))
                break
    return values


def test_launchers_train_to_the_same_weights(tmp_path: Path) -> None:
    import torch

    manifest = tmp_path / "run.yaml"
    manifest.write_text(yaml.safe_dump(tiny_run("same-seed", max_steps=3)))
    results = {}
    for launcher in LAUNCHERS:
        log = io.StringIO()
        rendered, result = run_local(
            manifest,
            root=tmp_path / launcher,
            launcher=launcher,
            timeout=240,
            output=log,
            extra_env={"OMP_NUM_THREADS": "1"},
        )
        assert result.succeeded, log.getvalue()[-4000:]
        assert rendered.launcher == launcher
        out = tmp_path / launcher / "pvc" / "out" / "same-seed"
        results[launcher] = (final_weights(out), losses(out))
    ref_weights, ref_losses = results["native"]
    assert len(ref_losses) == 3
    for launcher in LAUNCHERS[1:]:
        weights, curve = results[launcher]
        assert curve == ref_losses, (launcher, curve, ref_losses)
        assert weights.keys() == ref_weights.keys()
        for key, tensor in ref_weights.items():
            assert torch.equal(weights[key], tensor), f"{launcher}: {key} differs"  # type: ignore[arg-type]
