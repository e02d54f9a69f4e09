"""``TrainingRun.status``: phase, standard conditions, the plan, the workload, progress and usage.

The status follows the Kubernetes API conventions so that generic tools understand it: kstatus (Flux,
``kubectl wait``) reads ``observedGeneration`` and the ``Stalled`` condition; Argo CD reads ``phase`` and the
conditions through the health check shown in ``docs/operator.md``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from training_hub.contracts.progress import LossHistory, PreferenceRewards, Progress  # noqa: F401
from training_hub.contracts.wire import WireModel

Phase = Literal["Pending", "Planning", "Queued", "Running", "Succeeded", "Failed", "Suspended"]
PHASES: tuple[str, ...] = ("Pending", "Planning", "Queued", "Running", "Succeeded", "Failed", "Suspended")
ConditionStatus = Literal["True", "False", "Unknown"]

#: Condition types the operator writes, in the order they appear.
CONDITION_TYPES: tuple[str, ...] = (
    "Accepted",
    "Planned",
    "Queued",
    "Running",
    "Succeeded",
    "Failed",
    "Stalled",
    "Ready",
)


class Condition(WireModel):
    """A standard Kubernetes condition (``metav1.Condition``)."""

    type: str = Field(..., min_length=1, max_length=316, description="Type, e.g. Accepted, Running.")
    status: ConditionStatus = Field(..., description="True, False or Unknown.")
    reason: str = Field(..., min_length=1, max_length=1024, description="CamelCase reason.")
    message: str = Field(
        default="", max_length=32768, description="Human-readable detail: what happened, what to do."
    )
    last_transition_time: str = Field(..., description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, ge=0, description="Generation of the spec this reflects."
    )


class GpuEstimate(WireModel):
    """Estimated peak memory of one GPU, in bytes, with a human-readable form."""

    low_bytes: int = Field(..., ge=0, description="Optimistic estimate (bytes).")
    expected_bytes: int = Field(..., ge=0, description="Expected peak (bytes).")
    high_bytes: int = Field(..., ge=0, description="Pessimistic estimate (bytes).")
    expected: str = Field(default="", description="Expected peak, human-readable (e.g. `61.2Gi`).")


class Plan(WireModel):
    """The shape the run was launched with and why."""

    nodes: int = Field(..., ge=1, description="Number of nodes (pods).")
    gpus_per_node: int = Field(..., ge=0, description="GPUs per node (0: CPU).")
    total_gpus: int = Field(..., ge=0, description="nodes x gpusPerNode.")
    source: Literal["fixed", "estimated"] = Field(
        ..., description="`fixed`: spec.resources set the shape; `estimated`: the planner chose it."
    )
    gpu_memory_bytes: int | None = Field(
        default=None, ge=0, description="Memory of one GPU the plan assumed (bytes)."
    )
    per_gpu: GpuEstimate | None = Field(default=None, description="Estimated peak memory of one GPU.")
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Inputs of the estimate (model size, tokens per GPU, method...)."
    )
    estimator_version: str | None = Field(
        default=None, description="Version of the estimator that made the plan."
    )
    message: str = Field(default="", description="Why this shape was chosen.")


class LauncherStatus(WireModel):
    """Which launcher runs the workload and why it was chosen."""

    name: str = Field(..., description="pytorchjob, trainjob or native.")
    reason: str = Field(default="", description="Why this launcher (e.g. which CRDs the cluster serves).")


class WorkloadReference(WireModel):
    """The object that runs the training."""

    api_version: str = Field(..., description="API version of the workload.")
    kind: str = Field(..., description="Kind of the workload.")
    name: str = Field(..., description="Name of the workload (in the run's namespace).")
    uid: str | None = Field(default=None, description="UID of the workload.")


class Outputs(WireModel):
    """Where the results are."""

    uri: str = Field(..., description="The output location (`spec.output.uri`).")
    model_uri: str | None = Field(
        default=None,
        description=(
            "The final model or adapter (`<output>/hf_format/final`, e.g. `s3://bucket/run/hf_format/final`), "
            "set when the run succeeded."
        ),
    )


class Usage(WireModel):
    """Resources the run used, and its predicted against its actual training time."""

    wall_seconds: float | None = Field(
        default=None, ge=0, description="startTime to completionTime (or now)."
    )
    gpus: int | None = Field(default=None, ge=0, description="GPUs of the plan.")
    gpu_seconds: float | None = Field(default=None, ge=0, description="gpus x wallSeconds.")
    training_seconds: float | None = Field(default=None, ge=0, description="Time spent in training steps.")
    predicted_seconds: float | None = Field(
        default=None, ge=0, description="Training time predicted early in the run."
    )
    actual_to_predicted: float | None = Field(
        default=None, ge=0, description="trainingSeconds / predictedSeconds once succeeded."
    )


class TrainingRunStatus(WireModel):
    """Observed state of a TrainingRun."""

    phase: Phase | None = Field(
        default=None, description="Pending, Planning, Queued, Running, Succeeded, Failed, Suspended."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The spec generation last reconciled."
    )
    conditions: list[Condition] = Field(default_factory=list, description="Standard conditions.")
    plan: Plan | None = Field(default=None, description="The planned shape.")
    launcher: LauncherStatus | None = Field(
        default=None, description="The launcher that runs (or would run) the job."
    )
    workload: WorkloadReference | None = Field(default=None, description="The workload object, once created.")
    rendered: list[dict[str, Any]] | None = Field(
        default=None, description="With spec.dryRun: the objects that would be created."
    )
    pending_since: str | None = Field(
        default=None,
        description=(
            "While the pods have not all started: since when they could have (the workload was created, "
            "resumed or admitted by Kueue; RFC 3339). The start deadline counts from it."
        ),
    )
    start_time: str | None = Field(default=None, description="When the workload started running (RFC 3339).")
    completion_time: str | None = Field(default=None, description="When the run finished (RFC 3339).")
    restarts: int | None = Field(default=None, ge=0, description="Pod failures the workload restarted from.")
    outputs: Outputs | None = Field(default=None, description="Where the results are.")
    progress: Progress | None = Field(
        default=None, description="Training progress (written by the training pod's rank 0)."
    )
    usage: Usage | None = Field(default=None, description="Wall time, GPU-seconds, predicted vs actual time.")
