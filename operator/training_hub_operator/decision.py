"""What one reconcile decides from (:class:`ReconcileInput`) and what it decides (:class:`Decision`).

:func:`~training_hub_operator.reconcile.decide` turns the one into the other without calling the API; the
runner (:mod:`~training_hub_operator.runner`) gathers the input and applies the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from training_hub.contracts.kinds import ResourceKind
from training_hub_operator.api import conditions as cond
from training_hub_operator.api.validation import SpecError, ValidatedSpec
from training_hub_operator.launchers.auto import LauncherChoice
from training_hub_operator.launchers.base import RunIdentity
from training_hub_operator.planning import ModelConfig, PlanningError
from training_hub_operator.rendering import identity
from training_hub_operator.settings import OperatorSettings

#: Phases a run ends in (with ``completionTime`` set, it is never relaunched).
TERMINAL_PHASES = ("Succeeded", "Failed")


def has_ended(status: dict[str, Any] | None) -> bool:
    """Whether a run's status records its end: a terminal phase with its ``completionTime``."""
    status = status or {}
    return bool(status.get("phase") in TERMINAL_PHASES and status.get("completionTime"))


@dataclass
class ReconcileInput:
    """What the runner observed.

    Attributes:
        run: The TrainingRun as read from the API server (apiVersion, kind, metadata, spec, status).
        validated: The validated spec, or None when invalid (then ``spec_error`` is set).
        spec_error: Why the spec is invalid.
        choice: The launcher choice (None when the spec is invalid).
        children: The run's children that exist, as read (any kind); empty if none.
        model_config: The model's config when the runner could reach it.
        planning_error: Why the model config could not be reached (a condition, not a guess).
        planning_pending: A planning pod is reading the config.
        settings: Operator settings.
        now: Timestamp for transitions (RFC 3339).
        pods: The run's training pods as read (for failure reasons and image-pull problems); empty if
            not read.
        events: Warning Events of controllers that could not create the run's pods (``FailedCreate``);
            read only while pods are missing.
        who: The run's identity and child names (computed from ``run`` when not given: once per
            reconcile).
    """

    run: dict[str, Any]
    validated: ValidatedSpec | None
    spec_error: SpecError | None
    choice: LauncherChoice | None
    children: list[dict[str, Any]] = field(default_factory=list)
    model_config: ModelConfig | None = None
    planning_error: PlanningError | None = None
    planning_pending: bool = False
    settings: OperatorSettings = field(default_factory=OperatorSettings)
    now: str = field(default_factory=cond.now_rfc3339)
    pods: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    who: RunIdentity = None  # type: ignore[assignment]  # set in __post_init__

    def __post_init__(self) -> None:
        if self.who is None:
            self.who = identity(self.run)


@dataclass
class Decision:
    """What to do.

    Attributes:
        creates: Objects to create, in order (a Service before the Jobs), with their kinds.
        patches: ``(kind, name, merge patch)`` for existing children (suspend/resume).
        status: The complete desired status.
        events: ``(type, reason, message)`` to post on the TrainingRun (only for transitions).
        needs_planning_pod: The runner should run the planning pod (no config reachable otherwise).
        deletes: ``(kind, name)`` of children to delete (background propagation, so their pods go too):
            what still runs of a run that ended in failure. The runner applies them, and the patches of
            an ended run (stopping its workload), only after the terminal status is stored.
        recheck_at: When (UNIX seconds) the run next needs a reconcile without an event (its earliest
            timer, :func:`~training_hub_operator.recheck.recheck_at`): 0 at every resync (a state whose
            timers are not known), ``inf`` never by time alone.
    """

    creates: list[tuple[ResourceKind, dict[str, Any]]] = field(default_factory=list)
    patches: list[tuple[ResourceKind, str, dict[str, Any]]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    needs_planning_pod: bool = False
    deletes: list[tuple[ResourceKind, str]] = field(default_factory=list)
    recheck_at: float = 0.0
