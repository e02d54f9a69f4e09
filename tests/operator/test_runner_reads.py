"""How the runner reads the cluster (against the real Kubernetes 1.20 control plane): children by name, no
namespace-wide LIST, no reconcile for an event it already saw, and an outdated event body never relaunches
an ended run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.trainingruns import get_run, jobs_in, run_manifest
from training_hub.contracts.kinds import TRAININGRUN
from training_hub_operator.kube import CONFIGMAP, Kube
from training_hub_operator.launchers.pytorchjob import PYTORCHJOB
from training_hub_operator.runner import Runner
from training_hub_operator.settings import OperatorSettings

pytestmark = pytest.mark.integration


class _CountingKube(Kube):
    """A real Kube that records every request as ``(method, path)``."""

    def __init__(self, api_client: Any) -> None:
        super().__init__(api_client)
        self.calls: list[tuple[str, str]] = []

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        self.calls.append((method, path))
        return super().request(method, path, body, **kwargs)


def _created_run(plane: Any, namespace: str, name: str, kube: Kube) -> dict[str, Any]:
    plane.apply(run_manifest(name), namespace=namespace)
    return kube.get(TRAININGRUN, namespace, name) or {}


def _new_run_counted(plane: Any, namespace: str, name: str) -> tuple[_CountingKube, Runner, dict[str, Any]]:
    """A new run (as stored), a fresh runner and its counting Kube, with no request counted yet."""
    kube = _CountingKube(plane.api_client())
    run = _created_run(plane, namespace, name, kube)
    kube.calls.clear()
    return kube, Runner(kube, OperatorSettings()), run


def test_launch_reads_children_by_name_and_skips_the_event_of_its_own_create(operator_plane, namespace):
    kube, runner, run = _new_run_counted(operator_plane, namespace, "reads")

    assert runner.reconcile(run, "create") == "Queued"
    lists = [p for m, p in kube.calls if m == "GET" and p.rsplit("/", 1)[-1] in ("configmaps", "pytorchjobs")]
    assert lists == []  # no namespace-wide LIST of children
    # A run never reconciled (no status) has no children to read: it creates them (409 means adopt).
    assert not [p for m, p in kube.calls if m == "GET" and ("/pytorchjobs/" in p or "/configmaps/" in p)]
    assert [m for m, p in kube.calls if p == TRAININGRUN.path(namespace, "reads")] == ["GET"]  # current?
    assert [p for m, p in kube.calls if m == "POST" and p.endswith("/pytorchjobs")] == [
        PYTORCHJOB.path(namespace)
    ]
    # Once it has a status, a reconcile reads its children by name.
    kube.calls.clear()
    assert runner.reconcile_by_name(namespace, "reads", "resync") == "Queued"
    assert ("GET", PYTORCHJOB.path(namespace, "reads")) in kube.calls
    assert not [
        p for m, p in kube.calls if m == "GET" and p.rsplit("/", 1)[-1] in ("configmaps", "pytorchjobs")
    ]

    job = kube.get(PYTORCHJOB, namespace, "reads")
    assert job is not None
    kube.calls.clear()
    # The job's ADDED event carries the state the reconcile already used: nothing to do.
    assert runner.child_event(namespace, "reads", job, "PyTorchJob", "pytorchjob-event", False) is None
    assert kube.calls == []
    # A changed job (new resourceVersion) is reconciled.
    job["metadata"]["resourceVersion"] = "0"
    assert runner.child_event(namespace, "reads", job, "PyTorchJob", "pytorchjob-event", False) == "Queued"
    assert kube.calls
    # The watch event of the operator's own status write (same generation) needs no reconcile.
    assert runner.trigger_for(get_run(operator_plane, namespace, "reads"), "MODIFIED") is None


def test_an_outdated_body_does_not_relaunch_an_ended_run(operator_plane, namespace):
    kube = Kube(operator_plane.api_client())
    runner = Runner(kube, OperatorSettings())
    outdated = _created_run(operator_plane, namespace, "ended", kube)
    assert Runner(kube, OperatorSettings()).reconcile(dict(outdated), "create") == "Queued"
    # The run ends and its job is cleaned up (a TTL, a person).
    now = "2026-01-01T00:00:00Z"
    kube.patch(
        TRAININGRUN,
        namespace,
        "ended",
        {"status": {"phase": "Succeeded", "completionTime": now}},
        subresource="status",
    )
    kube.delete(PYTORCHJOB, namespace, "ended")
    assert [j for j in jobs_in(operator_plane, namespace) if not j["metadata"].get("deletionTimestamp")] == []

    # A reconcile from the body as it was at creation (no status) reads the run before creating anything.
    assert runner.reconcile(outdated, "create") == "Succeeded"
    assert [j for j in jobs_in(operator_plane, namespace) if not j["metadata"].get("deletionTimestamp")] == []
    assert get_run(operator_plane, namespace, "ended")["status"]["phase"] == "Succeeded"


def test_a_new_run_whose_job_name_is_taken_fails_with_name_conflict(operator_plane, namespace):
    """The first reconcile creates without reading; the API server's 409 for a job that belongs to
    someone else is read back and decided on (NameConflict), and that job is left alone."""
    kube = Kube(operator_plane.api_client())
    foreign = {
        "apiVersion": PYTORCHJOB.api_version,
        "kind": PYTORCHJOB.kind,
        "metadata": {"name": "taken", "namespace": namespace, "labels": {"owner": "someone-else"}},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {
                    "replicas": 1,
                    "template": {"spec": {"containers": [{"name": "pytorch", "image": "x"}]}},
                }
            }
        },
    }
    kube.create(PYTORCHJOB, foreign)
    run = _created_run(operator_plane, namespace, "taken", kube)

    assert Runner(kube, OperatorSettings()).reconcile(run, "create") == "Failed"
    status = get_run(operator_plane, namespace, "taken")["status"]
    accepted = next(c for c in status["conditions"] if c["type"] == "Accepted")
    assert accepted["status"] == "False" and accepted["reason"] == "NameConflict"
    job = kube.get(PYTORCHJOB, namespace, "taken")
    assert job is not None and job["metadata"]["labels"] == {"owner": "someone-else"}
    assert not job["metadata"].get("ownerReferences")


def test_a_configmap_at_the_old_config_name_does_not_stop_the_launch(operator_plane, namespace):
    """The operator creates no ConfigMap any more (the run spec is in the pod template): a ConfigMap named
    ``<run>-config`` (someone else's, or one an earlier operator left) neither blocks the run nor is touched."""
    kube = Kube(operator_plane.api_client())
    kube.create(
        CONFIGMAP,
        {"metadata": {"name": "cm-taken-config", "namespace": namespace}, "data": {"run.json": "{}"}},
    )
    run = _created_run(operator_plane, namespace, "cm-taken", kube)

    assert Runner(kube, OperatorSettings()).reconcile(run, "create") == "Queued"
    (job,) = jobs_in(operator_plane, namespace)
    env = {
        e["name"]: e.get("value")
        for e in job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["env"]
    }
    assert json.loads(env["TRAINING_HUB_RUN_SPEC"])["run"]["name"] == "cm-taken"
    kept = kube.get(CONFIGMAP, namespace, "cm-taken-config") or {}
    assert kept.get("data") == {"run.json": "{}"} and not kept["metadata"].get("ownerReferences")


def _namespaced(calls: list[tuple[str, str]], namespace: str) -> list[tuple[str, str]]:
    """The requests about objects of ``namespace``, as ``(method, resource[/subresource])``."""
    out = []
    for method, path in calls:
        parts = path.split("?")[0].split("/")
        if "namespaces" in parts and parts[parts.index("namespaces") + 1] == namespace:
            rest = parts[parts.index("namespaces") + 2 :]
            out.append((method, "/".join([rest[0], *rest[2:]])))
    return out


def test_a_first_event_body_launches_with_three_requests_and_an_event_and_no_get_of_the_run(
    operator_plane, namespace
):
    kube, runner, run = _new_run_counted(operator_plane, namespace, "first")

    # The watch delivers the new run (ADDED): its body is the newest version this process knows.
    assert runner.trigger_for(run, "ADDED") == "create"
    assert runner.reconcile(run, "create") == "Queued"
    assert sorted(_namespaced(kube.calls, namespace)) == [
        ("PATCH", "trainingruns/status"),
        ("POST", "events"),
        ("POST", "pytorchjobs"),
    ]
    status = get_run(operator_plane, namespace, "first")["status"]
    assert status["workload"]["uid"] == (kube.get(PYTORCHJOB, namespace, "first") or {})["metadata"]["uid"]


def test_a_late_event_body_after_the_runs_own_write_is_read_before_creating(operator_plane, namespace):
    """Once this process wrote a run's status, only that write's version is taken as current: an event
    handled late (older than the write) is read again, and the ended run is not relaunched."""
    kube = _CountingKube(operator_plane.api_client())
    runner = Runner(kube, OperatorSettings())
    added = _created_run(operator_plane, namespace, "late", kube)
    assert runner.trigger_for(added, "ADDED") == "create"
    assert runner.reconcile(dict(added), "create") == "Queued"
    assert runner.trigger_for(added, "ADDED") is None  # the late event: not newer than the write
    kube.patch(
        TRAININGRUN,
        namespace,
        "late",
        {"status": {"phase": "Succeeded", "completionTime": "2026-01-01T00:00:00Z"}},
        subresource="status",
    )
    kube.delete(PYTORCHJOB, namespace, "late")
    kube.calls.clear()

    assert runner.reconcile(dict(added), "create") == "Succeeded"
    assert ("GET", "trainingruns") in _namespaced(kube.calls, namespace)
    assert [j for j in jobs_in(operator_plane, namespace) if not j["metadata"].get("deletionTimestamp")] == []


def test_decide_runs_once_per_reconcile(operator_plane, namespace, monkeypatch):
    """One decision per reconcile: the launch (creates) and a suspend (patch) settle their status from the
    API server's answers without deciding again."""
    import training_hub_operator.runner as runner_module

    calls: list[str] = []
    real = runner_module.decide

    def counting(inp: Any) -> Any:
        calls.append(inp.who.name)
        return real(inp)

    monkeypatch.setattr(runner_module, "decide", counting)
    kube = Kube(operator_plane.api_client())
    runner = Runner(kube, OperatorSettings())
    _created_run(operator_plane, namespace, "once", kube)
    assert runner.reconcile_by_name(namespace, "once", "create") == "Queued"
    assert calls == ["once"]
    status = get_run(operator_plane, namespace, "once")["status"]
    assert status["workload"].get("uid") and status.get("pendingSince")

    calls.clear()
    kube.patch(TRAININGRUN, namespace, "once", {"spec": {"suspend": True}})
    assert runner.reconcile_by_name(namespace, "once", "update") == "Suspended"
    assert calls == ["once"]
    job = kube.get(PYTORCHJOB, namespace, "once") or {}
    assert job["spec"]["runPolicy"]["suspend"] is True
