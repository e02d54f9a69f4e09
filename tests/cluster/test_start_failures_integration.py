"""Every reason a run cannot start, produced for real on the local control plane, becomes a condition and an
Event on the run with the API's own message and the object to fix.

Produced here (Kubernetes 1.20): pods refused at create by the ``ServiceAccount`` admission plugin (a missing
ServiceAccount), by ``ResourceQuota`` and by ``LimitRanger`` (the Job controller's ``FailedCreate`` Events);
a claim that does not exist and one that stays ``Pending`` (the scheduler's messages); a missing Secret key
(the kubelet's ``CreateContainerConfigError``, from the local kubelet that resolves env references as
1.20's kubelet does). Elsewhere: PodSecurityPolicy on a plane of its own
(``test_pod_security_integration.py``: enabling it refuses every pod without a usable policy), image pulls
(``test_waiting_runs_integration.py``: the local kubelet's image store); Pod Security admission (1.23+) by
its message format in ``tests/operator/test_diagnosis.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import make_namespace
from tests.cluster.objects import bound_claim, cpu_run, wait_queued_reason
from tests.controlplane.cluster import ControlPlane, wait_until
from training_hub.local import LocalExecutor
from training_hub.local.kubelet import LocalKubelet

pytestmark = pytest.mark.integration


def assert_event(plane: ControlPlane, namespace: str, name: str, reason: str, text: str) -> None:
    events = plane.events_for(namespace, name, reasons=(reason,))
    assert any(text in e["message"] for e in events if e["reason"] == reason), events


def test_each_reason_a_run_cannot_start_is_a_condition_and_an_event(
    control_plane: ControlPlane, operator_factory: Any, tmp_path: Path
) -> None:
    plane = control_plane
    ns = {
        case: make_namespace(plane, case) for case in ("sa", "quota", "limits", "noclaim", "pending", "key")
    }
    operator_factory(namespaces=list(ns.values()), extra_args=["--resync-seconds=2"])

    # Admission refusals: the Job controller cannot create the pod.
    plane.apply(cpu_run("sa", runtime={"serviceAccountName": "trainer"}), namespace=ns["sa"])
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-pods"},
        "spec": {"hard": {"pods": "0"}},
    }
    plane.apply(quota, namespace=ns["quota"])
    wait_until(
        lambda: (
            plane.kubectl_json("get", "resourcequota", "no-pods", "-n", ns["quota"]).get("status") or {}
        ).get("hard"),
        60,
        message="the quota controller computed the quota",
    )
    plane.apply(cpu_run("quota"), namespace=ns["quota"])
    limits = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "small"},
        "spec": {"limits": [{"type": "Container", "max": {"memory": "1Gi"}}]},
    }
    plane.apply(limits, namespace=ns["limits"])
    plane.apply(cpu_run("limits", resources={"memory": "2Gi"}), namespace=ns["limits"])
    # Claims: one that does not exist, one that never binds (no volume, no provisioner).
    plane.apply(cpu_run("noclaim", claim="nothere"), namespace=ns["noclaim"])
    pending = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "unbound"},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "resources": {"requests": {"storage": "1Gi"}},
            "storageClassName": "",
        },
    }
    plane.apply(pending, namespace=ns["pending"])
    plane.apply(cpu_run("pending", claim="unbound"), namespace=ns["pending"])
    # A Secret without the key the pod's env names: the kubelet cannot configure the container.
    bound_claim(plane, ns["key"], "out", tmp_path / "claims" / "out")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hf"}, "stringData": {"other": "x"}}
    plane.apply(secret, namespace=ns["key"])
    plane.apply(
        cpu_run("key", runtime={"hfTokenSecretRef": {"name": "hf", "key": "token"}}), namespace=ns["key"]
    )
    executor = LocalExecutor(tmp_path / "root", pvc_root=tmp_path / "claims")

    with LocalKubelet(plane.api_client(), ns["key"], executor):
        sa = wait_queued_reason(plane, ns["sa"], "sa", "ServiceAccountNotFound", 90)
        assert (
            'serviceaccount \\"trainer\\" not found' in sa["message"]
            or 'serviceaccount "trainer" not found' in sa["message"]
        )
        assert f"create ServiceAccount trainer in namespace {ns['sa']}" in sa["message"]
        assert_event(plane, ns["sa"], "sa", "ServiceAccountNotFound", "error looking up service account")

        q = wait_queued_reason(plane, ns["quota"], "quota", "QuotaExceeded", 90)
        assert "exceeded quota: no-pods" in q["message"] and "ResourceQuota no-pods" in q["message"], q
        assert_event(plane, ns["quota"], "quota", "QuotaExceeded", "exceeded quota: no-pods")

        lim = wait_queued_reason(plane, ns["limits"], "limits", "LimitRangeRefused", 90)
        assert "maximum memory usage per Container is 1Gi" in lim["message"], lim
        assert_event(plane, ns["limits"], "limits", "LimitRangeRefused", "maximum memory usage per Container")

        missing = wait_queued_reason(plane, ns["noclaim"], "noclaim", "ClaimNotFound", 90)
        assert 'persistentvolumeclaim "nothere" not found' in missing["message"], missing
        assert "create PersistentVolumeClaim nothere" in missing["message"]
        assert_event(plane, ns["noclaim"], "noclaim", "ClaimNotFound", "nothere")

        unbound = wait_queued_reason(plane, ns["pending"], "pending", "ClaimNotBound", 90)
        assert "unbound immediate PersistentVolumeClaims" in unbound["message"], unbound
        assert_event(plane, ns["pending"], "pending", "ClaimNotBound", "PersistentVolumeClaims")

        key = wait_queued_reason(plane, ns["key"], "key", "ContainerConfigError", 90)
        assert f"couldn't find key token in Secret {ns['key']}/hf" in key["message"], key
        assert f"add key token to Secret {ns['key']}/hf" in key["message"]
        assert_event(plane, ns["key"], "key", "ContainerConfigError", "couldn't find key token")

    # None of them failed or ran: they wait for the fix (the start deadline ends them otherwise).
    for case, namespace in ns.items():
        run = plane.kubectl_json("get", "trainingrun", case, "-n", namespace)
        assert run["status"]["phase"] == "Queued", (case, run["status"])
    for namespace in ns.values():
        plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
