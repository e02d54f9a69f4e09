"""A launcher's workload as the API server holds it: its suspend field (:class:`SuspendField`), its true
conditions, the Kueue queue that holds it, and the base of launchers whose one child is one workload object
(:class:`OneWorkloadLauncher`)."""

from __future__ import annotations

from typing import Any, ClassVar

from training_hub.contracts.kinds import ResourceKind
from training_hub_operator.api.constants import ANNOTATION_USER_SUSPENDED
from training_hub_operator.launchers import stopping
from training_hub_operator.launchers.base import RenderContext, StopActions, WorkloadObservation
from training_hub_operator.launchers.common import KUEUE_QUEUE_LABEL, workload_metadata
from training_hub_operator.naming import ChildNames


def suspend_patch_at(path: tuple[str, ...], suspend: bool) -> dict[str, Any]:
    """Merge patch of a workload's suspend field at ``spec.<path>``, with the user-suspended marker."""
    inner: dict[str, Any] = {path[-1]: suspend}
    for key in reversed(path[:-1]):
        inner = {key: inner}
    return {
        "metadata": {"annotations": {ANNOTATION_USER_SUSPENDED: "true" if suspend else None}},
        "spec": inner,
    }


def suspended_at(workload: dict[str, Any], path: tuple[str, ...]) -> bool:
    """The suspend field at ``spec.<path>`` of a workload."""
    node = workload.get("spec") or {}
    for key in path[:-1]:
        node = node.get(key) or {}
    return bool(node.get(path[-1]))


def true_conditions(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The conditions of a workload's status that are ``True``, by type."""
    status = workload.get("status") or {}
    return {c.get("type", ""): c for c in status.get("conditions") or [] if c.get("status") == "True"}


def kueue_queue(workload: dict[str, Any]) -> str | None:
    """The Kueue queue a workload was submitted to (its queue-name label), or None."""
    labels = (workload.get("metadata") or {}).get("labels") or {}
    return labels.get(KUEUE_QUEUE_LABEL)


def user_suspended(workload: dict[str, Any]) -> bool:
    """Whether the user suspended the workload (the marker annotation), rather than Kueue."""
    annotations = (workload.get("metadata") or {}).get("annotations") or {}
    return annotations.get(ANNOTATION_USER_SUSPENDED) == "true"


def waiting_for_admission(what: str, queue: str, **fields: Any) -> WorkloadObservation:
    """The observation of a workload Kueue holds suspended until it admits it.

    Args:
        what: What waits, for the message (``the job``, ``the node Jobs``).
        queue: The Kueue queue it waits in.
        **fields: Further :class:`WorkloadObservation` fields (restarts, start time...).
    """
    return WorkloadObservation(
        phase="Queued",
        reason="WaitingForAdmission",
        message=f"waiting for Kueue to admit {what} from queue {queue}",
        queued=True,
        admitted=False,
        **fields,
    )


class SuspendField:
    """Suspends and resumes a workload through one boolean field at ``spec.<suspend_path>``."""

    suspend_path: ClassVar[tuple[str, ...]] = ("suspend",)

    def suspend_patch(self, suspend: bool) -> dict[str, Any]:
        """Merge patch of the workload's suspend field (and the user-suspended marker)."""
        return suspend_patch_at(self.suspend_path, suspend)

    def is_suspended(self, workload: dict[str, Any]) -> bool:
        """The workload's suspend field (its spec, not its status)."""
        return suspended_at(workload, self.suspend_path)


class OneWorkloadLauncher(SuspendField):
    """Base of a launcher whose one child is one workload object (the run spec travels in its pod template).

    A subclass names its ``workload_kind``; its ``api_version``, ``kind``, ``child_kinds`` and
    ``required_kinds`` (the workload's kind) follow from it.
    """

    workload_kind: ResourceKind
    api_version: str
    kind: str
    child_kinds: tuple[ResourceKind, ...]
    required_kinds: tuple[ResourceKind, ...]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        workload = cls.__dict__.get("workload_kind")
        if workload is not None:
            cls.api_version, cls.kind = workload.api_version, workload.kind
            cls.child_kinds, cls.required_kinds = (workload,), (workload,)

    def child_refs(
        self, names: ChildNames, nodes: int, workload: dict[str, Any] | None
    ) -> list[tuple[ResourceKind, str]]:
        """Kind and name of every child the launcher renders: the workload."""
        return [(self.workload_kind, names.workload)]

    def one_workload(self, ctx: RenderContext, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """The run's children: the workload object with ``spec``."""
        workload = {
            "apiVersion": self.workload_kind.api_version,
            "kind": self.workload_kind.kind,
            "metadata": workload_metadata(ctx, ctx.who.names.workload),
            "spec": spec,
        }
        return [workload]

    def stop(self, running: list[dict[str, Any]]) -> StopActions:
        """Suspend the unfinished workload (or delete it when it cannot stay suspended)."""
        return stopping.suspend_or_delete(self, running)

    def workload_in(self, children: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The workload object among the children, or None."""
        return next((c for c in children if c.get("kind") == self.workload_kind.kind), None)

    def workload_missing(self) -> WorkloadObservation:
        """The observation of a run whose workload object is missing."""
        return WorkloadObservation(
            phase="Queued", reason="WorkloadMissing", message=f"the {self.workload_kind.kind} is missing"
        )
