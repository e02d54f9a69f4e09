"""Unit tests of the pure observability pieces: progress tracking, loss history, sparklines, the loss guard,
step output, and the operator's stall/usage/failure-reason functions."""

from __future__ import annotations

import io
import math

import pytest

from training_hub.errors import InvalidInputError
from training_hub.observability.console import StepPrinter, bar_line, step_line
from training_hub.observability.guards import LossGuard, TrainingDivergedError
from training_hub.observability.sparkline import BARS, resample, sparkline
from training_hub.observability.tracker import LossHistory, ProgressTracker, checkpoint_uri, rfc3339
from training_hub_operator import durations, failures, stall, usage, writes
from training_hub_operator import progress as op

pytestmark = pytest.mark.unit

T0 = 1_780_000_000.0


def row(step: int, total: int = 100, loss: float = 2.0, **extra: object) -> dict[str, object]:
    base = {
        "step": step,
        "total_steps": total,
        "epoch": (step - 1) // 10,
        "loss": loss,
        "lr": 1e-3,
        "grad_norm": 1.5,
        "tokens": 256,
        "samples_seen": 8 * step,
        "tokens_per_second": 1000.0,
        "elapsed": float(step),
        "steps_per_epoch": 10,
    }
    base.update(extra)
    return base


# ------------------------------------------------------------------------------------------- tracker
def test_tracker_builds_the_crd_progress_with_eta_and_prediction() -> None:
    t = ProgressTracker(env={})
    p = {}
    for s in range(1, 11):
        p = t.on_step(row(s, loss=3.0 - 0.1 * s), T0 + s)  # one second per step
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
    p = t.on_step(row(41), T0)
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
    t.on_step(row(1, loss=2.0), T0)
    p = t.on_step(row(2, loss=math.nan), T0 + 1)
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


# ------------------------------------------------------------------------------------------ sparkline
def test_sparkline_scales_and_resamples() -> None:
    assert sparkline([]) == ""
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == BARS
    assert sparkline([8, 7, 6, 5, 4, 3, 2, 1]) == BARS[::-1]
    assert len(sparkline(range(1000), width=40)) == 40
    assert sparkline([2.0, 2.0, 2.0]) == BARS[4] * 3
    assert sparkline([1.0, math.nan, 3.0]) == BARS[0] + BARS[-1]
    assert resample([1, 2, 3, 4], 2) == [1.5, 3.5]
    with pytest.raises(ValueError):
        resample([1.0], 0)


# --------------------------------------------------------------------------------------------- guard
def test_guard_fails_at_once_on_nan_and_inf() -> None:
    for bad in (math.nan, math.inf):
        g = LossGuard()
        g.check(1, 2.0)
        with pytest.raises(TrainingDivergedError, match="training diverged: the loss is .* at step 2"):
            g.check(2, bad)


def test_guard_tolerates_noise_but_not_sustained_divergence() -> None:
    g = LossGuard(factor=4.0, patience=5, warmup=5)
    losses = [5.0, 4.0, 6.0, 3.0, 3.5, 2.5, 3.0, 2.0, 9.0, 2.0] * 5  # spikes, no sustained rise
    for s, v in enumerate(losses, 1):
        g.check(s, v)
    g = LossGuard(factor=4.0, patience=5, warmup=5)
    with pytest.raises(TrainingDivergedError, match="more than 4x its reference") as err:
        for s in range(1, 200):
            g.check(s, 2.0 if s < 20 else 200.0)
    assert isinstance(err.value, InvalidInputError)  # exit code 3: a retry cannot help
    assert err.value.exit_code == 3


def test_guard_settings_from_env() -> None:
    g = LossGuard.from_env({"TRAINING_HUB_DIVERGENCE_FACTOR": "10", "TRAINING_HUB_DIVERGENCE_PATIENCE": "2"})
    assert g.factor == 10 and g.patience == 2 and g.enabled
    off = LossGuard.from_env({"TRAINING_HUB_HEALTH_CHECKS": "off"})
    off.check(1, math.nan)  # disabled: no error
    with pytest.raises(InvalidInputError, match="TRAINING_HUB_DIVERGENCE_FACTOR"):
        LossGuard.from_env({"TRAINING_HUB_DIVERGENCE_FACTOR": "abc"})
    with pytest.raises(InvalidInputError, match="must be a number >= 1"):
        LossGuard.from_env({"TRAINING_HUB_DIVERGENCE_FACTOR": "0.5"})


# ------------------------------------------------------------------------------------------- console
class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_without_a_tty_and_a_bar_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAINING_HUB_PROGRESS_BAR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    plain = io.StringIO()
    printer = StepPrinter(plain)
    for s in (1, 2, 3):
        printer.step(row(s, total=3))
    lines = plain.getvalue().splitlines()
    assert lines == [step_line(row(s, total=3)) for s in (1, 2, 3)]
    assert lines[0].startswith("[training_hub] step 1/3 epoch 0 loss 2.0000")
    assert "\r" not in plain.getvalue()

    tty = FakeTty()
    bar = StepPrinter(tty)
    for s in (1, 2, 3):
        bar.step(row(s, total=3))
    out = tty.getvalue()
    assert out.count("\r") == 3 and out.endswith("\n") and out.count("\n") == 1
    assert "100.0% 3/3" in out and "█" in out
    assert "[training_hub] step" not in out


def test_log_every_thins_plain_lines() -> None:
    out = io.StringIO()
    printer = StepPrinter(out, bar=False, every=10)
    for s in range(1, 26):
        printer.step(row(s, total=25))
    steps = [int(line.split()[2].split("/")[0]) for line in out.getvalue().splitlines()]
    assert steps == [1, 10, 20, 25]


def test_bar_line_shows_eta() -> None:
    text = bar_line(row(50, total=100), eta_seconds=125)
    assert " 50.0% 50/100" in text and "eta 2m05s" in text


# ------------------------------------------------------------------------------ operator: durations
@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("10m", 600), ("1h30m", 5400), ("1.5h", 5400), ("off", 0), ("0", 0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert durations.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "ten minutes", "-5", "5d", "m"])
def test_parse_duration_rejects(bad: str) -> None:
    with pytest.raises(durations.DurationError):
        durations.parse_duration(bad)


# ---------------------------------------------------------------------------------- operator: stall
def running(progress: dict | None = None, start: float = T0) -> dict:
    return {"phase": "Running", "startTime": rfc3339(start), "progress": progress or {}}


def test_stall_after_the_timeout_without_steps() -> None:
    st = running({"step": 40, "totalSteps": 100, "lastStepTime": rfc3339(T0 + 100)})
    assert stall.check_stall(st, T0 + 100 + 599, 600) is None
    found = stall.check_stall(st, T0 + 100 + 601, 600)
    assert found is not None and found.reason == "NoProgress"
    assert "step 40/100" in found.message and "stall timeout of 10m00s" in found.message
    # The message does not change while the stall lasts (one event, no status churn).
    assert stall.check_stall(st, T0 + 5000, 600) == found
    # Before the first step, the workload's start counts.
    assert stall.check_stall(running(), T0 + 601, 600) is not None
    assert stall.check_stall(running(), T0 + 601, 0) is None  # disabled
    assert stall.check_stall({**running(), "phase": "Queued"}, T0 + 5000, 600) is None


def test_stall_timeout_annotation() -> None:
    run = {"metadata": {"annotations": {stall.STALL_TIMEOUT_ANNOTATION: "5m"}}}
    assert stall.stall_timeout(run, 1800) == 300
    assert stall.stall_timeout({"metadata": {}}, 1800) == 1800
    with pytest.raises(durations.DurationError):
        stall.stall_timeout({"metadata": {"annotations": {stall.STALL_TIMEOUT_ANNOTATION: "soon"}}})


# ---------------------------------------------------------------------------------- operator: usage
def test_usage_counts_gpu_seconds_and_compares_prediction() -> None:
    st = {
        "phase": "Succeeded",
        "startTime": rfc3339(T0),
        "completionTime": rfc3339(T0 + 3600),
        "plan": {"totalGpus": 16},
        "progress": {"elapsedSeconds": 3000.0, "predictedSeconds": 2500.0},
    }
    u = usage.compute_usage(st, T0 + 99999)
    assert u == {
        "wallSeconds": 3600.0,
        "gpus": 16,
        "gpuSeconds": 57600.0,
        "trainingSeconds": 3000.0,
        "predictedSeconds": 2500.0,
        "actualToPredicted": 1.2,
    }
    live = usage.compute_usage(
        {"phase": "Running", "startTime": rfc3339(T0), "plan": {"totalGpus": 2}}, T0 + 10
    )
    assert live == {"wallSeconds": 10.0, "gpus": 2, "gpuSeconds": 20.0}
    assert usage.compute_usage({"phase": "Queued"}, T0) is None


# ------------------------------------------------------------------------------- operator: failures
PLAN = {"perGpu": {"expected": "61.2Gi"}, "gpuMemoryBytes": 80 * 2**30}


@pytest.mark.parametrize(
    ("code", "message", "container_reason", "reason", "words"),
    [
        (
            3,
            "InvalidInput: /tmp/r/pods/p/mnt/pvc/data/train.jsonl:3: invalid JSON (Expecting value at column 1)",
            "Error",
            "InvalidData",
            ["bad data line pvc://data/train.jsonl:3", "invalid JSON"],
        ),
        (137, "", "OOMKilled", "OutOfMemory", ["ran out of memory", "resources.memory", "61.2Gi"]),
        (
            1,
            "Error: torch.OutOfMemoryError: CUDA out of memory. Tried",
            "Error",
            "GPUOutOfMemory",
            ["61.2Gi per GPU of 80Gi", "max_tokens_per_gpu"],
        ),
        (None, 'Back-off pulling image "x:1"', "ImagePullBackOff", "ImagePullFailed", ["spec.runtime.image"]),
        (
            4,
            "InfrastructureError: RendezvousTimeoutError: rendezvous timed out after 900s",
            "Error",
            "RendezvousTimeout",
            ["did not meet at the rendezvous"],
        ),
        (
            3,
            "InvalidInput: training processes exited with code 3; training_hub: error: training diverged: the "
            "loss is nan at step 7; lower the learning rate",
            "Error",
            "TrainingDiverged",
            ["the loss is nan at step 7"],
        ),
        (
            3,
            "InvalidInput: invalid sft parameters: learning_rate: too big",
            "Error",
            "InvalidInput",
            ["invalid sft parameters"],
        ),
        (4, "InfrastructureError: lost peer", "Error", "InfrastructureError", ["lost peer"]),
        (143, "Terminated: SIGTERM", "Error", "Terminated", ["SIGTERM"]),
        (1, "Error: RuntimeError: boom", "Error", "Error", ["boom"]),
    ],
)
def test_failure_reasons(
    code: int | None, message: str, container_reason: str, reason: str, words: list[str]
) -> None:
    f = failures.classify_failure(code, message, container_reason, PLAN)
    assert f.reason == reason, f
    for w in words:
        assert w in f.message, f.message


def test_pod_failure_reads_container_states() -> None:
    def pod(state: dict, last: dict | None = None) -> dict:
        cs = {"name": "trainer", "state": state}
        if last:
            cs["lastState"] = last
        return {"status": {"phase": "Running", "containerStatuses": [cs]}}

    assert failures.pod_failure(pod({"running": {}})) is None
    f = failures.pod_failure(pod({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}), PLAN)
    assert f is not None and f.reason == "OutOfMemory"
    f = failures.pod_failure(pod({"waiting": {"reason": "ErrImagePull", "message": "not found"}}))
    assert f is not None and f.reason == "ImagePullFailed" and "not found" in f.message
    f = failures.pod_failure(
        pod(
            {"waiting": {"reason": "CrashLoopBackOff"}},
            {"terminated": {"exitCode": 3, "message": "InvalidInput: x"}},
        )
    )
    assert f is not None and f.reason == "InvalidInput"
    assert failures.pod_failure(pod({"terminated": {"exitCode": 0, "reason": "Completed"}})) is None


# ---------------------------------------------------------------------------- operator: status writes
def test_status_patch_leaves_progress_to_the_pod() -> None:
    old = {"phase": "Running", "progress": {"step": 5}, "rendered": [1]}
    new = {"phase": "Succeeded", "progress": {"step": 5}}
    assert writes.status_patch(old, new) == {"phase": "Succeeded", "rendered": None}
    changed = {"phase": "Succeeded", "progress": {"step": 10, "percent": 100}}
    assert writes.status_patch(old, changed)["progress"] == {"step": 10, "percent": 100}


def test_final_progress_and_ready() -> None:
    assert op.final_progress({"step": 10, "totalSteps": 10, "percent": 100}, "Succeeded") is None
    assert op.final_progress({"step": 9, "totalSteps": 10, "percent": 90}, "Succeeded") == {
        "step": 10,
        "totalSteps": 10,
        "percent": 100,
    }
    assert op.final_progress({"step": 9}, "Failed") is None
    ok = op.ready_condition(
        {"phase": "Succeeded", "progress": {"lastCheckpoint": "pvc://o/r/hf_format/final"}}
    )
    assert ok == ("True", "Succeeded", "training finished; the model is at pvc://o/r/hf_format/final")
    failed = op.ready_condition(
        {
            "phase": "Failed",
            "conditions": [{"type": "Failed", "status": "True", "reason": "InvalidData", "message": "bad"}],
        }
    )
    assert failed == ("False", "InvalidData", "bad")
    stalled = op.ready_condition(
        {
            "phase": "Running",
            "conditions": [{"type": "Stalled", "status": "True", "reason": "NoProgress", "message": "m"}],
        }
    )
    assert stalled[:2] == ("False", "NoProgress")
    assert op.progress_summary({"step": 3, "totalSteps": 10, "percent": 30, "loss": 1.23456}) == (
        "step 3/10 (30%), loss 1.235"
    )
