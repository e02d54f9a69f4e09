"""Lifecycle callbacks with upstream training_hub's contract (``training_hub.callbacks`` of 0.11).

Subclass :class:`TrainingHubCallback`, override the hooks you need and pass instances as
``callbacks=[...]`` to :func:`~training_hub.sft`, :func:`~training_hub.osft` or
:func:`~training_hub.lora_sft`. Every backend fires the same nine hooks with a :class:`TrainingHubContext`:

* ``native`` / ``peft`` (our engine): in the training process, on rank 0 only unless the class sets
  ``run_on_all_ranks = True``. A run launched under torchrun from a plain Python process gets the callbacks
  through a payload file (see :mod:`training_hub.adapters.serialize`): the class source is sent, instance
  state is not (upstream's rule for torchrun backends).
* ``instructlab-training`` / ``mini-trainer``: through their ``TrainingArgs.callbacks`` field (a bridge
  class, :mod:`training_hub.adapters.engine_bridge`).
* ``unsloth``: as Hugging Face ``TrainerCallback`` adapters (:mod:`training_hub.adapters.unsloth`).

A hook that raises is logged and ignored: callbacks never stop training. This module imports only the
standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The hooks, in the order a training run fires them (first to last).
HUB_HOOKS: tuple[str, ...] = (
    "on_train_begin",
    "on_epoch_begin",
    "on_step_begin",
    "on_log",
    "on_evaluate",
    "on_save",
    "on_step_end",
    "on_epoch_end",
    "on_train_end",
)


@dataclass
class TrainingHubControl:
    """Mutable flags a callback may set to ask the trainer to save or stop (Hugging Face ``TrainerControl``
    style). Honoured by the Hugging Face based backends (``unsloth``)."""

    should_save: bool = False
    should_training_stop: bool = False


@dataclass
class TrainingHubContext:
    """The training state every hook receives, the same for every backend.

    Attributes:
        step: Global optimizer step (0 before the first step).
        epoch: Current epoch (0-based).
        loss: Latest training loss (the eval loss in ``on_evaluate``), if known.
        learning_rate: Learning rate of the latest step, if known.
        is_main_process: True on global rank 0.
        output_dir: The run's checkpoint directory.
        metrics: The backend's metrics of the event, flattened (``checkpoint_path`` in ``on_save``).
        control: Control flags (Hugging Face based backends), else ``None``.
    """

    step: int = 0
    epoch: int = 0
    loss: float | None = None
    learning_rate: float | None = None
    is_main_process: bool = True
    output_dir: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    control: TrainingHubControl | None = None


class TrainingHubCallback:
    """Base class of training callbacks: every hook is a no-op; override the ones you need.

    Attributes:
        run_on_all_ranks: False (default): hooks fire on the main process only. True: on every rank.
    """

    run_on_all_ranks: bool = False

    def on_train_begin(self, context: TrainingHubContext) -> None:
        """After the model and data are ready, before the first step."""

    def on_epoch_begin(self, context: TrainingHubContext) -> None:
        """At the start of each epoch."""

    def on_step_begin(self, context: TrainingHubContext) -> None:
        """At the start of each optimizer step."""

    def on_log(self, context: TrainingHubContext) -> None:
        """When a step's metrics are logged."""

    def on_evaluate(self, context: TrainingHubContext) -> None:
        """After an evaluation (``metrics`` holds ``eval_loss``)."""

    def on_save(self, context: TrainingHubContext) -> None:
        """After a checkpoint is complete (``metrics['checkpoint_path']``)."""

    def on_step_end(self, context: TrainingHubContext) -> None:
        """At the end of each optimizer step."""

    def on_epoch_end(self, context: TrainingHubContext) -> None:
        """At the end of each epoch."""

    def on_train_end(self, context: TrainingHubContext) -> None:
        """After training completes."""


def split_callbacks(callbacks: Any) -> tuple[list[TrainingHubCallback], list[Any]]:
    """Separate :class:`TrainingHubCallback` instances from engine callbacks (``on_step`` protocol).

    Args:
        callbacks: ``None``, one callback, or a sequence of them.

    Returns:
        The hub callbacks and the other callbacks, each in the given order.
    """
    if callbacks is None:
        return [], []
    items = [callbacks] if isinstance(callbacks, TrainingHubCallback) else list(callbacks)
    hub = [cb for cb in items if isinstance(cb, TrainingHubCallback)]
    return hub, [cb for cb in items if not isinstance(cb, TrainingHubCallback)]


#: Backends whose engine checkpoints on SIGTERM itself (upstream's ``_NATIVE_JIT_BACKENDS``): no defaults.
NATIVE_JIT_BACKENDS = frozenset({"sft", "osft"})


def merge_default_callbacks(
    user_callbacks: list[TrainingHubCallback] | TrainingHubCallback | None,
    *,
    enable_jit_checkpoint: bool = False,
    ckpt_output_dir: str | None = None,
    backend: str | None = None,
    checkpoint_storage: str | None = None,
) -> list[TrainingHubCallback]:
    """The callbacks a run gets, as upstream builds them: its defaults first, then the user's.

    For a ``backend`` other than ``sft`` / ``osft``: :class:`~training_hub.jit_checkpoint.JITCheckpointCallback`
    when ``enable_jit_checkpoint`` and ``ckpt_output_dir`` are set, and
    :class:`~training_hub.jit_checkpoint.RemoteCheckpointSyncCallback` when ``checkpoint_storage`` is a URI.
    The training functions here do not call this (the engine checkpoints on SIGTERM and mirrors
    ``checkpoint_storage`` itself); it is for scripts that assemble callbacks as upstream does.

    Raises:
        TypeError: An item is not a :class:`TrainingHubCallback`.
        ValueError: ``checkpoint_storage`` is neither unset, ``"pvc"`` nor a URI (upstream's rule).
    """
    from training_hub.adapters.serialize import normalize_hub_callbacks
    from training_hub.jit_checkpoint import JITCheckpointCallback, RemoteCheckpointSyncCallback
    from training_hub.storage.uri import has_scheme

    user = normalize_hub_callbacks(user_callbacks)
    if checkpoint_storage not in (None, "", "pvc") and not has_scheme(str(checkpoint_storage)):
        raise ValueError(
            "checkpoint_storage must be None, 'pvc', or a remote URI such as 's3://bucket/prefix'; "
            f"got {checkpoint_storage!r}"
        )
    defaults: list[TrainingHubCallback] = []
    if backend not in NATIVE_JIT_BACKENDS:
        if enable_jit_checkpoint and ckpt_output_dir:
            defaults.append(JITCheckpointCallback())
        if checkpoint_storage not in (None, "", "pvc"):
            defaults.append(RemoteCheckpointSyncCallback())
    return [*defaults, *user]
