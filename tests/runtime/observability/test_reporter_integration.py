"""The progress reporter against a real API server, with exactly the runtime Role the chart grants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.support.planes import runtime_kubeconfig
from tests.support.runs import tiny_run
from training_hub.observability.kubeapi import KubeConnection
from training_hub.observability.reporter import StatusReporter

pytestmark = pytest.mark.integration

T0 = 1_780_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def metrics(step: int, total: int = 50) -> dict[str, Any]:
    return {
        "step": step,
        "total_steps": total,
        "epoch": 0,
        "loss": 5.0 / step,
        "lr": 1e-3,
        "grad_norm": 1.0,
        "tokens": 100,
        "samples_seen": 8 * step,
        "tokens_per_second": 500.0,
        "elapsed": float(step),
        "steps_per_epoch": 25,
    }


def test_reporter_patches_only_progress_rate_limited_and_posts_events(
    obs_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    name = "reported"
    obs_plane.apply(tiny_run(name), namespace=namespace)
    # Something the operator owns, which the reporter must leave alone.
    obs_plane.patch_status(
        "trainingrun", namespace, name, {"phase": "Running", "observedGeneration": 1}, check=False
    )
    conn = KubeConnection.from_kubeconfig(runtime_kubeconfig(obs_plane, namespace, tmp_path / "kc"))
    clock = Clock()
    reporter = StatusReporter(namespace, name, conn, interval=60.0, min_interval=5.0, clock=clock)
    for step in range(1, 41):  # 40 steps within the same (fake) second: one patch, not 40
        reporter.on_step(metrics(step + 9))  # starts at step 10: a resumed run
    clock.now += 10  # past min_interval, not past interval: the checkpoint may be sent sooner
    reporter.on_checkpoint("/mnt/pvc/out/reported/hf_format/samples_400", "hf")
    clock.now += 1
    reporter.on_train_end(
        {
            "steps": 50,
            "total_steps": 50,
            "final_loss": 0.1,
            "output_model_path": "/mnt/pvc/out/reported/hf_format/final",
        }
    )
    assert reporter.disabled is None
    # 42 updates, at most 3 patches (first step, checkpoint, end); unsent values are replaced by newer ones.
    assert 1 <= reporter.patches_sent <= 3, reporter.patches_sent
    status = obs_plane.kubectl_json("get", "trainingrun", name, "-n", namespace)["status"]
    p = status["progress"]
    assert p["step"] == 50 and p["totalSteps"] == 50 and p["percent"] == 100
    assert p["loss"] == pytest.approx(0.1)
    assert p["lastCheckpoint"] == "pvc://out/reported/hf_format/final"
    assert p["resumedFromStep"] == 9
    assert p["lossHistory"]["steps"][-1] == 49 and len(p["lossHistory"]["losses"]) == 40
    assert p["lastStepTime"] and p["startTime"] and p["epoch"] == pytest.approx(49 / 25, abs=1e-3)
    assert status.get("phase") in (None, "Running")  # untouched
    reasons = [e["reason"] for e in obs_plane.events_for(namespace, name)]
    assert "Resumed" in reasons and reasons.count("CheckpointSaved") == 1
    saved = next(e for e in obs_plane.events_for(namespace, name) if e["reason"] == "CheckpointSaved")
    assert "pvc://out/reported/hf_format/samples_400" in saved["message"]
    assert saved["involvedObject"]["kind"] == "TrainingRun"


def test_without_permission_the_reporter_stops_quietly(
    obs_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    name = "forbidden"
    obs_plane.apply(tiny_run(name), namespace=namespace)
    conn = KubeConnection.from_kubeconfig(runtime_kubeconfig(obs_plane, namespace, tmp_path / "kc", rules=[]))
    reporter = StatusReporter(namespace, name, conn, interval=0.0, events=False)
    for step in range(1, 6):
        reporter.on_step(metrics(step))  # never raises into the training loop
    reporter.close()
    assert reporter.patches_sent == 0
    assert reporter.disabled and "403" in reporter.disabled
    status = obs_plane.kubectl_json("get", "trainingrun", name, "-n", namespace).get("status") or {}
    assert "progress" not in status
