"""Every object every launcher renders is kept whole by the official APIs.

Kubeflow objects round-trip through the official models (``kubeflow-trainer-api`` for TrainJob and
ClusterTrainingRuntime, ``kubeflow-training`` for PyTorchJob) with no key dropped; built-in objects
(Service, Job) validate strictly (unknown fields fail) against several Kubernetes releases
(``kubernetes-validate``). See :mod:`tests.support.official_api`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.official_api import (
    BUILTIN_KINDS,
    KUBERNETES_VERSIONS,
    dropped_by_official_model,
    openapi_schema,
    validate_builtin,
)
from tests.support.planes import MANIFESTS
from training_hub.local.runner import load_manifest, render_run

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (REPO / "examples").glob("*.yaml"))
LAUNCHERS = ("trainjob", "pytorchjob", "native")
RUNTIME_MANIFEST = MANIFESTS / "torch-distributed-runtime.yaml"


def _suspend_and_queue(spec: dict[str, Any]) -> None:
    spec.update(suspend=True, queueName="team-a")
    spec.setdefault("runtime", {})["workloadPriorityClassName"] = "team-a-high"


def _lora(spec: dict[str, Any]) -> None:
    spec["algorithm"] = "lora_sft"
    spec["hyperparameters"].update(lora_r=8, lora_alpha=16)


def _osft(spec: dict[str, Any]) -> None:
    spec["algorithm"] = "osft"
    spec["hyperparameters"]["unfreeze_rank_ratio"] = 0.25


def _gpus_4x8(spec: dict[str, Any]) -> None:
    spec["resources"] = {
        "nodes": 4,
        "gpusPerNode": 8,
        "gpuProduct": "NVIDIA-H100-80GB-HBM3",
        "shmSize": "64Gi",
    }


def _every_pod_option(spec: dict[str, Any]) -> None:
    spec["activeDeadlineSeconds"] = 86400
    spec["output"] = {"uri": "s3://bucket/out"}
    spec["storage"] = {"secretRef": {"name": "s3"}, "endpoint": "http://minio:9000", "region": "eu-1"}
    spec["runtime"] = {
        "image": "registry.example/training-hub:1",
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": "NCCL_DEBUG", "value": "INFO"}],
        "envFromSecrets": [{"name": "extra"}],
        "hfTokenSecretRef": {"name": "hf", "key": "token"},
        "serviceAccountName": "trainer",
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
        "priorityClassName": "training-high",
        "imagePullSecrets": [{"name": "pull"}],
        "labels": {"team": "ml"},
        "annotations": {"note": "x"},
    }


VARIANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "suspend-queue": _suspend_and_queue,
    "lora": _lora,
    "osft": _osft,
    "gpus-4x8": _gpus_4x8,
    "every-pod-option": _every_pod_option,
}


def _assert_kept_whole(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] in BUILTIN_KINDS:
            for version in KUBERNETES_VERSIONS:
                validate_builtin(obj, version)
        else:
            dropped = dropped_by_official_model(obj)
            assert not dropped, f"{obj['kind']} loses {dropped} in its official model"


@pytest.mark.parametrize("launcher", LAUNCHERS)
@pytest.mark.parametrize("example", EXAMPLES)
def test_examples_are_kept_whole(example: str, launcher: str) -> None:
    rendered = render_run(load_manifest(REPO / "examples" / example), launcher)
    assert rendered.launcher == launcher
    _assert_kept_whole(rendered.objects)


@pytest.mark.parametrize("launcher", LAUNCHERS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_are_kept_whole(variant: str, launcher: str) -> None:
    manifest = copy.deepcopy(load_manifest(REPO / "examples" / "tiny-cpu.yaml"))
    VARIANTS[variant](manifest["spec"])
    rendered = render_run(manifest, launcher)
    _assert_kept_whole(rendered.objects)


def test_the_test_runtime_is_kept_whole() -> None:
    """The ClusterTrainingRuntime the integration tests install has today's shape (no v2.1-era
    ``mlPolicy.torch.numProcPerNode``, pruned since v2.2)."""
    runtime = yaml.safe_load(RUNTIME_MANIFEST.read_text())
    assert dropped_by_official_model(runtime) == []


def test_the_oracle_catches_what_trainer_prunes() -> None:
    """The v2.0/v2.1 fields that Trainer v2.2 removed, and an unknown pod field, are reported as dropped."""
    rendered = render_run(load_manifest(REPO / "examples" / "tiny-cpu.yaml"), "trainjob")
    job = next(o for o in rendered.objects if o["kind"] == "TrainJob")
    old = copy.deepcopy(job)
    old["spec"]["podTemplateOverrides"] = [{"targetJobs": [{"name": "node"}], "spec": {}}]
    old["spec"]["labels"] = {"a": "b"}
    patch = old["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    patch["template"]["spec"]["template"]["spec"]["priorityClassName"] = "high"
    dropped = dropped_by_official_model(old)
    assert ".spec.podTemplateOverrides" in dropped and ".spec.labels" in dropped
    assert any(d.endswith(".spec.priorityClassName") for d in dropped)
    objects = render_run(load_manifest(REPO / "examples" / "tiny-cpu.yaml"), "pytorchjob").objects
    pytorchjob = copy.deepcopy(next(o for o in objects if o["kind"] == "PyTorchJob"))
    pytorchjob["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["bogus"] = 1
    assert ".spec.pytorchReplicaSpecs.Master.template.spec.bogus" in dropped_by_official_model(pytorchjob)
    native = render_run(load_manifest(REPO / "examples" / "tiny-cpu.yaml"), "native").objects
    service = next(o for o in native if o["kind"] == "Service")
    with pytest.raises(Exception, match="bogus"):
        validate_builtin({**service, "bogus": 1}, KUBERNETES_VERSIONS[-1])


def test_structural_schemas_follow_the_models() -> None:
    """The CRD schemas installed in the control plane are derived from the models: the fields Trainer v2.2
    removed are absent, today's are there."""
    spec = openapi_schema("TrainJob")["properties"]["spec"]["properties"]
    assert "runtimePatches" in spec and "podTemplateOverrides" not in spec and "labels" not in spec
    torch = openapi_schema("ClusterTrainingRuntime")["properties"]["spec"]["properties"]["mlPolicy"]
    assert "numProcPerNode" not in torch["properties"]["torch"]["properties"]
    master = openapi_schema("PyTorchJob")["properties"]["spec"]["properties"]["pytorchReplicaSpecs"]
    assert master["additionalProperties"]["properties"]["replicas"] == {"type": "integer"}
