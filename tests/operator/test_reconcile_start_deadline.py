"""Start deadline and cleanup of failed runs, as pure reconcile decisions (``reconcile.decide``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.trainingruns import run_manifest
from training_hub_operator.api.validation import validate_spec
from training_hub_operator.kube import JOB
from training_hub_operator.launchers.auto import choose_launcher
from training_hub_operator.launchers.native import LAUNCHER as NATIVE
from training_hub_operator.launchers.pytorchjob import PYTORCHJOB
from training_hub_operator.reconcile import ReconcileInput, decide
from training_hub_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

T0 = "2026-01-01T00:00:00Z"
SETTINGS = OperatorSettings(start_deadline_seconds=1800)
UNSCHEDULABLE = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


def at(seconds: int) -> str:
    return f"2026-01-01T{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}Z"


def make_run(name: str = "r1", nodes: int = 2, **spec: Any) -> dict[str, Any]:
    spec.setdefault("launcher", "native")
    spec.setdefault("resources", {"nodes": nodes, "gpusPerNode": 1, "gpuMemory": "80Gi"})
    m = run_manifest(name, **spec)
    m["metadata"].update({"namespace": "ns", "uid": f"uid-{name}", "generation": 1})
    m["status"] = {}
    return m


def inp(run: dict[str, Any], children=(), pods=(), now: str = T0, settings=SETTINGS) -> ReconcileInput:
    return ReconcileInput(
        run=run,
        validated=validate_spec(run["spec"]),
        spec_error=None,
        choice=choose_launcher(run["spec"]["launcher"], lambda k: True),
        children=list(children),
        settings=settings,
        now=now,
        pods=list(pods),
    )


def launch(run: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Decide at T0 and 'create' the children (with uid and creation time), as the runner does."""
    first = decide(inp(run))
    children = [
        copy.deepcopy(obj) | {"metadata": dict(obj["metadata"], uid=f"uid-{i}", creationTimestamp=T0)}
        for i, (_, obj) in enumerate(first.creates)
    ]
    return dict(run, status=first.status), children


def jobs(children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in children if c["kind"] == "Job"]


def with_status(obj: dict[str, Any], **status: Any) -> dict[str, Any]:
    return dict(obj, status=status)


def pending_pod(name: str, scheduled: bool = False, waiting: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Pending"}
    if not scheduled:
        status["conditions"] = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": UNSCHEDULABLE}
        ]
    else:
        status["conditions"] = [{"type": "PodScheduled", "status": "True"}]
    if waiting:
        status["containerStatuses"] = [{"name": "trainer", "state": {"waiting": waiting}, "ready": False}]
    return {"metadata": {"name": name, "labels": {"traininghub.io/run": "r1"}}, "status": status}


def running_pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {"phase": "Running", "containerStatuses": [{"name": "trainer", "state": {"running": {}}}]},
    }


def cond(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def active(children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The children with every node Job active (the Job controller counts Pending pods as active)."""
    return [with_status(c, active=1, startTime=T0) if c["kind"] == "Job" else c for c in children]


def test_deadline_not_reached_keeps_the_run_queued_while_its_pods_are_pending():
    run, children = launch(make_run(startDeadlineSeconds=600))
    pods = [pending_pod("r1-a"), pending_pod("r1-node-1-b")]
    d = decide(inp(run, active(children), pods, now=at(599)))
    assert d.status["phase"] == "Queued" and d.deletes == [] and d.patches == []
    assert d.status["pendingSince"] == T0
    queued = cond(d.status, "Queued")
    # The scheduler's reason, quoted, with a Warning Event (diagnosis.py).
    assert queued["reason"] == "Unschedulable" and "r1-a" in queued["message"]
    assert UNSCHEDULABLE in queued["message"]
    assert ("Warning", "Unschedulable") in {(t, r) for t, r, _ in d.events}
    assert "completionTime" not in d.status


def test_pending_pods_past_the_deadline_fail_the_run_and_delete_its_node_jobs():
    run, children = launch(make_run(startDeadlineSeconds=600))
    pods = [pending_pod("r1-a"), pending_pod("r1-node-1-b")]
    d = decide(inp(run, active(children), pods, now=at(601)))
    assert d.status["phase"] == "Failed" and d.status["completionTime"] == at(601)
    failed = cond(d.status, "Failed")
    assert failed["status"] == "True" and failed["reason"] == "StartDeadlineExceeded"
    assert "r1-a" in failed["message"] and "r1-node-1-b" in failed["message"]
    assert UNSCHEDULABLE in failed["message"] and "Unschedulable" in failed["message"]
    assert "10m00s" in failed["message"] and "spec.startDeadlineSeconds" in failed["message"]
    assert "deleted the unfinished node Job(s) r1, r1-node-1" in failed["message"]
    assert sorted(d.deletes) == [(JOB, "r1"), (JOB, "r1-node-1")]
    assert ("Warning", "StartDeadlineExceeded") in {(t, r) for t, r, _ in d.events}
    assert cond(d.status, "Ready")["reason"] == "StartDeadlineExceeded"

    # The operator's default applies without spec.startDeadlineSeconds; 0 disables it.
    run, children = launch(make_run())
    assert decide(inp(run, active(children), pods, now=at(1799))).status["phase"] == "Queued"
    assert decide(inp(run, active(children), pods, now=at(1801))).status["phase"] == "Failed"
    off = OperatorSettings(start_deadline_seconds=0)
    assert decide(inp(run, active(children), pods, now=at(99999), settings=off)).status["phase"] == "Queued"


def test_pods_never_created_also_time_out():
    run, children = launch(make_run(startDeadlineSeconds=60))
    d = decide(inp(run, children, [], now=at(61)))
    failed = cond(d.status, "Failed")
    assert failed["reason"] == "StartDeadlineExceeded" and "created no pod" in failed["message"]


def test_image_pull_backoff_fails_with_image_pull_failed():
    run, children = launch(make_run(startDeadlineSeconds=600))
    waiting = {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "registry.example/x:1"'}
    pods = [pending_pod("r1-a", scheduled=True, waiting=waiting), pending_pod("r1-node-1-b", scheduled=True)]
    before = decide(inp(run, active(children), pods, now=at(30)))
    assert before.status["phase"] == "Queued" and cond(before.status, "Queued")["reason"] == "ImagePullFailed"
    d = decide(inp(dict(run, status=before.status), active(children), pods, now=at(601)))
    failed = cond(d.status, "Failed")
    assert d.status["phase"] == "Failed" and failed["reason"] == "ImagePullFailed"
    assert "ImagePullBackOff" in failed["message"] and "registry.example/x:1" in failed["message"]
    assert "spec.runtime.image" in failed["message"]
    assert sorted(d.deletes) == [(JOB, "r1"), (JOB, "r1-node-1")]


def test_suspended_runs_never_time_out_and_the_clock_restarts_on_resume():
    run, children = launch(make_run(startDeadlineSeconds=60, suspend=True))
    suspended = [with_status(c, active=0) for c in children]
    assert all(NATIVE.is_suspended(j) for j in jobs(suspended))
    d = decide(inp(run, suspended, [], now=at(7200)))
    assert d.status["phase"] == "Suspended" and "pendingSince" not in d.status and d.deletes == []

    # Resumed at 7200: the pods are Pending; the deadline counts from the resume.
    resumed_run = dict(make_run(startDeadlineSeconds=60), status=d.status)
    resumed = [
        dict(c, spec=dict(c["spec"], suspend=False), status={"active": 1}) if c["kind"] == "Job" else c
        for c in children
    ]
    pods = [pending_pod("r1-a"), pending_pod("r1-node-1-b")]
    d2 = decide(inp(resumed_run, resumed, pods, now=at(7210)))
    assert d2.status["phase"] == "Queued" and d2.status["pendingSince"] == at(7210)
    d3 = decide(inp(dict(resumed_run, status=d2.status), resumed, pods, now=at(7271)))
    assert d3.status["phase"] == "Failed" and cond(d3.status, "Failed")["reason"] == "StartDeadlineExceeded"


def test_runs_waiting_for_kueue_never_time_out_and_the_clock_starts_at_admission():
    run, children = launch(make_run(startDeadlineSeconds=60, queueName="team-a"))
    d = decide(inp(run, children, [], now=at(7200)))
    assert d.status["phase"] == "Queued" and cond(d.status, "Queued")["reason"] == "WaitingForAdmission"
    assert "pendingSince" not in d.status and d.deletes == []

    admitted = [dict(c, spec=dict(c["spec"], suspend=False)) if c["kind"] == "Job" else c for c in children]
    run2 = dict(run, status=d.status)
    d2 = decide(inp(run2, admitted, [], now=at(7300)))
    assert d2.status["phase"] == "Queued" and d2.status["pendingSince"] == at(7300)
    d3 = decide(inp(dict(run2, status=d2.status), admitted, [], now=at(7361)))
    assert d3.status["phase"] == "Failed"


def test_a_run_that_ran_is_not_failed_by_the_deadline_when_a_pod_is_pending_again():
    run, children = launch(make_run(startDeadlineSeconds=60))
    pods = [running_pod("r1-a"), running_pod("r1-node-1-b")]
    d = decide(inp(run, active(children), pods, now=at(30)))
    assert d.status["phase"] == "Running" and "pendingSince" not in d.status
    # Node 1's pod was replaced and its successor cannot be scheduled: still Running, never a start failure.
    later = [running_pod("r1-a"), pending_pod("r1-node-1-c")]
    d2 = decide(inp(dict(run, status=d.status), active(children), later, now=at(7200)))
    assert d2.status["phase"] == "Running" and d2.deletes == []


def test_a_node_failure_deletes_only_the_node_jobs_still_active():
    run, children = launch(make_run(nodes=3))
    node_jobs = {j["metadata"]["name"]: j for j in jobs(children)}
    failed = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "too many"}
    complete = {"type": "Complete", "status": "True"}
    observed = [c for c in children if c["kind"] != "Job"] + [
        with_status(node_jobs["r1"], active=1),
        with_status(node_jobs["r1-node-1"], failed=4, conditions=[failed]),
        with_status(node_jobs["r1-node-2"], succeeded=1, conditions=[complete]),
    ]
    d = decide(inp(run, observed, [running_pod("r1-a")], now=at(100)))
    assert d.status["phase"] == "Failed" and d.status["completionTime"]
    assert d.deletes == [(JOB, "r1")]

    # An ended run whose cleanup did not get through is cleaned up from its record; nothing else happens.
    ended = dict(run, status=d.status)
    again = decide(inp(ended, observed, [], now=at(200)))
    assert again.deletes == [(JOB, "r1")] and again.creates == [] and again.status["phase"] == "Failed"
    gone = [c for c in observed if c["metadata"]["name"] != "r1" or c["kind"] != "Job"]
    assert decide(inp(ended, gone, [], now=at(300))).deletes == []


def test_success_needs_every_node_job_complete():
    run, children = launch(make_run(nodes=2))
    complete = {"type": "Complete", "status": "True"}
    node0, node1 = jobs(children)
    others = [c for c in children if c["kind"] != "Job"]
    done0 = with_status(node0, succeeded=1, completionTime=at(50), conditions=[complete])

    only_node0 = decide(inp(run, [*others, done0], [], now=at(60)))
    assert only_node0.status["phase"] != "Succeeded" and only_node0.deletes == []
    running = decide(inp(run, [*others, done0, with_status(node1, active=1)], [running_pod("b")], now=at(60)))
    assert running.status["phase"] == "Running"
    done1 = with_status(node1, succeeded=1, completionTime=at(55), conditions=[complete])
    both = decide(inp(run, [*others, done0, done1], [], now=at(60)))
    assert (
        both.status["phase"] == "Succeeded" and both.deletes == [] and both.status["completionTime"] == at(55)
    )
    assert cond(both.status, "Succeeded")["reason"] == "AllNodesSucceeded"


def test_pytorchjob_is_suspended_or_deleted_on_a_start_deadline_failure():
    run, children = launch(make_run(launcher="pytorchjob", startDeadlineSeconds=60))
    d = decide(inp(run, children, [pending_pod("r1-master-0")], now=at(61)))
    assert d.status["phase"] == "Failed" and d.deletes == []
    assert d.patches == [(PYTORCHJOB, "r1", {"spec": {"runPolicy": {"suspend": True}}})]
    assert "suspended the PyTorchJob r1" in cond(d.status, "Failed")["message"]

    # An API that dropped runPolicy.suspend (an old training operator) cannot suspend: delete instead.
    old_api = [
        dict(c, spec=dict(c["spec"], runPolicy={"backoffLimit": 3})) if c["kind"] == "PyTorchJob" else c
        for c in children
    ]
    d = decide(inp(run, old_api, [], now=at(61)))
    assert d.patches == [] and d.deletes == [(PYTORCHJOB, "r1")]
    assert "deleted the PyTorchJob r1" in cond(d.status, "Failed")["message"]


def test_start_deadline_setting_reads_durations(monkeypatch):
    monkeypatch.setenv("TRAINING_HUB_START_DEADLINE_SECONDS", "10m")
    assert OperatorSettings.from_env().start_deadline_seconds == 600
    monkeypatch.setenv("TRAINING_HUB_START_DEADLINE_SECONDS", "90")
    assert OperatorSettings.from_env().start_deadline_seconds == 90
    monkeypatch.delenv("TRAINING_HUB_START_DEADLINE_SECONDS")
    assert OperatorSettings.from_env().start_deadline_seconds == 1800


def restarted_pod(name: str, exit_code: int, message: str) -> dict[str, Any]:
    """A pod restarted in place (restartPolicy OnFailure) after its container exited."""
    last = {"terminated": {"exitCode": exit_code, "reason": "Error", "message": message}}
    status = {
        "phase": "Running",
        "containerStatuses": [{"name": "pytorch", "state": {"running": {}}, "lastState": last}],
    }
    return {"metadata": {"name": name}, "status": status}


def test_a_pod_that_reports_bad_input_ends_a_running_pytorchjob_at_once():
    run, children = launch(make_run(launcher="pytorchjob", nodes=1))
    running = [
        with_status(c, conditions=[{"type": "Running", "status": "True"}]) if c["kind"] == "PyTorchJob" else c
        for c in children
    ]
    # A retryable failure (exit 4, a lost peer) is the restart policy's business: the run keeps running.
    d = decide(
        inp(run, running, [restarted_pod("r1-master-0", 4, "InfrastructureError: peer lost")], now=at(5))
    )
    assert d.status["phase"] == "Running" and d.patches == [] and d.deletes == []
    # Bad input (exit 3): the in-place restarts would only repeat it until the backoffLimit.
    bad = "InvalidInput: bad data line /mnt/pvc/datasets/chat/train.jsonl:7: not JSON"
    d = decide(inp(run, running, [restarted_pod("r1-master-0", 3, bad)], now=at(6)))
    failed = cond(d.status, "Failed")
    assert d.status["phase"] == "Failed" and d.status["completionTime"] == at(6)
    assert failed["reason"] == "InvalidData" and "pvc://datasets/chat/train.jsonl:7" in failed["message"]
    assert d.patches == [(PYTORCHJOB, "r1", {"spec": {"runPolicy": {"suspend": True}}})]
    assert ("Warning", "Failed") in [(t, r) for t, r, _ in d.events]
