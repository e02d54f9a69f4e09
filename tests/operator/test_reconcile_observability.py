"""The operator's side of observability, through its pure reconcile: env and ports of training pods, failure
reasons from pods, stall detection, usage and the Ready condition."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.trainingruns import run_manifest
from training_hub_operator.api.validation import validate_spec
from training_hub_operator.launchers.auto import choose_launcher
from training_hub_operator.planning import ModelConfig
from training_hub_operator.reconcile import ReconcileInput, decide
from training_hub_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

SETTINGS = OperatorSettings(default_service_account="training-hub-runtime", runtime_progress_interval=5)
NOW = "2026-01-01T01:00:00Z"


def _run(status: dict[str, Any] | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    m = run_manifest("r1", launcher="native", resources={"gpuMemory": "80Gi", "nodes": 1, "gpusPerNode": 8})
    m["metadata"].update({"namespace": "ns", "uid": "uid-r1", "generation": 1})
    if annotations:
        m["metadata"]["annotations"] = annotations
    m["status"] = status or {}
    return m


def _inp(
    run: dict[str, Any], children: list[dict[str, Any]] = (), pods: list[dict[str, Any]] = ()
) -> ReconcileInput:  # type: ignore[assignment]
    return ReconcileInput(
        run=run,
        validated=validate_spec(run["spec"]),
        spec_error=None,
        choice=choose_launcher("native", lambda k: True),
        children=list(children),
        model_config=ModelConfig(run["spec"]["model"]["config"], "inline"),
        settings=SETTINGS,
        now=NOW,
        pods=list(pods),
    )


def _launched(job_status: dict[str, Any], progress: dict[str, Any] | None = None, **kw: Any) -> tuple:
    first = decide(_inp(_run(**kw)))
    children = []
    for _, obj in first.creates:
        obj = copy.deepcopy(obj)
        obj["metadata"]["uid"] = f"uid-{obj['metadata']['name']}"
        if obj["kind"] == "Job":
            obj["status"] = job_status
        children.append(obj)
    status = dict(first.status)
    if progress is not None:
        status["progress"] = progress
    return _run(status=status, **kw), children, first


def _cond(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def test_training_pods_get_the_run_identity_metrics_port_and_runtime_account() -> None:
    first = decide(_inp(_run()))
    (job,) = [o for _, o in first.creates if o["kind"] == "Job"]
    pod = job["spec"]["template"]
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TRAINING_HUB_RUN"] == "ns/r1"
    assert env["TRAINING_HUB_RUN_UID"] == "uid-r1"
    assert env["TRAINING_HUB_METRICS_PORT"] == "9400"
    assert env["TRAINING_HUB_PROGRESS_INTERVAL"] == "5"
    assert {"name": "metrics", "containerPort": 9400, "protocol": "TCP"} in container["ports"]
    assert pod["spec"]["serviceAccountName"] == "training-hub-runtime"
    assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "training-hub-operator"
    # A user can still choose the port (user env wins) and the account.
    run = _run()
    run["spec"]["runtime"]["env"] = [{"name": "TRAINING_HUB_METRICS_PORT", "value": "9999"}]
    run["spec"]["runtime"]["serviceAccountName"] = "mine"
    (job,) = [o for _, o in decide(_inp(run)).creates if o["kind"] == "Job"]
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TRAINING_HUB_METRICS_PORT"] == "9999"
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "mine"


def failed_pod(exit_code: int, message: str, reason: str = "Error", name: str = "r1-abc") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {
            "phase": "Failed",
            "containerStatuses": [
                {
                    "name": "trainer",
                    "state": {"terminated": {"exitCode": exit_code, "reason": reason, "message": message}},
                }
            ],
        },
    }


def test_a_failed_run_says_why_from_its_pods() -> None:
    failed = {
        "failed": 1,
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
                "lastTransitionTime": NOW,
            }
        ],
    }
    run, children, _ = _launched(failed)
    pods = [
        failed_pod(4, "InfrastructureError: connection reset by peer", name="r1-node-1-x"),
        failed_pod(
            3, "InvalidInput: /mnt/pvc/datasets/chat/train.jsonl:17: missing key `messages`", name="r1-y"
        ),
    ]
    d = decide(_inp(run, children, pods))
    st = d.status
    assert st["phase"] == "Failed"
    failed_c = _cond(st, "Failed")
    assert failed_c["reason"] == "InvalidData"  # the cause, not the peer's lost connection
    assert "bad data line pvc://datasets/chat/train.jsonl:17: missing key `messages`" in failed_c["message"]
    assert _cond(st, "Ready")["status"] == "False" and _cond(st, "Ready")["reason"] == "InvalidData"
    assert any(t == "Warning" and r == "Failed" and "InvalidData" in m for t, r, m in d.events)
    oom = decide(_inp(run, children, [failed_pod(137, "", "OOMKilled")])).status
    assert _cond(oom, "Failed")["reason"] == "OutOfMemory"
    # Without pods the workload's own reason is kept.
    plain = decide(_inp(run, children)).status
    assert _cond(plain, "Failed")["reason"] == "BackoffLimitExceeded"


def test_image_pull_problems_show_while_queued() -> None:
    run, children, _ = _launched({})
    pod = {
        "metadata": {"name": "r1-p"},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "trainer",
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}},
                }
            ],
        },
    }
    d = decide(_inp(run, children, [pod]))
    assert d.status["phase"] == "Queued"
    q = _cond(d.status, "Queued")
    assert q["reason"] == "ImagePullFailed" and "pull access denied" in q["message"]
    assert any(t == "Warning" and r == "ImagePullFailed" for t, r, _ in d.events)


def test_stall_sets_stalled_once_and_clears_when_steps_come_back() -> None:
    active = {"active": 1, "startTime": "2026-01-01T00:00:00Z"}
    progress = {"step": 10, "totalSteps": 100, "lastStepTime": "2026-01-01T00:40:00Z"}
    run, children, _ = _launched(active, progress, annotations={"traininghub.io/stall-timeout": "10m"})
    d = decide(_inp(run, children))
    st = d.status
    assert st["phase"] == "Running"
    stalled = _cond(st, "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "NoProgress"
    assert "step 10/100" in stalled["message"]
    assert [r for t, r, _ in d.events if t == "Warning"] == ["NoProgress"]
    assert _cond(st, "Ready")["reason"] == "NoProgress"
    # Reconciling again: same condition, no second event, no status change.
    again = decide(_inp(dict(run, status=st), children))
    assert not [e for e in again.events if e[1] == "NoProgress"]
    assert again.status == st
    # A step arrives: the stall clears.
    fresh = dict(st, progress=dict(progress, lastStepTime="2026-01-01T00:59:30Z", step=11))
    cleared = decide(_inp(dict(run, status=fresh), children)).status
    assert _cond(cleared, "Stalled")["status"] == "False"
    # It finished after all: no stale Stalled condition on a succeeded run.
    done_status = {
        "succeeded": 1,
        "completionTime": NOW,
        "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": NOW}],
    }
    done_children = [dict(c, status=done_status) if c["kind"] == "Job" else c for c in children]
    finished = decide(_inp(dict(run, status=st), done_children)).status
    assert finished["phase"] == "Succeeded"
    assert not [c for c in finished["conditions"] if c["type"] == "Stalled"]
    # The operator's default (30m here: no annotation) is not reached yet.
    run2, children2, _ = _launched(active, progress)
    assert not [c for c in decide(_inp(run2, children2)).status["conditions"] if c["type"] == "Stalled"]


def test_usage_and_final_progress() -> None:
    done = {
        "succeeded": 1,
        "startTime": "2026-01-01T00:00:00Z",
        "completionTime": "2026-01-01T00:30:00Z",
        "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:30:00Z"}],
    }
    progress = {
        "step": 99,
        "totalSteps": 100,
        "percent": 99,
        "elapsedSeconds": 1500.0,
        "predictedSeconds": 1200.0,
        "lastCheckpoint": "pvc://outputs/runs/r1/hf_format/final",
    }
    run, children, _ = _launched(done, progress)
    st = decide(_inp(run, children)).status
    assert st["phase"] == "Succeeded"
    assert st["usage"] == {
        "wallSeconds": 1800.0,
        "gpus": 8,
        "gpuSeconds": 14400.0,
        "trainingSeconds": 1500.0,
        "predictedSeconds": 1200.0,
        "actualToPredicted": 1.25,
    }
    assert st["progress"]["percent"] == 100 and st["progress"]["step"] == 100
    ready = _cond(st, "Ready")
    assert ready["status"] == "True" and "pvc://outputs/runs/r1/hf_format/final" in ready["message"]
