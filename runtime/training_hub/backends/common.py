"""Helpers shared by the upstream-engine adapters: availability checks and "can it honour this?" checks."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from training_hub.algorithms.validation import validate
from training_hub.errors import InvalidInputError

logger = logging.getLogger("training_hub")

CUDA_EXTRA = "pip install 'training-hub-k8s[cuda]'"
UNSLOTH_EXTRA = "pip install 'training-hub-k8s[unsloth]'"


def module_available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA device."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def upstream_unavailable_reason(module: str, package: str) -> str | None:
    """Why an upstream engine cannot run here (package missing, no CUDA), or ``None``."""
    if not module_available(module):
        return f"the package {package} is not installed"
    if not cuda_available():
        return f"{package} needs a CUDA GPU and none is available"
    return None


def resolve(algorithm: str, params: Mapping[str, Any]) -> tuple[Any, frozenset[str]]:
    """Validate the given parameters; return the full model (defaults filled) and the names set explicitly."""
    model = validate(algorithm, params)
    return model, frozenset(k for k, v in params.items() if v is not None)


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
