"""The one callback bridge of the torchrun engines (instructlab-training, mini-trainer): hub callbacks through
their ``TrainingArgs.callbacks``.

Both engines send each callback to their torchrun workers as the source text of its class
(``serialize_callback``: ``inspect.getsource``) and rebuild it there with ``exec`` in a namespace whose
``TrainerCallback`` is the engine's own base (``deserialize_callback``, the same code in
``instructlab/training/callbacks.py`` 0.16 and ``mini_trainer/callbacks.py`` 0.9). The parent process only
serializes the list (neither engine's ``TrainingArgs`` checks the items' type). So the bridge is one
module-level class whose source names ``TrainerCallback`` and builtins and nothing else (the worker's
``exec`` has no ``from __future__ import annotations``: an annotation naming ``Any`` is a ``NameError``
there), imports inside its methods and a no-argument constructor; in this process that name is :class:`TrainerCallback` below, a stand-in that is never run. In
the worker it reads the hub callbacks of the payload file named by ``TRAINING_HUB_CALLBACKS_PATH`` (see
:mod:`training_hub.adapters.serialize`). :mod:`training_hub.adapters.instructlab` and
:mod:`training_hub.adapters.mini_trainer` export it under upstream's names. Imports no engine.
"""

from __future__ import annotations

from typing import Any

from training_hub.adapters.serialize import (
    normalize_hub_callbacks,
    set_callbacks_payload_env,
    write_hub_callbacks_payload,
)


class TrainerCallback:
    """The bridge's base in this process: a name only. The bridge is sent by source, and each engine's worker
    binds ``TrainerCallback`` to its own base class when it rebuilds it."""


class HubCallbackBridge(TrainerCallback):
    """An engine callback that fires the hub callbacks of the payload file (in the engine's worker)."""

    def __init__(self) -> None:
        from training_hub.adapters.distributed import HubCallbackDispatcher

        self._dispatcher = HubCallbackDispatcher()  # reads the payload on the first hook

    def _dispatch(self, hook: str, context: object) -> None:
        self._dispatcher.dispatch(hook, context)

    # One line per hook of TrainingHubCallback (inside the class: the worker sees its source only).
    from functools import partialmethod

    on_train_begin = partialmethod(_dispatch, "on_train_begin")
    on_epoch_begin = partialmethod(_dispatch, "on_epoch_begin")
    on_step_begin = partialmethod(_dispatch, "on_step_begin")
    on_log = partialmethod(_dispatch, "on_log")
    on_evaluate = partialmethod(_dispatch, "on_evaluate")
    on_save = partialmethod(_dispatch, "on_save")
    on_step_end = partialmethod(_dispatch, "on_step_end")
    on_epoch_end = partialmethod(_dispatch, "on_epoch_end")
    on_train_end = partialmethod(_dispatch, "on_train_end")


def adapt_hub_callbacks(callbacks: Any, payload_dir: str | None = None) -> list[HubCallbackBridge]:
    """Write the payload (in ``payload_dir``), point the workers at it, return the bridge to pass."""
    hub = normalize_hub_callbacks(callbacks)
    if not hub:
        return []
    set_callbacks_payload_env(write_hub_callbacks_payload(hub, payload_dir=payload_dir))
    return [HubCallbackBridge()]
