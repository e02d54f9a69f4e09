"""A launched run whose pods wait gets its reason at the operator's next re-check (every 10 s), not at the
full resync: pod changes trigger no reconcile, so the ``Queued`` runs waiting on pods are re-checked with
the ``Planning``/``Pending`` ones (``handlers.waiting_runs``).

The operator runs with a 10-minute resync here, so a reason seen within the test's bound came from the
re-check. The causes are real: kube-scheduler finds no node with GPUs (the plane's CPU node), and the local
kubelet's node does not have the run's image (``training_hub.local.images``: kubelet 1.20's
``ErrImagePull`` / ``ImagePullBackOff``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import make_namespace
from tests.cluster.objects import bound_claim, cpu_run, wait_queued_reason
from tests.controlplane.cluster import ControlPlane
from training_hub.local import LocalExecutor
from training_hub.local.kubelet import LocalKubelet

pytestmark = pytest.mark.integration

#: Well above the 10 s re-check (a loaded 2-core machine), far below the 600 s resync of the operator.
WITHIN = 60.0


def test_waiting_runs_get_their_reason_at_the_next_recheck_not_the_resync(
    control_plane: ControlPlane, operator_factory: Any, tmp_path: Path
) -> None:
    plane = control_plane
    ns = {case: make_namespace(plane, case) for case in ("gpus", "image")}
    operator_factory(namespaces=list(ns.values()), extra_args=["--resync-seconds=600"])
    for namespace in ns.values():
        bound_claim(plane, namespace, "out", tmp_path / "claims" / namespace / "out")
    image = "registry.example.com/team/trainer:v9"
    executor = LocalExecutor(tmp_path / "root", pvc_root=tmp_path / "claims" / ns["image"])
    # The kubelet of the plane's CPU node: it has no image at all.
    with LocalKubelet(plane.api_client(), ns["image"], executor, images=[]):
        start = time.monotonic()
        plane.apply(cpu_run("gpus", resources={"gpusPerNode": 8}), namespace=ns["gpus"])
        plane.apply(cpu_run("image", runtime={"image": image}), namespace=ns["image"])

        gpus = wait_queued_reason(plane, ns["gpus"], "gpus", "Unschedulable", WITHIN)
        assert "Insufficient nvidia.com/gpu" in gpus["message"], gpus
        pull = wait_queued_reason(plane, ns["image"], "image", "ImagePullFailed", WITHIN)
        elapsed = time.monotonic() - start
        # The kubelet's words: the runtime's pull error (ErrImagePull) or the back-off after it.
        assert "ErrImagePull" in pull["message"] or "ImagePullBackOff" in pull["message"], pull
        assert f'"{image}"' in pull["message"] or image in pull["message"], pull
        assert "spec.runtime.image" in pull["message"], pull
        events = plane.events_for(ns["image"], "image", reasons=("ImagePullFailed",))
        assert any(image in e["message"] for e in events if e["reason"] == "ImagePullFailed"), events
        assert elapsed < WITHIN * 2
        pods = plane.kubectl_json("get", "pods", "-n", ns["image"], "-l", "traininghub.io/run=image")["items"]
        waiting = pods[0]["status"]["containerStatuses"][0]["state"]["waiting"]
        assert waiting["reason"] in ("ErrImagePull", "ImagePullBackOff"), waiting
    for case, namespace in ns.items():
        run = plane.kubectl_json("get", "trainingrun", case, "-n", namespace)
        assert run["status"]["phase"] == "Queued", (case, run["status"])
        plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
