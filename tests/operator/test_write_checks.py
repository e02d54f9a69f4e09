"""What the API server says about the operator's writes (against the real Kubernetes 1.20 control plane):
``fieldValidation=Strict`` only where supported, warnings returned, pruned fields noticed, and a workload
that lost fields is not run: the run says why."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane

# Own plane: these tests install the Kubeflow CRDs, and a plane that serves TrainJob makes ``launcher: auto``
# choose it, which the other tests of this directory do not expect.
from tests.controlplane.fixtures import own_control_plane  # noqa: F401
from tests.support.planes import own_launch_plane  # noqa: F401
from tests.support.runs import tiny_run
from training_hub.contracts.kinds import TRAININGRUN
from training_hub_operator.kube import (
    CONFIGMAP,
    JOB,
    Kube,
    ResourceKind,
    dropped_fields,
    parse_warnings,
)
from training_hub_operator.launchers.trainjob import TRAINJOB
from training_hub_operator.runner import Runner
from training_hub_operator.settings import OperatorSettings
from training_hub_operator.write_checks import REASON_PRUNED, WriteReport

INGRESS_V1BETA1 = ResourceKind("networking.k8s.io/v1beta1", "Ingress", "ingresses")


@pytest.mark.unit
def test_parse_warnings_and_dropped_fields() -> None:
    assert parse_warnings(['299 - "networking.k8s.io/v1beta1 Ingress is deprecated"', "free text"]) == [
        "networking.k8s.io/v1beta1 Ingress is deprecated",
        "free text",
    ]
    sent = {"spec": {"a": 1, "b": {"c": [{"d": 1, "e": 2}]}}, "status": {"x": 1}}
    stored = {"spec": {"a": 2, "b": {"c": [{"d": 1}]}, "defaulted": True}}
    assert dropped_fields(sent, stored) == [".spec.b.c[0].e"]


@pytest.mark.unit
def test_write_report_stalls_a_pruned_or_refused_workload() -> None:
    report = WriteReport()
    sent = {"metadata": {"name": "r"}, "spec": {"runtimePatches": [{"manager": "traininghub.io/operator"}]}}
    report.created(TRAINJOB, sent, {"metadata": {"name": "r"}, "spec": {}})
    assert report.stalled and report.stalled[0] == REASON_PRUNED and "older than v2.2" in report.stalled[1]
    assert report.delete == [(TRAINJOB, "r")]
    status: dict[str, Any] = {}
    report.apply_to(status, 3, "2026-01-01T00:00:00Z")
    assert {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]} == {
        "Stalled": ("True", REASON_PRUNED),
        "Ready": ("False", REASON_PRUNED),
    }
    # Built-in kinds may lose fields by design on older Kubernetes (the native launcher's podFailurePolicy).
    builtin = WriteReport()
    builtin.created(
        JOB,
        {"metadata": {"name": "j"}, "spec": {"podFailurePolicy": {"rules": []}}},
        {"spec": {}},
    )
    assert builtin.stalled is None and not builtin.delete and not builtin.events


@pytest.mark.integration
def test_creates_fall_back_on_120_and_return_warnings_and_pruning(
    launch_plane: ControlPlane, namespace: str
) -> None:
    kube = Kube(launch_plane.api_client())
    # Kubernetes 1.20 has no fieldValidation: the client does not ask for it, and the server prunes.
    assert kube.supports_strict_field_validation() is False
    sent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": namespace},
        "bogus": 1,
    }
    stored = kube.create(CONFIGMAP, sent)
    assert dropped_fields(sent, stored) == [".bogus"]
    warnings: list[str] = []
    ingress = {
        "apiVersion": INGRESS_V1BETA1.api_version,
        "kind": "Ingress",
        "metadata": {"name": "i", "namespace": namespace},
        "spec": {"backend": {"serviceName": "s", "servicePort": 80}},
    }
    kube.create(INGRESS_V1BETA1, ingress, warnings=warnings)
    assert any("deprecated" in w and "Ingress" in w for w in warnings), warnings


class _OldRenderKube(Kube):
    """Sends each TrainJob with a field the served (official-model) schema lacks, as an operator rendering
    for Trainer v2.1 would (``podTemplateOverrides``, removed in v2.2)."""

    def create(self, kind: ResourceKind, obj: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if kind == TRAINJOB:  # in place: the runner compares what it sent with what was stored
            obj["spec"]["podTemplateOverrides"] = [{"targetJobs": [{"name": "node"}]}]
        return super().create(kind, obj, **kwargs)


@pytest.mark.integration
def test_a_pruned_trainjob_is_deleted_and_the_run_says_why(
    launch_plane: ControlPlane, namespace: str
) -> None:
    kube = _OldRenderKube(launch_plane.api_client())
    runner = Runner(kube, OperatorSettings())
    launch_plane.apply(tiny_run("pruned", launcher="trainjob"), namespace=namespace)
    runner.reconcile_by_name(namespace, "pruned", "create")
    run = kube.get(TRAININGRUN, namespace, "pruned") or {}
    conditions = run["status"]["conditions"]
    stalled = next((c for c in conditions if c["type"] == "Stalled"), None)
    assert stalled is not None, json.dumps(run["status"])
    assert stalled["status"] == "True" and stalled["reason"] == REASON_PRUNED
    assert ".spec.podTemplateOverrides" in stalled["message"]
    ready = next(c for c in conditions if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == REASON_PRUNED
    trainjob = kube.get(TRAINJOB, namespace, "pruned")
    assert trainjob is None or trainjob["metadata"].get("deletionTimestamp")
    events = launch_plane.kubectl_json("get", "events", "-n", namespace)["items"]
    assert any(e.get("reason") == REASON_PRUNED for e in events)


@pytest.mark.integration
def test_the_served_trainjob_crd_is_read_and_found_compatible(launch_plane: ControlPlane) -> None:
    from training_hub_operator.launchers.trainjob import LAUNCHER

    crd = Kube(launch_plane.api_client()).crd(TRAINJOB)
    assert crd is not None and crd["metadata"]["name"] == "trainjobs.trainer.kubeflow.org"
    assert LAUNCHER.compatibility(crd) is None
