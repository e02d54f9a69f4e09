"""Training-health guards: a non-finite or diverging loss stops the run with a clear reason.

The engine calls :meth:`LossGuard.check` on **every rank** with the globally reduced loss, so all ranks take
the same decision at the same step and leave together (no rank is left waiting in a collective). The error
is an :class:`~training_hub.errors.InvalidInputError` (exit code 3, never retried): resuming from the last
checkpoint would replay the same data with the same settings and diverge again. The operator maps its
message (``training diverged: ...``) to the failure reason ``TrainingDiverged``.

Settings (environment of the training process):

* ``TRAINING_HUB_HEALTH_CHECKS``: ``off`` disables the guard (default on);
* ``TRAINING_HUB_DIVERGENCE_FACTOR`` (default 4): the smoothed loss may not exceed ``factor`` times its
  reference, the lower of the first step's loss and the best smoothed loss so far ...
* ``TRAINING_HUB_DIVERGENCE_PATIENCE`` (default 10): ... for this many consecutive steps;
* ``TRAINING_HUB_DIVERGENCE_WARMUP`` (default 10): steps before the divergence check starts.

A NaN or infinite loss fails at once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from training_hub.contracts.pod_env import read_number, read_switch
from training_hub.errors import InvalidInputError

DIVERGED_PREFIX = "training diverged"


class TrainingDivergedError(InvalidInputError):
    """The loss became NaN/infinite or diverged; the settings (learning rate, data) must change."""


def _env_float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    return read_number(name, default, minimum, env)


class LossGuard:
    """Checks each step's loss.

    Args:
        factor: Divergence when the smoothed loss exceeds ``factor`` x its reference: the lower of the first
            step's loss and the best (lowest) smoothed loss after ``warmup``.
        patience: ... for this many consecutive steps.
        warmup: Steps before the divergence check starts (the first losses are noisy).
        span: Span of the exponential moving average (``alpha = 2 / (span + 1)``).
        enabled: ``False``: :meth:`check` does nothing.
    """

    def __init__(
        self,
        factor: float = 4.0,
        patience: int = 10,
        warmup: int = 10,
        span: int = 10,
        enabled: bool = True,
    ) -> None:
        if factor <= 1.0:
            raise InvalidInputError(f"divergence factor must be > 1 (got {factor})")
        self.factor = factor
        self.patience = max(1, int(patience))
        self.warmup = max(0, int(warmup))
        self.alpha = 2.0 / (max(1, span) + 1.0)
        self.enabled = enabled
        self.ema: float | None = None
        self.best: float | None = None
        self.best_step = 0
        self.bad_steps = 0
        self.seen = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LossGuard:
        """A guard configured by ``TRAINING_HUB_*`` variables (see the module docstring).

        Raises:
            InvalidInputError: On a malformed setting.
        """
        e = os.environ if env is None else env
        enabled = read_switch("TRAINING_HUB_HEALTH_CHECKS", True, e) is not False
        return cls(
            factor=_env_float(e, "TRAINING_HUB_DIVERGENCE_FACTOR", 4.0, 1.0000001),
            patience=int(_env_float(e, "TRAINING_HUB_DIVERGENCE_PATIENCE", 10, 1)),
            warmup=int(_env_float(e, "TRAINING_HUB_DIVERGENCE_WARMUP", 10, 0)),
            enabled=enabled,
        )

    def check(self, step: int, loss: float) -> None:
        """Record a step's loss.

        Raises:
            TrainingDivergedError: The loss is NaN/infinite, or the smoothed loss stayed above
                ``factor`` x its best value for ``patience`` steps.
        """
        if not self.enabled:
            return
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"{DIVERGED_PREFIX}: the loss is {loss} at step {step}; lower the learning rate "
                "(or raise warmup_steps / lower max_grad_norm) and check the data for broken samples"
            )
        self.seen += 1
        if self.seen == 1:
            self.best, self.best_step = loss, step
        self.ema = loss if self.ema is None else self.alpha * loss + (1 - self.alpha) * self.ema
        if self.seen <= self.warmup:
            return
        if self.best is None or self.ema < self.best:
            self.best, self.best_step = self.ema, step
        if self.best > 0 and self.ema > self.factor * self.best:
            self.bad_steps += 1
        else:
            self.bad_steps = 0
        if self.bad_steps >= self.patience:
            raise TrainingDivergedError(
                f"{DIVERGED_PREFIX}: the smoothed loss rose to {self.ema:.4g} at step {step}, more than "
                f"{self.factor:g}x its reference {self.best:.4g} (step {self.best_step}) for {self.bad_steps} "
                "steps; lower the learning rate or raise warmup_steps, and resume from an earlier checkpoint "
                "in a new output directory"
            )
