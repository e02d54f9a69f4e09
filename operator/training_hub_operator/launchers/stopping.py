"""How launchers stop the unfinished workload of a run that ended in failure (:meth:`Launcher.stop`).

Two ways exist: delete the workload objects (``native``: its node Jobs, background propagation deletes the
pods), or suspend a workload whose API keeps the suspend field, so that its controller deletes the pods
and the object stays for inspection (:func:`suspend_or_delete`, the Kubeflow launchers).
"""

from __future__ import annotations

from typing import Any, Protocol

from training_hub.contracts.kinds import ResourceKind
from training_hub_operator.launchers.base import StopActions


def _keeps(patch: dict[str, Any], obj: dict[str, Any]) -> bool:
    """Whether every key of ``patch`` exists in ``obj`` (the API server kept the field: it knows it)."""
    for key, value in patch.items():
        if key not in obj:
            return False
        if isinstance(value, dict) and not (isinstance(obj[key], dict) and _keeps(value, obj[key])):
            return False
    return True


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def delete_all(kind: ResourceKind, running: list[dict[str, Any]], what: str) -> StopActions:
    """Delete every unfinished workload object (``what`` names them in the message)."""
    names = [_name(w) for w in running]
    if not names:
        return StopActions()
    return StopActions(
        deletes=[(kind, n) for n in names],
        message=f"deleted the unfinished {what} {', '.join(names)} and their pods",
    )


class Suspendable(Protocol):
    """What :func:`suspend_or_delete` needs of a launcher: its workload kind and suspend field."""

    kind: str
    workload_kind: ResourceKind

    def suspend_patch(self, suspend: bool) -> dict[str, Any]: ...

    def is_suspended(self, workload: dict[str, Any]) -> bool: ...


def suspend_or_delete(launcher: Suspendable, running: list[dict[str, Any]]) -> StopActions:
    """:meth:`Launcher.stop` of a launcher with one suspendable workload object (PyTorchJob, TrainJob).

    A workload that has not finished (e.g. on a start-deadline failure) is suspended when its API keeps the
    suspend field (the rendered workload always sets it) and no Kueue queue would admit it again; otherwise
    it is deleted.
    """
    out = StopActions()
    spec_patch = launcher.suspend_patch(True).get("spec") or {}
    done: list[str] = []
    for obj in running:
        name = _name(obj)
        labels = (obj.get("metadata") or {}).get("labels") or {}
        queued = any(k.startswith("kueue.x-k8s.io/") for k in labels)
        if spec_patch and not queued and _keeps(spec_patch, obj.get("spec") or {}):
            if not launcher.is_suspended(obj):
                out.patches.append((launcher.workload_kind, name, {"spec": spec_patch}))
            done.append(
                f"suspended the {launcher.kind} {name} (its pods are deleted; delete the run to remove it)"
            )
        else:
            out.deletes.append((launcher.workload_kind, name))
            done.append(f"deleted the {launcher.kind} {name}")
    out.message = "; ".join(done)
    return out
