"""Which experiment trackers a run uses, from its keywords and (like upstream) the environment (pure)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The tracker keywords of ``sft``/``osft``/``lora_sft`` (upstream training_hub 0.11.2's names).
TRACKER_FIELDS: tuple[str, ...] = (
    "wandb_project",
    "wandb_entity",
    "wandb_run_name",
    "tensorboard_log_dir",
    "mlflow_tracking_uri",
    "mlflow_experiment_name",
    "mlflow_run_name",
)

#: Keyword -> environment variable read when the keyword is unset (upstream osft/lora do the same).
ENV_FALLBACKS: dict[str, str] = {
    "wandb_project": "WANDB_PROJECT",
    "wandb_entity": "WANDB_ENTITY",
    "wandb_run_name": "WANDB_RUN_NAME",
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
    "mlflow_experiment_name": "MLFLOW_EXPERIMENT_NAME",
    "mlflow_run_name": "MLFLOW_RUN_NAME",
}


@dataclass(frozen=True)
class TrackerSettings:
    """The resolved tracker keywords (``None``: not set)."""

    wandb_project: str | None = None
    wandb_entity: str | None = None
    wandb_run_name: str | None = None
    tensorboard_log_dir: str | None = None
    mlflow_tracking_uri: str | None = None
    mlflow_experiment_name: str | None = None
    mlflow_run_name: str | None = None

    @property
    def wandb(self) -> bool:
        """W&B is on when any of its keywords is set (upstream's rule)."""
        return bool(self.wandb_project or self.wandb_entity or self.wandb_run_name)

    @property
    def mlflow(self) -> bool:
        """MLflow is on when any of its keywords is set."""
        return bool(self.mlflow_tracking_uri or self.mlflow_experiment_name or self.mlflow_run_name)

    @property
    def tensorboard(self) -> bool:
        """TensorBoard is on when ``tensorboard_log_dir`` is set."""
        return bool(self.tensorboard_log_dir)

    def enabled(self) -> list[str]:
        """Names of the trackers that are on, in Hugging Face ``report_to`` spelling."""
        return [
            n
            for n, on in (("wandb", self.wandb), ("mlflow", self.mlflow), ("tensorboard", self.tensorboard))
            if on
        ]

    def given(self) -> dict[str, str]:
        """The keywords that are set."""
        return {k: v for k in TRACKER_FIELDS if (v := getattr(self, k)) is not None}


def tracker_settings(params: Mapping[str, Any], env: Mapping[str, str] | None = None) -> TrackerSettings:
    """Resolve the tracker keywords of a run: the keyword, else its environment variable.

    Args:
        params: The run's parameters (training_hub names; other keys are ignored).
        env: Environment (default: ``os.environ``).
    """
    e = os.environ if env is None else env
    values: dict[str, str | None] = {}
    for name in TRACKER_FIELDS:
        value = params.get(name)
        if value is None and name in ENV_FALLBACKS:
            value = e.get(ENV_FALLBACKS[name]) or None
        values[name] = value
    return TrackerSettings(**values)


def report_to(settings: TrackerSettings) -> list[str] | str:
    """The Hugging Face Trainer's ``report_to`` for these settings (``"none"`` when no tracker is on)."""
    enabled = settings.enabled()
    return enabled or "none"
