"""Dispatch of hub callbacks inside a training process: context mapping, rank guard, isolation.

The bridges of the torchrun backends (instructlab-training, mini-trainer) and the native engine share this:
a backend event becomes a :class:`~training_hub.callbacks.TrainingHubContext`, and each callback's hook runs
on the main process (or on every rank with ``run_on_all_ranks``); a hook that raises is logged and ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from training_hub.adapters.serialize import load_hub_callbacks_payload
from training_hub.callbacks import HUB_HOOKS, TrainingHubCallback, TrainingHubContext

__all__ = ["HUB_HOOKS", "HubCallbackDispatcher", "build_hub_context_from_native", "call_hook"]

logger = logging.getLogger("training_hub.callbacks")


def build_hub_context_from_native(context: Any) -> TrainingHubContext:
    """Map an instructlab-training / mini-trainer ``TrainingContext`` (attribute access) to a hub context.

    ``metrics`` merges ``batch_metrics``, ``val_metrics`` and ``checkpoint_path``; ``loss`` falls back to
    the metrics' ``loss``, then ``eval_loss``, then ``val_loss``.
    """
    metrics: dict[str, Any] = {}
    metrics.update(getattr(context, "batch_metrics", None) or {})
    metrics.update(getattr(context, "val_metrics", None) or {})
    checkpoint_path = getattr(context, "checkpoint_path", None)
    if checkpoint_path is not None:
        metrics["checkpoint_path"] = checkpoint_path
    loss = getattr(context, "loss", None)
    for key in ("loss", "eval_loss", "val_loss"):
        if loss is not None:
            break
        loss = metrics.get(key)
    return TrainingHubContext(
        step=int(getattr(context, "step", 0) or 0),
        epoch=int(getattr(context, "epoch", 0) or 0),
        loss=loss,
        learning_rate=getattr(context, "learning_rate", None),
        is_main_process=bool(getattr(context, "is_world_process_zero", True)),
        output_dir=str(getattr(context, "output_dir", "") or ""),
        metrics=metrics,
    )


def call_hook(callbacks: list[TrainingHubCallback], hook: str, context: TrainingHubContext) -> None:
    """Run ``hook`` of each callback that should run here; log and ignore what a hook raises."""
    for cb in callbacks:
        if not context.is_main_process and not getattr(cb, "run_on_all_ranks", False):
            continue
        try:
            getattr(cb, hook)(context)
        except Exception:
            logger.exception("%s.%s raised an exception (ignored)", type(cb).__name__, hook)


class HubCallbackDispatcher:
    """Loads the callbacks of ``$TRAINING_HUB_CALLBACKS_PATH`` on first use and dispatches native events.

    A payload that cannot be loaded disables the callbacks of this process (logged), never training.
    """

    def __init__(self) -> None:
        self._hub_callbacks: list[TrainingHubCallback] | None = None

    def _callbacks(self) -> list[TrainingHubCallback]:
        if self._hub_callbacks is None:
            try:
                self._hub_callbacks = load_hub_callbacks_payload()
            except Exception:
                logger.exception("Failed to load hub callback payload: callbacks are off in this process")
                self._hub_callbacks = []
        return self._hub_callbacks

    def dispatch(self, method_name: str, native_context: Any) -> None:
        """Fire ``method_name`` for a backend's native context."""
        call_hook(self._callbacks(), method_name, build_hub_context_from_native(native_context))
