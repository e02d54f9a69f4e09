"""GPU runs through real scheduling decisions: kube-scheduler 1.20 and Node objects shaped like GPU nodes.

The nodes are registered and heartbeated as a kubelet does (``training_hub.local.nodes``): ``nvidia.com/gpu:
8`` (what the NVIDIA device plugin advertises), the GPU feature discovery labels and the
``nvidia.com/gpu=present:NoSchedule`` taint of GPU pools. The scheduler decides; the local kubelet runs only
the pods bound to the nodes it plays. The pods request 8 GPUs each; the tiny model trains on CPU (torchrun
starts the 8 processes per pod the GPU count asks for, talking over gloo).
"""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.objects import bound_claim, condition, cpu_run
from tests.controlplane.cluster import ControlPlane, wait_until
from tests.support.trainingruns import wait_finished
from training_hub.local import LocalExecutor
from training_hub.local.kubelet import LocalKubelet
from training_hub.local.nodes import NodeHeartbeat, NodeSpec

RUN_TIMEOUT = float(os.environ.get("TH_E2E_RUN_TIMEOUT", "420"))


def pods_of(plane: ControlPlane, namespace: str, run: str) -> list[dict[str, Any]]:
    return list(
        plane.kubectl_json("get", "pods", "-n", namespace, "-l", f"traininghub.io/run={run}")["items"]
    )


@pytest.mark.e2e
def test_two_by_eight_gpu_gang_is_scheduled_onto_two_gpu_nodes_and_trains(
    control_plane: ControlPlane, namespace: str, operator_factory: Any, tmp_path: Path
) -> None:
    operator = operator_factory(namespaces=[namespace])
    bound_claim(control_plane, namespace, "out", tmp_path / "claims" / "out")
    suffix = uuid.uuid4().hex[:5]
    gpu_nodes = [NodeSpec.gpu(f"gpu-a-{suffix}"), NodeSpec.gpu(f"gpu-b-{suffix}")]
    log = io.StringIO()
    executor = LocalExecutor(
        tmp_path / "root", pvc_root=tmp_path / "claims", output=log, extra_env={"OMP_NUM_THREADS": "1"}
    )
    name = "gang"
    with LocalKubelet(
        control_plane.api_client(),
        namespace,
        executor,
        nodes=gpu_nodes,
        label_selector=f"traininghub.io/run={name}",
    ):
        control_plane.apply(cpu_run(name, nodes=2, resources={"gpusPerNode": 8}), namespace=namespace)
        status = wait_finished(control_plane, namespace, name, RUN_TIMEOUT, log)
        placed = {
            p["metadata"]["name"]: p["spec"].get("nodeName") for p in pods_of(control_plane, namespace, name)
        }
    assert status.get("phase") == "Succeeded", f"{status}\n{log.getvalue()[-4000:]}\n{operator.log_tail()}"
    # The scheduler put one pod on each GPU node (8 GPUs each: no node can take both).
    assert sorted(placed.values()) == sorted(n.name for n in gpu_nodes), placed
    assert status["plan"]["totalGpus"] == 16
    assert "node 0 of 2 x 8 processes" in log.getvalue() and "node 1 of 2 x 8 processes" in log.getvalue()


@pytest.mark.integration
def test_three_by_eight_on_two_gpu_nodes_stays_pending_with_the_schedulers_reason(
    control_plane: ControlPlane, namespace: str, operator_factory: Any
) -> None:
    operator_factory(namespaces=[namespace], extra_args=["--resync-seconds=2"])
    suffix = uuid.uuid4().hex[:5]
    nodes = NodeHeartbeat(
        control_plane.api_client(), [NodeSpec.gpu(f"gpu-c-{suffix}"), NodeSpec.gpu(f"gpu-d-{suffix}")]
    )
    name = "too-big"
    with_nodes = nodes.start()
    try:
        # The output claim exists and is bound: the GPUs are the only reason left.
        bound_claim(control_plane, namespace, "out", Path(f"/tmp/th-{namespace}"))
        control_plane.apply(cpu_run(name, nodes=3, resources={"gpusPerNode": 8}), namespace=namespace)

        def unschedulable() -> dict[str, Any]:
            queued = condition(control_plane, namespace, name, "Queued")
            return queued if queued.get("reason") == "Unschedulable" else {}

        queued = wait_until(unschedulable, 60, message="the run reports the scheduler's reason")
        pods = pods_of(control_plane, namespace, name)
        bound = [p for p in pods if p["spec"].get("nodeName")]
        assert len(pods) == 3 and len(bound) == 2, [
            (p["metadata"]["name"], p["spec"].get("nodeName")) for p in pods
        ]
        # The scheduler's own words, quoted (e.g. "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.").
        assert "Insufficient nvidia.com/gpu" in queued["message"], queued
        assert "nodes are available" in queued["message"], queued
        run = control_plane.kubectl_json("get", "trainingrun", name, "-n", namespace)
        assert run["status"]["phase"] == "Queued"
        events = control_plane.events_for(namespace, name, reasons=("Unschedulable",))
        assert any(
            "Insufficient nvidia.com/gpu" in e["message"] for e in events if e["reason"] == "Unschedulable"
        )
    finally:
        with_nodes.stop()
