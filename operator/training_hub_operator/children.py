"""A run's children as read from the cluster: which are its own, which are its workloads, which finished.

Pure helpers over object dicts, shared by the decision (:mod:`~training_hub_operator.reconcile`), the
observation (:mod:`~training_hub_operator.observation`) and the reads (:mod:`~training_hub_operator.reads`).
"""

from __future__ import annotations

from typing import Any

from training_hub.contracts.kinds import ResourceKind
from training_hub_operator.api.constants import KIND


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    """An object's metadata ({} when absent)."""
    return obj.get("metadata") or {}


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    """Whether the object's controller is the owner with ``uid``."""
    return any(
        ref.get("uid") == uid and ref.get("controller") for ref in meta(obj).get("ownerReferences") or []
    )


def left_by_earlier_run(obj: dict[str, Any], run_name: str) -> bool:
    """Whether an object not owned by the run is going away: being deleted, or controlled by a TrainingRun
    of the same name (an earlier one, deleted: the garbage collector deletes its children)."""
    if meta(obj).get("deletionTimestamp"):
        return True
    return any(
        ref.get("controller") and ref.get("kind") == KIND and ref.get("name") == run_name
        for ref in meta(obj).get("ownerReferences") or []
    )


def owned_workloads(children: list[dict[str, Any]], kind: ResourceKind, uid: str) -> list[dict[str, Any]]:
    """The run's workload objects (every node Job for ``native``), owned by it and not being deleted."""
    return [
        c
        for c in children
        if c.get("kind") == kind.kind and owned_by(c, uid) and not meta(c).get("deletionTimestamp")
    ]


def finished(obj: dict[str, Any]) -> bool:
    """Whether a workload object reached a final condition (Job ``Complete``/``Failed``, Kubeflow's
    ``Succeeded``/``Failed``, TrainJob's ``Complete``/``Failed``)."""
    return any(
        c.get("status") == "True" and c.get("type") in ("Complete", "Succeeded", "Failed")
        for c in (obj.get("status") or {}).get("conditions") or []
    )


def with_kind(obj: dict[str, Any], kind: ResourceKind) -> dict[str, Any]:
    """The object with ``kind`` and ``apiVersion`` set (a GET or LIST item may lack them)."""
    obj.setdefault("kind", kind.kind)
    obj.setdefault("apiVersion", kind.api_version)
    return obj


def has_owner(obj: dict[str, Any], uid: str | None) -> bool:
    """Whether any owner reference of the object (controller or not) has ``uid``."""
    return any(o.get("uid") == uid for o in meta(obj).get("ownerReferences") or [])


def merged(children: list[dict[str, Any]], newer: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``children`` with the objects of ``newer`` replacing (or joining) those of the same kind and name
    (the children after a reconcile's writes, with the API server's answers)."""
    by_key = {(c.get("kind"), meta(c).get("name")): c for c in children}
    by_key.update({(c.get("kind"), meta(c).get("name")): c for c in newer})
    return list(by_key.values())
