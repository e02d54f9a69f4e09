"""The operator watches CRDs as kopf designs it (one LIST, then a long WATCH) and still serves a kind whose
CRD is installed after it started.

Its own control plane: installing the PyTorchJob CRD mid-test would change what ``launcher: auto`` picks on a
shared plane. The operator talks to the API server through the benchmark's counting proxy
(``benchmarks/api_proxy.py``), so its requests are counted exactly.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from benchmarks.api_proxy import proxy_kubeconfig, read_counts, start_proxy
from tests.controlplane.cluster import ControlPlane, stop_process
from tests.controlplane.fixtures import own_control_plane  # noqa: F401  (this module's plane)
from tests.controlplane.operator_process import OperatorProcess
from tests.support.official_api import write_crds
from tests.support.trainingruns import CRD, jobs_in, patch_job_status, run_manifest, wait_for_phase

pytestmark = pytest.mark.integration


def test_a_crd_installed_after_the_start_is_served_and_crds_are_listed_once(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    control_plane.install_crds(CRD, restart_controller_manager=False)
    namespace = control_plane.create_namespace("crd-watch")
    proxy: subprocess.Popen[bytes] | None = None
    op: OperatorProcess | None = None
    try:
        proxy, port = start_proxy(control_plane.server, tmp_path)
        op = OperatorProcess(
            proxy_kubeconfig(control_plane.kubeconfig, port, tmp_path),
            namespaces=[namespace],
            log_path=tmp_path / "operator.log",
        )
        op.start()
        time.sleep(2.0)  # kopf is watching; PyTorchJob is not served yet
        control_plane.install_crds(
            *write_crds(tmp_path / "crds", "PyTorchJob"), restart_controller_manager=False
        )

        control_plane.apply(run_manifest("late-crd"), namespace=namespace)
        run = wait_for_phase(control_plane, namespace, "late-crd", "Queued")
        assert run["status"]["launcher"]["name"] == "pytorchjob"
        assert [j["metadata"]["name"] for j in jobs_in(control_plane, namespace)] == ["late-crd"]
        # The job's events reach the operator: kopf started watching PyTorchJobs when their CRD appeared.
        t1 = "2026-01-01T10:01:00Z"
        running = {
            "type": "Running",
            "status": "True",
            "reason": "PyTorchJobRunning",
            "message": "PyTorchJob late-crd is running.",
            "lastUpdateTime": t1,
            "lastTransitionTime": t1,
        }
        patch_job_status(
            control_plane,
            namespace,
            "late-crd",
            {"conditions": [running], "startTime": t1, "replicaStatuses": {"Master": {"active": 1}}},
        )
        wait_for_phase(control_plane, namespace, "late-crd", "Running", timeout=30)

        time.sleep(3.0)  # an idle operator: a CRD list loop would show here (it ran ~8 LISTs a second)
        counts = read_counts(port)["by_kind"]
        assert counts.get("LIST customresourcedefinitions") == 1, counts
        assert counts.get("WATCH customresourcedefinitions") == 1, counts
        assert counts.get("WATCH pytorchjobs", 0) >= 1, counts
    finally:
        if op is not None:
            op.stop()
        if proxy is not None:
            stop_process(proxy)
