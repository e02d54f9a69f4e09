"""Weights & Biases: one wandb run per training run (``WANDB_MODE=offline`` writes it locally only)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from training_hub.observability.trackers.base import ExperimentTracker
from training_hub.observability.trackers.settings import TrackerSettings


class WandbTracker(ExperimentTracker):
    """Logs to Weights & Biases.

    Args:
        settings: ``wandb_project``, ``wandb_entity``, ``wandb_run_name``.
        config: Run parameters (the wandb run's config).
        run_dir: Where wandb keeps its local files (``WANDB_DIR`` wins when set).
    """

    name = "wandb"

    def __init__(self, settings: TrackerSettings, config: Mapping[str, Any], run_dir: str) -> None:
        import wandb

        super().__init__()
        directory = os.environ.get("WANDB_DIR") or run_dir
        os.makedirs(directory, exist_ok=True)
        self.run = wandb.init(
            project=settings.wandb_project,
            entity=settings.wandb_entity,
            name=settings.wandb_run_name,
            dir=directory,
            config=dict(config),
            reinit="create_new",
        )
        self.opened()

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics, step=step)

    def finish(self, summary: Mapping[str, Any] | None) -> None:
        if summary is not None and summary.get("final_loss") is not None:
            self.run.summary["final_loss"] = summary["final_loss"]
        self.run.finish()
