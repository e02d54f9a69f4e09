"""TensorBoard: scalar event files in ``tensorboard_log_dir`` (torch's ``SummaryWriter``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from training_hub.observability.trackers.base import ExperimentTracker


class TensorBoardTracker(ExperimentTracker):
    """Writes each metric as a scalar series (tags are the metrics' names: ``loss``, ``eval_loss``, ...).

    Args:
        log_dir: Directory of the event files.
    """

    name = "tensorboard"

    def __init__(self, log_dir: str) -> None:
        from torch.utils.tensorboard import SummaryWriter

        super().__init__()
        self.writer = SummaryWriter(log_dir=log_dir)
        self.opened()

    def log(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, global_step=step)
        self.writer.flush()

    def finish(self, summary: Mapping[str, Any] | None) -> None:
        self.writer.close()
