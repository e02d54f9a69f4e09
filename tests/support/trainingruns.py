"""TrainingRun manifests and reads shared by the operator, reliability and storage tests."""

from __future__ import annotations

import copy
import io
import json
import time
from pathlib import Path
from typing import Any

import yaml

from tests.controlplane.cluster import ControlPlane, wait_until
from tests.support.model_configs import LLAMA_8B_CONFIG

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "traininghub.io_trainingruns.yaml"

__all__ = [
    "FINISHED",
    "trainingrun",
    "status_of",
    "wait_finished",
    "condition_of",
    "get_run",
    "jobs_in",
    "run_manifest",
    "wait_for_condition",
    "wait_for_phase",
]


def trainingrun(name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    """A TrainingRun object named ``name`` with ``spec`` (and more ``metadata``), as a user writes one."""
    return {
        "apiVersion": "traininghub.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name, **metadata},
        "spec": spec,
    }


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
    return trainingrun(name, spec)


def get_run(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The TrainingRun as the API server has it."""
    return plane.kubectl_json("get", "trainingrun", name, "-n", namespace)  # type: ignore[no-any-return]


def status_of(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The run's status ({} before the operator writes one)."""
    return get_run(plane, namespace, name).get("status") or {}


#: The phases a run ends in.
FINISHED = ("Succeeded", "Failed")


def wait_finished(
    plane: ControlPlane, namespace: str, name: str, timeout: float, log: io.StringIO | None = None
) -> dict[str, Any]:
    """Read the run's status every second until its phase is one of ``FINISHED``; return the status.

    Raises:
        AssertionError: Not finished within ``timeout`` seconds; the message holds the last status, the
            namespace's pods and jobs and the end of ``log`` (the pods' output).
    """
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = status_of(plane, namespace, name)
        if status.get("phase") in FINISHED:
            return status
        time.sleep(1.0)
    pods = plane.kubectl("get", "pods,jobs", "-n", namespace, check=False).stdout
    tail = log.getvalue()[-6000:] if log else ""
    raise AssertionError(
        f"TrainingRun {name} did not finish in {timeout}s; status: {json.dumps(status)[:3000]}\n{pods}\n{tail}"
    )


def jobs_in(plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    """Every PyTorchJob of a namespace."""
    return list(plane.kubectl_json("get", "pytorchjobs", "-n", namespace)["items"])


def condition_of(run: dict[str, Any], type_: str) -> dict[str, Any] | None:
    """A condition of a run's status, or None."""
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
        c = condition_of(get_run(plane, namespace, name), type_)
        return c if c and c.get("status") == status else None

    return wait_until(check, timeout, message=f"{namespace}/{name} {type_}={status}")  # type: ignore[no-any-return]


def patch_job_status(plane: ControlPlane, namespace: str, name: str, status: dict[str, Any]) -> None:
    """Write a PyTorchJob's status the way the Kubeflow training operator does (status subresource)."""
    plane.patch_status("pytorchjob", namespace, name, status)


def load_crd() -> dict[str, Any]:
    """The generated CRD."""
    return yaml.safe_load(CRD.read_text())  # type: ignore[no-any-return]
