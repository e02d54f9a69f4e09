"""Progress tracking and the bounded loss history (``observability.tracker``)."""

from __future__ import annotations

import math

import pytest

from tests.support.metrics import metrics_row
from training_hub.observability.tracker import LossHistory, ProgressTracker, checkpoint_uri, rfc3339

T0 = 1_780_000_000.0


pytestmark = pytest.mark.unit


# ------------------------------------------------------------------------------------------- tracker
def test_tracker_builds_the_crd_progress_with_eta_and_prediction() -> None:
    t = ProgressTracker(env={})
    p = {}
    for s in range(1, 11):
        p = t.on_step(metrics_row(s, loss=3.0 - 0.1 * s), T0 + s)  # one second per step
    assert p["step"] == 10 and p["totalSteps"] == 100 and p["percent"] == 10
    assert p["epoch"] == 1.0 and p["samplesSeen"] == 80
    assert p["loss"] == pytest.approx(2.0)
    assert p["lastStepTime"] == rfc3339(T0 + 10)
    assert p["startTime"] == rfc3339(T0 + 1)
    # 9 steps in 9 s since the first -> 90 steps left take 90 s.
    assert p["eta"] == rfc3339(T0 + 10 + 90)
    # Frozen at 5% of the run (step 5): elapsed 5 + 95 steps x 1 s.
    assert p["predictedSeconds"] == pytest.approx(100.0)
    assert "resumedFromStep" not in p
    assert p["lossHistory"]["steps"] == list(range(1, 11))


def test_tracker_detects_a_resume_and_maps_checkpoints_to_pvc_uris() -> None:
    env = {"TRAINING_HUB_MOUNT_ROOT": "/tmp/root/pod-0"}
    t = ProgressTracker(env=env)
    p = t.on_step(metrics_row(41), T0)
    assert p["resumedFromStep"] == 40
    p = t.on_checkpoint("/tmp/root/pod-0/mnt/pvc/out/run/hf_format/samples_400", "hf", T0 + 1)
    assert p["lastCheckpoint"] == "pvc://out/run/hf_format/samples_400"
    t.on_checkpoint("/tmp/root/pod-0/mnt/pvc/out/run/full_state/samples_400", "full_state", T0 + 1)
    assert t.progress["lastCheckpoint"].endswith("hf_format/samples_400")  # full states are not models
    end = t.on_train_end(
        {
            "steps": 100,
            "total_steps": 100,
            "final_loss": 0.5,
            "output_model_path": "/mnt/pvc/out/run/hf_format/final",
        },
        T0 + 9,
    )
    assert end["percent"] == 100 and end["loss"] == 0.5
    assert end["lastCheckpoint"] == "pvc://out/run/hf_format/final"
    assert checkpoint_uri("/data/x", {}) == "/data/x"


def test_tracker_skips_non_finite_losses() -> None:
    t = ProgressTracker(env={})
    t.on_step(metrics_row(1, loss=2.0), T0)
    p = t.on_step(metrics_row(2, loss=math.nan), T0 + 1)
    assert "loss" not in p and p["lossHistory"]["losses"] == [2.0]


def test_loss_history_stays_bounded_and_spread_over_the_run() -> None:
    h = LossHistory(capacity=16)
    for s in range(1, 1001):
        h.add(s, 1000.0 / s)
    pts = h.points()
    assert len(pts) <= 17
    steps = [s for s, _ in pts]
    assert steps == sorted(steps) and steps[-1] == 1000
    assert steps[0] <= 2 * 1000 // 16  # the start of the run is still represented
    gaps = {b - a for a, b in zip(steps[:-2], steps[1:-1], strict=True)}
    assert len(gaps) == 1  # evenly spaced (stride doubling)
