"""GitOps against the real operator: the Argo CD health check on statuses the operator wrote, and
declarative, idempotent manifests (a second `kubectl apply` of an unchanged TrainingRun changes nothing)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controlplane.cluster import ControlPlane
from tests.gitops.lua_health import argo_health
from tests.support.trainingruns import trainingrun

pytestmark = pytest.mark.integration

CRD = Path(__file__).resolve().parents[2] / "crds" / "traininghub.io_trainingruns.yaml"


def run_manifest(name: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "algorithm": "sft",
        "model": {"uri": "tiny://llama?hidden_size=64&layers=2"},
        "data": {"uri": "tiny://messages?samples=64"},
        "output": {"uri": f"pvc://training-output/{name}"},
        "hyperparameters": {
            "effective_batch_size": 8,
            "learning_rate": 0.001,
            "max_seq_len": 128,
            "max_steps": 2,
        },
        "resources": {"nodes": 1, "gpusPerNode": 0},
        "launcher": "native",
    }
    base.update(spec)
    return trainingrun(name, base)


def settled(plane: ControlPlane, ns: str, name: str, phases: set[str], timeout: float = 60) -> dict[str, Any]:
    """Wait until the operator has reconciled the current generation into one of ``phases``."""
    deadline = time.monotonic() + timeout
    obj: dict[str, Any] = {}
    while time.monotonic() < deadline:
        obj = plane.kubectl_json("get", "trainingrun", name, "-n", ns)
        st = obj.get("status") or {}
        if st.get("observedGeneration") == obj["metadata"]["generation"] and st.get("phase") in phases:
            return obj
        time.sleep(0.5)
    raise AssertionError(f"{ns}/{name} did not reach {phases}: {obj.get('status')}")


@pytest.fixture
def operator_ns(control_plane: ControlPlane, namespace: str, operator_factory: Any) -> str:
    control_plane.apply(CRD)
    control_plane.wait_for_crd("trainingruns.traininghub.io")
    operator_factory(namespaces=[namespace])
    return namespace


def test_health_of_statuses_the_operator_wrote(control_plane: ControlPlane, operator_ns: str) -> None:
    ns = operator_ns
    control_plane.apply(run_manifest("dry", dryRun=True), namespace=ns)
    control_plane.apply(run_manifest("launched"), namespace=ns)
    bad = run_manifest("bad")
    bad["spec"]["hyperparameters"]["lora_r"] = 8  # a LoRA parameter on an SFT run: refused by the operator
    control_plane.apply(bad, namespace=ns)

    dry = settled(control_plane, ns, "dry", {"Pending"})
    assert argo_health(dry)[0] == "Healthy"

    launched = settled(control_plane, ns, "launched", {"Queued", "Running"})
    status, message = argo_health(launched)
    assert status == "Progressing" and message

    refused = settled(control_plane, ns, "bad", {"Failed", "Pending"})
    status, message = argo_health(refused)
    assert status == "Degraded" and "lora_r" in message

    # A spec change the operator has not seen yet is Progressing, whatever the old status said.
    stale = dict(dry)
    stale["metadata"] = {**dry["metadata"], "generation": dry["metadata"]["generation"] + 1}
    assert argo_health(stale)[0] == "Progressing"

    # Deleting the workload under a running run is a failure the operator reports: Degraded.
    job = launched["status"]["workload"]["name"]
    control_plane.kubectl("delete", "job", job, "-n", ns, "--wait=false")
    gone = settled(control_plane, ns, "launched", {"Failed"})
    status, message = argo_health(gone)
    assert status == "Degraded" and message


def test_reapplying_an_unchanged_run_changes_nothing(control_plane: ControlPlane, operator_ns: str) -> None:
    ns = operator_ns
    manifest = yaml.safe_dump(run_manifest("idem", dryRun=True))
    control_plane.kubectl("apply", "-n", ns, "-f", "-", input=manifest)
    first = settled(control_plane, ns, "idem", {"Pending"})
    time.sleep(2)  # let any follow-up reconcile (events, resync) land before taking the reference
    first = control_plane.kubectl_json("get", "trainingrun", "idem", "-n", ns)
    out = control_plane.kubectl("apply", "-n", ns, "-f", "-", input=manifest).stdout
    assert "unchanged" in out
    again = control_plane.kubectl_json("get", "trainingrun", "idem", "-n", ns)
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["metadata"]["generation"] == first["metadata"]["generation"]
    # The operator does not write into spec (a GitOps tool would fight it): the live spec is what was applied,
    # plus the schema's defaults.
    applied = run_manifest("idem", dryRun=True)["spec"]
    for key, value in applied.items():
        assert again["spec"][key] == value or (
            isinstance(value, dict) and value.items() <= again["spec"][key].items()
        )
    # Children are idempotent too: a resync after the re-apply creates nothing (a dry run has no children;
    # no run has a ConfigMap: its spec travels in the workload's pod template).
    cms = control_plane.kubectl_json("get", "configmaps", "-n", ns, "-l", "traininghub.io/run=idem")["items"]
    assert cms == []
