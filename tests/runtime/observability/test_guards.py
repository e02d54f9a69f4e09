"""The loss guard: NaN/inf at once, sustained divergence, settings from env (``observability.guards``)."""

from __future__ import annotations

import math

import pytest

from training_hub.errors import InvalidInputError
from training_hub.observability.guards import LossGuard, TrainingDivergedError

pytestmark = pytest.mark.unit


# --------------------------------------------------------------------------------------------- guard
def test_guard_fails_at_once_on_nan_and_inf() -> None:
    for bad in (math.nan, math.inf):
        g = LossGuard()
        g.check(1, 2.0)
        with pytest.raises(TrainingDivergedError, match="training diverged: the loss is .* at step 2"):
            g.check(2, bad)


def test_guard_tolerates_noise_but_not_sustained_divergence() -> None:
    g = LossGuard(factor=4.0, patience=5, warmup=5)
    losses = [5.0, 4.0, 6.0, 3.0, 3.5, 2.5, 3.0, 2.0, 9.0, 2.0] * 5  # spikes, no sustained rise
    for s, v in enumerate(losses, 1):
        g.check(s, v)
    g = LossGuard(factor=4.0, patience=5, warmup=5)
    with pytest.raises(TrainingDivergedError, match="more than 4x its reference") as err:
        for s in range(1, 200):
            g.check(s, 2.0 if s < 20 else 200.0)
    assert isinstance(err.value, InvalidInputError)  # exit code 3: a retry cannot help
    assert err.value.exit_code == 3


def test_guard_settings_from_env() -> None:
    g = LossGuard.from_env({"TRAINING_HUB_DIVERGENCE_FACTOR": "10", "TRAINING_HUB_DIVERGENCE_PATIENCE": "2"})
    assert g.factor == 10 and g.patience == 2 and g.enabled
    off = LossGuard.from_env({"TRAINING_HUB_HEALTH_CHECKS": "off"})
    off.check(1, math.nan)  # disabled: no error
    with pytest.raises(InvalidInputError, match="TRAINING_HUB_DIVERGENCE_FACTOR"):
        LossGuard.from_env({"TRAINING_HUB_DIVERGENCE_FACTOR": "abc"})
    with pytest.raises(InvalidInputError, match="must be a number >= 1"):
        LossGuard.from_env({"TRAINING_HUB_DIVERGENCE_FACTOR": "0.5"})
