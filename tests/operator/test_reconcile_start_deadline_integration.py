"""The start deadline against a real Kubernetes 1.20 control plane (no scheduler, no kubelet: pods stay
Pending), with the operator as a separate process and the ``native`` launcher (Jobs + headless Service)."""

from __future__ import annotations

import time

import pytest

from tests.controlplane.cluster import wait_until
from tests.support.trainingruns import get_run, run_manifest, wait_for_phase

pytestmark = pytest.mark.integration


def test_pending_native_run_fails_at_its_start_deadline_and_its_jobs_are_deleted(
    operator_plane, namespace, operator_factory
):
    op = operator_factory(namespaces=[namespace], extra_args=["--resync-seconds=1"])
    manifest = run_manifest(
        "slow-start",
        launcher="native",
        resources={"nodes": 2, "gpusPerNode": 1, "gpuMemory": "80Gi"},
        startDeadlineSeconds=5,
    )
    operator_plane.apply(manifest, namespace=namespace)

    def job_names() -> list[str]:
        items = operator_plane.kubectl_json(
            "get", "jobs", "-n", namespace, "-l", "traininghub.io/run=slow-start"
        )
        return sorted(
            j["metadata"]["name"] for j in items["items"] if not j["metadata"].get("deletionTimestamp")
        )

    def pods() -> list[dict]:
        items = operator_plane.kubectl_json(
            "get", "pods", "-n", namespace, "-l", "traininghub.io/run=slow-start"
        )
        return list(items["items"])

    # The Job controller creates the node pods; nobody schedules them.
    wait_until(lambda: job_names() == ["slow-start", "slow-start-node-1"], 30, message="two node Jobs")
    wait_until(lambda: len(pods()) == 2, 30, message="the Job controller creates the node pods")
    status = get_run(operator_plane, namespace, "slow-start")["status"]
    assert status["phase"] in ("Queued", "Failed"), status  # never Running: the pods are Pending

    run = wait_for_phase(operator_plane, namespace, "slow-start", "Failed", timeout=60)
    status = run["status"]
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and failed["reason"] == "StartDeadlineExceeded", failed
    assert "not scheduled yet" in failed["message"] and "slow-start-" in failed["message"]
    assert "deleted the unfinished node Job(s)" in failed["message"]
    assert status["completionTime"] and status["pendingSince"]

    # The node Jobs and their pods go; the run keeps its record and is not relaunched.
    wait_until(lambda: job_names() == [], 30, message="the node Jobs are deleted")
    wait_until(lambda: [p for p in pods() if not p["metadata"].get("deletionTimestamp")] == [], 60)
    time.sleep(2)
    assert job_names() == []
    assert get_run(operator_plane, namespace, "slow-start")["status"]["phase"] == "Failed"
    assert 'traininghub_events_total{reason="StartDeadlineExceeded",type="Warning"}' in op.metrics()
