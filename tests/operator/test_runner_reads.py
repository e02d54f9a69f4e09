"""How the runner reads the cluster (against the real Kubernetes 1.20 control plane): children by name, no
namespace-wide LIST, no reconcile for an event it already saw, and an outdated event body never relaunches
an ended run."""

from __future__ import annotations

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


def test_launch_reads_children_by_name_and_skips_the_event_of_its_own_create(operator_plane, namespace):
    kube = _CountingKube(operator_plane.api_client())
    runner = Runner(kube, OperatorSettings())
    run = _created_run(operator_plane, namespace, "reads", kube)
    kube.calls.clear()

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


def test_a_foreign_configmap_at_the_runs_config_name_stops_the_launch(operator_plane, namespace):
    """The ConfigMap is created first; when its name is taken by someone else's, the job (which would
    mount it) is not created."""
    kube = Kube(operator_plane.api_client())
    kube.create(
        CONFIGMAP,
        {"metadata": {"name": "cm-taken-config", "namespace": namespace}, "data": {"run.json": "{}"}},
    )
    run = _created_run(operator_plane, namespace, "cm-taken", kube)

    assert Runner(kube, OperatorSettings()).reconcile(run, "create") == "Failed"
    assert jobs_in(operator_plane, namespace) == []
    status = get_run(operator_plane, namespace, "cm-taken")["status"]
    accepted = next(c for c in status["conditions"] if c["type"] == "Accepted")
    assert accepted["reason"] == "NameConflict" and "cm-taken-config" in accepted["message"]
    assert (kube.get(CONFIGMAP, namespace, "cm-taken-config") or {}).get("data") == {"run.json": "{}"}
