"""The pod environment readers: numbers and on/off switches read one way for every ``TRAINING_HUB_*`` knob."""

from __future__ import annotations

import pytest

from training_hub.contracts import pod_env
from training_hub.errors import InvalidInputError
from training_hub.observability.console import StepPrinter
from training_hub.observability.guards import LossGuard

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("raw", ["0", "off", "OFF", " false ", "no", "None"])
def test_every_off_spelling_reads_false(raw: str) -> None:
    assert pod_env.read_switch("X", True, {"X": raw}) is False


@pytest.mark.parametrize("raw", ["1", "on", "True", " yes "])
def test_every_on_spelling_reads_true(raw: str) -> None:
    assert pod_env.read_switch("X", False, {"X": raw}) is True


@pytest.mark.parametrize("raw", [None, "", "auto", "maybe"])
def test_unset_or_other_reads_the_default(raw: str | None) -> None:
    env = {} if raw is None else {"X": raw}
    assert pod_env.read_switch("X", None, env) is None
    assert pod_env.read_switch("X", True, env) is True


def test_readers_agree_on_off() -> None:
    """The health checks and the progress bar take the same spellings (they had three lists before)."""
    for raw in sorted(pod_env.OFF_WORDS):
        assert LossGuard.from_env({"TRAINING_HUB_HEALTH_CHECKS": raw}).enabled is False
    assert LossGuard.from_env({}).enabled is True


def test_progress_bar_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINING_HUB_PROGRESS_BAR", "none")
    assert StepPrinter().bar is False
    monkeypatch.setenv("TRAINING_HUB_PROGRESS_BAR", "yes")
    assert StepPrinter().bar is True


def test_read_number_refuses_garbage() -> None:
    with pytest.raises(InvalidInputError, match="X='abc' is not a number"):
        pod_env.read_number("X", 1.0, env={"X": "abc"})
    assert pod_env.read_number("X", 2.5, env={}) == 2.5


def test_metrics_port_zero_is_a_port_not_off() -> None:
    from training_hub.observability.auto import metrics_port

    assert metrics_port({pod_env.METRICS_PORT: "0"}) == 0
    assert metrics_port({pod_env.METRICS_PORT: "off"}) is None
    assert metrics_port({pod_env.METRICS_PORT: "9400"}) == 9400
