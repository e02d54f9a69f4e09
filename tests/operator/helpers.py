"""Helpers and fixtures shared by the operator tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controlplane.cluster import ControlPlane, wait_until

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "traininghub.io_trainingruns.yaml"

#: A Llama-3-8B-shaped config.json (numbers only; no weights anywhere).
LLAMA_8B_CONFIG: dict[str, Any] = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
    "max_position_embeddings": 8192,
}

__all__ = [
    "LLAMA_8B_CONFIG",
    "get_run",
    "jobs_in",
    "operator_plane",
    "run_manifest",
    "wait_for_condition",
    "wait_for_phase",
]


def run_manifest(name: str, **spec_overrides: Any) -> dict[str, Any]:
    """A TrainingRun manifest (SFT of an 8B Llama planned on 80Gi GPUs), with spec overrides merged in."""
    spec: dict[str, Any] = {
        "algorithm": "sft",
        "hyperparameters": {"learning_rate": 1e-5, "max_seq_len": 4096, "max_tokens_per_gpu": 8192},
        "model": {"uri": "pvc://models/llama-3-8b", "config": copy.deepcopy(LLAMA_8B_CONFIG)},
        "data": {"uri": "pvc://datasets/chat/train.jsonl"},
        "output": {"uri": "pvc://outputs/runs/" + name},
        "resources": {"gpuMemory": "80Gi"},
        "runtime": {"image": "registry.example/training-hub/runtime:test"},
    }
    for key, value in spec_overrides.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return {
        "apiVersion": "traininghub.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name},
        "spec": spec,
    }


def get_run(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The TrainingRun as the API server has it."""
    return plane.kubectl_json("get", "trainingrun", name, "-n", namespace)  # type: ignore[no-any-return]


def jobs_in(plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    """Every PyTorchJob of a namespace."""
    return list(plane.kubectl_json("get", "pytorchjobs", "-n", namespace)["items"])


def _condition(run: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (run.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def wait_for_phase(
    plane: ControlPlane, namespace: str, name: str, phase: str, timeout: float = 60
) -> dict[str, Any]:
    """Wait until the run's status.phase is ``phase``; return the run."""

    def check() -> dict[str, Any] | None:
        run = get_run(plane, namespace, name)
        return run if (run.get("status") or {}).get("phase") == phase else None

    return wait_until(check, timeout, message=f"{namespace}/{name} phase {phase}")  # type: ignore[no-any-return]


def wait_for_condition(
    plane: ControlPlane, namespace: str, name: str, type_: str, status: str, timeout: float = 60
) -> dict[str, Any]:
    """Wait until the run has a condition with this status; return the condition."""

    def check() -> dict[str, Any] | None:
        c = _condition(get_run(plane, namespace, name), type_)
        return c if c and c.get("status") == status else None

    return wait_until(check, timeout, message=f"{namespace}/{name} {type_}={status}")  # type: ignore[no-any-return]


def patch_job_status(plane: ControlPlane, namespace: str, name: str, status: dict[str, Any]) -> None:
    """Write a PyTorchJob's status the way the Kubeflow training operator does (status subresource)."""
    plane.patch_status("pytorchjob", namespace, name, status)


@pytest.fixture(scope="session")
def operator_plane(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> ControlPlane:
    """The control plane with the TrainingRun CRD (from crds/) and the PyTorchJob CRD (its schema derived
    from the official ``kubeflow-training`` model, see :mod:`tests.launch.official_api`)."""
    from tests.launch.official_api import write_crds

    control_plane.install_crds(CRD, *write_crds(tmp_path_factory.mktemp("kubeflow-crds"), "PyTorchJob"))
    return control_plane


def load_crd() -> dict[str, Any]:
    """The generated CRD."""
    return yaml.safe_load(CRD.read_text())  # type: ignore[no-any-return]
