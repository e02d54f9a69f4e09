"""The launcher interface: how a planned TrainingRun becomes Kubernetes objects, and how they are read back.

A launcher is pure: :meth:`Launcher.render` turns a :class:`RenderContext` into the child objects (dicts,
with names, labels and owner references already set), :meth:`Launcher.observe` turns the children as they
exist in the cluster into a :class:`WorkloadObservation`. The reconciler does all API calls, so every
launcher is unit-testable without a cluster.

To add a launcher: write a class with every attribute and method of :class:`Launcher` in
``launchers/<name>.py`` (the protocol has no optional parts: a launcher without a CRD to check sets
``compatibility_kind = None``), expose it as ``LAUNCHER`` (an instance) in that module, and list the module
in :data:`training_hub_operator.launchers.LAUNCHER_MODULES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from training_hub.contracts.kinds import ResourceKind
from training_hub.pod.spec import PodRunSpec
from training_hub_operator.api.spec import TrainingRunSpec
from training_hub_operator.api.status import Plan
from training_hub_operator.naming import ChildNames
from training_hub_operator.settings import OperatorSettings

WorkloadPhase = Literal["Queued", "Running", "Succeeded", "Failed", "Suspended"]


@dataclass(frozen=True)
class RunIdentity:
    """Who a run is: the metadata every child is rendered from, and its child names (computed once).

    Attributes:
        run: The TrainingRun body (``apiVersion``, ``kind``, ``metadata``, ``spec``).
        name: ``metadata.name``.
        namespace: ``metadata.namespace`` (``default`` when unset; every child goes there).
        uid: ``metadata.uid`` (empty when unset).
        generation: ``metadata.generation`` (1 when unset): the generation the children are rendered from.
        names: The run's child names (``names.workload``, ``names.planner``).
    """

    run: dict[str, Any]
    name: str
    namespace: str
    uid: str
    generation: int
    names: ChildNames


@dataclass(frozen=True)
class RenderContext:
    """Everything a launcher needs to render a run's children.

    Attributes:
        who: The run: name, namespace, UID, generation and child names.
        spec: The validated spec.
        hyperparameters: The hyperparameters the user set (validated for the algorithm).
        plan: The shape: ``plan.nodes`` pods with ``plan.gpus_per_node`` GPUs each.
        owner_reference: Controller owner reference to the TrainingRun (put it on every child).
        labels: Labels for every child and pod (``traininghub.io/run``, managed-by); add a component label.
        pod_run_spec: The ``run.json`` contract for the pod entrypoint.
        settings: Operator settings (default image, fsGroup...).
        launched_spec: JSON of the spec's launch-time fields; annotate the workload with it
            (:data:`~training_hub_operator.api.constants.ANNOTATION_LAUNCHED_SPEC`).
    """

    who: RunIdentity
    spec: TrainingRunSpec
    hyperparameters: dict[str, Any]
    plan: Plan
    owner_reference: dict[str, Any]
    labels: dict[str, str]
    pod_run_spec: PodRunSpec
    settings: OperatorSettings
    launched_spec: str = ""


@dataclass
class WorkloadObservation:
    """What the workload says about the run, in launcher-neutral terms.

    Attributes:
        phase: ``Queued`` (created, waiting for admission or pods), ``Running``, ``Succeeded``, ``Failed``
            or ``Suspended``.
        reason: CamelCase reason (e.g. the workload's own condition reason).
        message: Human-readable detail.
        start_time: When the workload started (RFC 3339), if known.
        completion_time: When it finished (RFC 3339), if finished.
        restarts: Pod failures it restarted from.
        suspended: Whether the workload is suspended now (``spec.runPolicy.suspend`` for Kubeflow).
        admitted: Kueue admission, when a queue is used (None: no queue or unknown).
        queued: Waiting in a queue (Kueue) rather than suspended by the user.
    """

    phase: WorkloadPhase
    reason: str
    message: str = ""
    start_time: str | None = None
    completion_time: str | None = None
    restarts: int = 0
    suspended: bool = False
    admitted: bool | None = None
    queued: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @classmethod
    def waiting(cls, reason: str, message: str, admitted: bool | None, **fields: Any) -> WorkloadObservation:
        """A created workload still waiting (for its controller or its pods): phase ``Queued``."""
        return cls(phase="Queued", reason=reason, message=message, admitted=admitted, **fields)


@dataclass
class StopActions:
    """How a launcher stops what still runs of a run that ended in failure.

    Attributes:
        patches: ``(kind, name, merge patch)`` to apply (e.g. suspend a workload).
        deletes: ``(kind, name)`` to delete (background propagation deletes their pods).
        message: What was done, for the status ('' when nothing ran).
    """

    patches: list[tuple[ResourceKind, str, dict[str, Any]]] = field(default_factory=list)
    deletes: list[tuple[ResourceKind, str]] = field(default_factory=list)
    message: str = ""


@runtime_checkable
class Launcher(Protocol):
    """A way to run a TrainingRun.

    Attributes:
        name: ``pytorchjob``, ``trainjob`` or ``native``.
        api_version: API version of the workload object (e.g. ``kubeflow.org/v1``).
        kind: Kind of the workload object (e.g. ``PyTorchJob``).
        workload_kind: The workload's :class:`ResourceKind` (with plural).
        child_kinds: Every kind :meth:`render` returns, workload last (the reconciler creates in this order
            and reads them back by these kinds).
        required_kinds: Kinds that must be served by the API server for this launcher to work (its CRDs);
            empty when it only needs built-in kinds.
        compatibility_kind: The kind whose served CRD :meth:`compatibility` inspects; None when the
            launcher renders for any served version (then the operator reads no CRD for it).
    """

    name: str
    api_version: str
    kind: str
    workload_kind: ResourceKind
    child_kinds: tuple[ResourceKind, ...]
    required_kinds: tuple[ResourceKind, ...]
    compatibility_kind: ResourceKind | None

    def render(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """The child objects of a run (the workload; the native launcher's Service first), each complete with metadata."""
        ...

    def observe(self, children: list[dict[str, Any]]) -> WorkloadObservation:
        """Interpret the children as they exist in the cluster (the workload is among them)."""
        ...

    def child_refs(
        self, names: ChildNames, nodes: int, workload: dict[str, Any] | None
    ) -> list[tuple[ResourceKind, str]]:
        """Kind and name of every child :meth:`render` makes for ``nodes`` nodes (``workload``: the workload
        object as read, or None), so that the reconciler reads them by name (GET) instead of listing."""
        ...

    def compatibility(self, crd: dict[str, Any]) -> str | None:
        """Why the served CRD of :attr:`compatibility_kind` is one this launcher cannot render for (e.g. a
        Kubeflow Trainer older than v2.2), or None when it can."""
        ...

    def stop(self, running: list[dict[str, Any]]) -> StopActions:
        """How to stop the run's workload objects that have not finished (the run failed: it is terminal,
        its record stays)."""
        ...

    def suspend_patch(self, suspend: bool) -> dict[str, Any]:
        """A JSON merge patch for the workload that suspends (True) or resumes (False) it."""
        ...

    def is_suspended(self, workload: dict[str, Any]) -> bool:
        """Whether the workload object is suspended (its spec, not its status)."""
        ...
