"""Hub callbacks through instructlab-training's ``TrainingArgs.callbacks`` (imports instructlab-training).

instructlab-training sends its callbacks to the torchrun workers by class source, so the bridge is a module-level class
with a no-argument constructor and no free names: it reads the hub callbacks of the payload file named by
``TRAINING_HUB_CALLBACKS_PATH`` in the worker (see :mod:`training_hub.adapters.serialize`).
"""

from __future__ import annotations

from typing import Any

from instructlab.training.callbacks import TrainerCallback

from training_hub.adapters.serialize import (
    normalize_hub_callbacks,
    set_callbacks_payload_env,
    write_hub_callbacks_payload,
)


class InstructLabCallbackBridge(TrainerCallback):  # type: ignore[misc]
    """A native instructlab-training callback that fires the hub callbacks of the payload file."""

    def __init__(self) -> None:
        self._dispatcher: Any = None

    def _dispatch(self, hook: str, context: Any) -> None:
        if self._dispatcher is None:
            from training_hub.adapters.distributed import HubCallbackDispatcher

            self._dispatcher = HubCallbackDispatcher()
        self._dispatcher.dispatch(hook, context)

    def on_train_begin(self, context: Any) -> None:
        self._dispatch("on_train_begin", context)

    def on_epoch_begin(self, context: Any) -> None:
        self._dispatch("on_epoch_begin", context)

    def on_step_begin(self, context: Any) -> None:
        self._dispatch("on_step_begin", context)

    def on_log(self, context: Any) -> None:
        self._dispatch("on_log", context)

    def on_evaluate(self, context: Any) -> None:
        self._dispatch("on_evaluate", context)

    def on_save(self, context: Any) -> None:
        self._dispatch("on_save", context)

    def on_step_end(self, context: Any) -> None:
        self._dispatch("on_step_end", context)

    def on_epoch_end(self, context: Any) -> None:
        self._dispatch("on_epoch_end", context)

    def on_train_end(self, context: Any) -> None:
        self._dispatch("on_train_end", context)


def adapt_hub_callbacks(callbacks: Any, payload_dir: str | None = None) -> list[InstructLabCallbackBridge]:
    """Write the payload (in ``payload_dir``), point the workers at it, return the bridge to pass."""
    hub = normalize_hub_callbacks(callbacks)
    if not hub:
        return []
    set_callbacks_payload_env(write_hub_callbacks_payload(hub, payload_dir=payload_dir))
    return [InstructLabCallbackBridge()]
