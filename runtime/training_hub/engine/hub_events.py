"""Fires :class:`~training_hub.callbacks.TrainingHubCallback` hooks from the native engine.

The engine fires the nine hooks of upstream training_hub at the same points as its Hugging Face based
backends (Hugging Face ``Trainer``'s order): ``on_train_begin`` before the first step (after a resume),
``on_epoch_begin`` / ``on_epoch_end`` around each epoch, ``on_step_begin`` / ``on_step_end`` around each
optimizer step, then after ``on_step_end`` ``on_log`` with the step's metrics row, ``on_evaluate`` with the
eval loss, ``on_save`` with ``checkpoint_path`` after a checkpoint is complete; ``on_train_end`` with the
summary. Every context carries the engine's :class:`~training_hub.callbacks.TrainingHubControl`:
``should_save`` asks for a full (resumable) checkpoint after this step, ``should_training_stop`` ends
training after it (both agreed across ranks; with a save or a SIGTERM the run ends as preempted). Hooks run on rank 0, and on every rank for
callbacks with ``run_on_all_ranks``; a hook that raises is logged and ignored.

Callbacks come from the caller (in-process runs) and from the payload file named by
``TRAINING_HUB_CALLBACKS_PATH`` (runs launched under torchrun; see :mod:`training_hub.adapters.serialize`).
"""

from __future__ import annotations

import logging
from typing import Any

from training_hub.adapters.distributed import call_hook
from training_hub.adapters.serialize import load_hub_callbacks_payload
from training_hub.callbacks import TrainingHubCallback, TrainingHubContext, TrainingHubControl

log = logging.getLogger("training_hub.engine")


def payload_callbacks() -> list[TrainingHubCallback]:
    """The callbacks of ``$TRAINING_HUB_CALLBACKS_PATH`` (none when unset or unreadable, logged)."""
    try:
        return load_hub_callbacks_payload()
    except Exception:
        log.exception("Failed to load hub callback payload: callbacks are off in this process")
        return []


class HubEvents:
    """The hub callbacks of one training process and the state their context reports.

    Args:
        callbacks: The callbacks of this process.
        is_main: Whether this process is global rank 0.
        output_dir: The run's checkpoint directory.
    """

    def __init__(self, callbacks: list[TrainingHubCallback], is_main: bool, output_dir: str) -> None:
        self.callbacks = list(callbacks)
        self.is_main = is_main
        self.output_dir = output_dir
        self.step = 0
        self.epoch = 0
        self.loss: float | None = None
        self.learning_rate: float | None = None
        #: The flags callbacks set (``should_save``, ``should_training_stop``); the engine reads and clears them.
        self.control = TrainingHubControl()

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def fire(self, hook: str, metrics: dict[str, Any] | None = None, loss: float | None = None) -> None:
        """Run ``hook`` with the current state (``loss`` overrides the training loss for this event)."""
        if not self.callbacks:
            return
        context = TrainingHubContext(
            step=self.step,
            epoch=self.epoch,
            loss=self.loss if loss is None else loss,
            learning_rate=self.learning_rate,
            is_main_process=self.is_main,
            output_dir=self.output_dir,
            metrics=dict(metrics or {}),
            control=self.control,
        )
        call_hook(self.callbacks, hook, context)
