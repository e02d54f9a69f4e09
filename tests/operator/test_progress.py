"""The operator's progress functions: durations, stall detection, usage, failure reasons, status writes
(``progress``)."""

from __future__ import annotations

import pytest

from training_hub.observability.tracker import rfc3339
from training_hub_operator import durations, failures, stall, usage, writes
from training_hub_operator import progress as op

pytestmark = pytest.mark.unit

T0 = 1_780_000_000.0


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
