"""Objects the cluster tests create: bound claims, run manifests for the scheduler plane."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.controlplane.cluster import ControlPlane, wait_until
from tests.support.runs import tiny_run
from tests.support.trainingruns import condition_of, get_run


def bound_claim(plane: ControlPlane, namespace: str, claim: str, path: Path) -> None:
    """A PersistentVolumeClaim pre-bound to a hostPath PersistentVolume; returns once the
    ``persistentvolume-binder`` controller reports it ``Bound`` (the scheduler only binds pods whose claims
    are bound)."""
    pv = f"{namespace}-{claim}"
    path.mkdir(parents=True, exist_ok=True)
    plane.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": pv},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteMany"],
                    "hostPath": {"path": str(path)},
                    "claimRef": {"namespace": namespace, "name": claim},
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                },
            },
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim, "namespace": namespace},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "resources": {"requests": {"storage": "1Gi"}},
                    "storageClassName": "",
                    "volumeName": pv,
                },
            },
        ]
    )

    def bound() -> bool:
        pvc = plane.kubectl_json("get", "pvc", claim, "-n", namespace)
        return (pvc.get("status") or {}).get("phase") == "Bound"

    wait_until(bound, 60, message=f"claim {claim} bound")


def cpu_run(name: str, *, nodes: int = 1, claim: str = "out", **spec: Any) -> dict[str, Any]:
    """A tiny CPU run (``tests.support.runs.tiny_run``, native launcher) with spec fields merged in."""
    run = tiny_run(name, nodes=nodes, claim=claim, max_steps=2, samples=32)
    for key, value in spec.items():
        if isinstance(value, dict) and isinstance(run["spec"].get(key), dict):
            run["spec"][key] = {**run["spec"][key], **value}
        else:
            run["spec"][key] = value
    return run


def condition(plane: ControlPlane, namespace: str, name: str, type_: str) -> dict[str, Any]:
    """A condition of a TrainingRun ({} while absent)."""
    return condition_of(get_run(plane, namespace, name), type_) or {}


def wait_queued_reason(
    plane: ControlPlane, namespace: str, name: str, reason: str, timeout: float
) -> dict[str, Any]:
    """Wait until the run's ``Queued`` condition has ``reason``; return the condition. On timeout, fail with
    the run's status and the namespace's events."""

    def current() -> dict[str, Any]:
        queued = condition(plane, namespace, name, "Queued")
        return queued if queued.get("reason") == reason else {}

    try:
        return dict(wait_until(current, timeout, message=f"{name}: Queued reason {reason}"))
    except AssertionError:
        run = get_run(plane, namespace, name)
        events = plane.kubectl("get", "events", "-n", namespace, check=False).stdout
        raise AssertionError(
            f"{name} did not say {reason} within {timeout}s: {run.get('status')}\n{events}"
        ) from None
