"""``TrainingRun.status.progress``: the one model of what a training pod's rank 0 reports.

The operator's CRD schema is generated from it (``training_hub_operator.api.status`` nests it in the
status) and :class:`~training_hub.observability.tracker.ProgressTracker` builds it from the engine's
metrics rows; both sides write and read the same camelCase wire form (:meth:`WireModel.wire`).
"""

from __future__ import annotations

from pydantic import Field

from training_hub.contracts.wire import WireModel


class LossHistory(WireModel):
    """A bounded loss curve (at most ~100 points spread over the run), for sparklines and plots."""

    steps: list[int] = Field(default_factory=list, description="Optimizer steps of the points.")
    losses: list[float] = Field(default_factory=list, description="Training loss at those steps.")


class PreferenceRewards(WireModel):
    """DPO's implicit rewards of the latest step (means over the step's pairs; see docs/dpo.md)."""

    chosen: float | None = Field(default=None, description="Mean reward of the chosen responses.")
    rejected: float | None = Field(default=None, description="Mean reward of the rejected responses.")
    accuracy: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Fraction of pairs whose chosen reward exceeds the rejected one.",
    )
    margin: float | None = Field(default=None, description="Mean chosen-minus-rejected reward.")


class Progress(WireModel):
    """Training progress, written by the training pod's rank 0 (rate-limited; see docs/observability.md)."""

    step: int | None = Field(default=None, ge=0, description="Optimizer steps done.")
    total_steps: int | None = Field(default=None, ge=0, description="Optimizer steps planned.")
    epoch: float | None = Field(default=None, ge=0, description="Current epoch (fractional).")
    samples_seen: int | None = Field(default=None, ge=0, description="Training samples consumed.")
    loss: float | None = Field(default=None, description="Latest training loss.")
    eval_loss: float | None = Field(
        default=None, description="Latest eval loss (with eval data: `validation_split` or `eval_data_path`)."
    )
    eval_step: int | None = Field(default=None, ge=0, description="Optimizer step of `evalLoss`.")
    tokens_per_second: float | None = Field(default=None, ge=0, description="Training throughput.")
    eta: str | None = Field(default=None, description="Estimated completion time (RFC 3339).")
    last_checkpoint: str | None = Field(default=None, description="Location of the latest checkpoint.")
    percent: int | None = Field(default=None, ge=0, le=100, description="Percent of totalSteps done.")
    last_step_time: str | None = Field(
        default=None, description="When the latest step finished (RFC 3339); the stall check reads it."
    )
    start_time: str | None = Field(
        default=None, description="When the training process made its first step (RFC 3339)."
    )
    elapsed_seconds: float | None = Field(
        default=None, ge=0, description="Training time so far, continued across resumes (seconds)."
    )
    predicted_seconds: float | None = Field(
        default=None, ge=0, description="Training time predicted early in the run (seconds)."
    )
    resumed_from_step: int | None = Field(
        default=None, ge=0, description="Step of the checkpoint this training process resumed from."
    )
    loss_history: LossHistory | None = Field(default=None, description="The loss curve, downsampled.")
    rewards: PreferenceRewards | None = Field(
        default=None, description="DPO only: the latest step's rewards."
    )
