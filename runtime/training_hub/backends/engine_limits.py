"""What an engine can honour: the parameters (:class:`Compatibility`) and the callbacks it accepts."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from training_hub.errors import InvalidInputError

logger = logging.getLogger("training_hub")


class Compatibility:
    """Collects what an engine cannot honour.

    A value the user set that the engine cannot honour is a problem (an error, listed all at once); a
    default of training_hub the engine cannot honour is a note (logged), since the user did not ask for it.
    """

    def __init__(self, engine: str, model: BaseModel, explicit: Iterable[str], alternative: str) -> None:
        self.engine = engine
        self.model = model
        self.explicit = frozenset(explicit)
        self.alternative = alternative
        self.problems: list[str] = []
        self.notes: list[str] = []

    def only(self, field: str, allowed: Iterable[Any], behaviour: str) -> None:
        """Require ``field`` to be one of ``allowed``; ``behaviour`` says what the engine does instead."""
        value = getattr(self.model, field)
        if value in list(allowed):
            return
        if field in self.explicit:
            self.problems.append(f"{field}={value!r}: {self.engine} {behaviour}")
        else:
            self.notes.append(f"{field} (default {value!r}): {self.engine} {behaviour}")

    def check(self) -> list[str]:
        """Raise on problems; log and return the notes."""
        if self.problems:
            raise InvalidInputError(
                f"the {self.engine} backend cannot honour these parameters:\n"
                + "\n".join(f"  - {p}" for p in self.problems)
                + f"\nChange them, or use {self.alternative}."
            )
        for note in self.notes:
            logger.warning("%s: %s", self.engine, note)
        return list(self.notes)


def instructlab_pipeline_limits(compat: Compatibility) -> None:
    """The limits instructlab-training and mini-trainer share: instructlab-training's data processing (which
    mini-trainer runs too), its fixed clipping and activation checkpointing, and the features of ours that
    neither engine has here (object-storage mirroring, checkpoint on SIGTERM)."""
    compat.only("max_grad_norm", [1.0], "always clips gradients at norm 1.0")
    compat.only("unmask_roles", [None], "only supports the per-sample `unmask` flag")
    compat.only("data_format", ["auto", "messages", "document"], "reads messages or pretraining documents")
    compat.only("checkpoint_storage", [None], "does not mirror checkpoints to object storage here")
    compat.only("enable_jit_checkpoint", [None, False], "does not checkpoint on SIGTERM here")
    compat.only("activation_checkpointing", [None, True], "always checkpoints activations")
    model: Any = compat.model
    if model.data_format == "document" and not model.is_pretraining:
        compat.problems.append(f"data_format='document' needs is_pretraining=True with {compat.engine}")


def hub_callbacks_only(backend: str, callbacks: Any) -> list[Any]:
    """The :class:`~training_hub.callbacks.TrainingHubCallback` instances of ``callbacks``.

    Upstream engines run in torchrun workers and take hub callbacks only (by class source).

    Raises:
        InvalidInputError: Another kind of callback was given.
    """
    from training_hub.callbacks import split_callbacks

    hub, other = split_callbacks(callbacks)
    if other:
        raise InvalidInputError(
            f"the {backend} backend takes TrainingHubCallback instances only (from training_hub import "
            f"TrainingHubCallback), got {', '.join(type(cb).__name__ for cb in other)}; engine callbacks "
            "(on_step/on_checkpoint) need backend='native'"
        )
    return hub
