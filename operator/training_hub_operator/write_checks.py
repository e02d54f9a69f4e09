"""What the API server says about the operator's writes, turned into events and conditions.

A create may come back with ``Warning`` headers (deprecated API versions, fields an API server without
``fieldValidation`` support dropped, policy warnings...), may come back with fields pruned (an API server
older than 1.25 does not refuse unknown fields: it drops them; a Kubeflow CRD older than the API the
launcher renders, e.g. Trainer < v2.2 without ``spec.runtimePatches``, prunes the fields its schema lacks),
or may be refused (``fieldValidation=Strict``: a 4xx answer naming the unknown field; the runner ends such a
run with ``Accepted=False``/``CreateRefused``, see :class:`training_hub_operator.objectcheck.CreateRefused`).

Every warning is logged and posted as a Warning event on the run. A pruned (custom resource) or refused
workload changes
what would run (pods without their volumes, labels...): the runner deletes a pruned workload
it just created, and the run gets ``Stalled=True`` and ``Ready=False`` with :data:`REASON_PRUNED` until the cluster's Kubeflow is upgraded or another launcher is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from training_hub.contracts.kinds import ResourceKind
from training_hub_operator.api import conditions as cond
from training_hub_operator.kube import dropped_fields

REASON_WARNING = "APIServerWarning"
REASON_PRUNED = "WorkloadFieldsPruned"


def is_custom_resource(kind: ResourceKind) -> bool:
    """Whether a kind is served by a CRD (a dotted API group outside ``*.k8s.io``: ``kubeflow.org``,
    ``trainer.kubeflow.org``), rather than built into Kubernetes (``v1``, ``batch``, ``networking.k8s.io``)."""
    return "." in kind.group and not kind.group.endswith(".k8s.io")


@dataclass
class WriteReport:
    """What the API server said about the creates of one reconcile.

    Attributes:
        events: ``(type, reason, message)`` to post on the run.
        stalled: ``(reason, message)`` when the workload cannot run as rendered.
        delete: ``(kind, name)`` of created objects to delete again (a pruned workload).
    """

    events: list[tuple[str, str, str]] = field(default_factory=list)
    stalled: tuple[str, str] | None = None
    delete: list[tuple[ResourceKind, str]] = field(default_factory=list)

    def warnings(self, kind: ResourceKind, name: str, texts: list[str]) -> None:
        """Record the API server's warnings about a write of ``kind``/``name``."""
        for text in texts:
            self.events.append(("Warning", REASON_WARNING, f"{kind.kind} {name}: {text}"))

    def created(self, kind: ResourceKind, sent: dict[str, Any], stored: dict[str, Any]) -> None:
        """Compare what was sent with what was stored; a custom-resource workload that lost fields is not
        used (every child a launcher creates is part of its workload). Built-in kinds are not checked: a launcher may render fields that older Kubernetes releases
        drop by design (the native launcher's ``podFailurePolicy``, 1.26+)."""
        if not is_custom_resource(kind):
            return
        dropped = dropped_fields(sent, stored)
        if not dropped:
            return
        name = sent["metadata"]["name"]
        message = (
            f"the API server dropped {', '.join(dropped[:8])} of {kind.kind} {name}: the served "
            f"{kind.crd_name or kind.kind} schema does not have them"
        )
        if kind.kind == "TrainJob":
            message += (
                " (Kubeflow Trainer older than v2.2, which has spec.runtimePatches: upgrade Trainer, or set "
                "spec.launcher to pytorchjob or native)"
            )
        self.events.append(("Warning", REASON_PRUNED, message))
        self.stalled = (REASON_PRUNED, message)
        self.delete.append((kind, name))

    def apply_to(self, status: dict[str, Any], generation: int | None, now: str) -> None:
        """Set ``Stalled=True`` and ``Ready=False`` on the run's desired status when the workload cannot run
        as rendered."""
        if self.stalled is not None:
            reason, message = self.stalled
            for type_, value in (("Stalled", True), ("Ready", False)):
                status["conditions"] = cond.set_condition(
                    status.get("conditions"), type_, value, reason, message, generation=generation, now=now
                )
