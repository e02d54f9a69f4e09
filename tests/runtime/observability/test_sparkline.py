"""Sparklines of the loss (``observability.sparkline``)."""

from __future__ import annotations

import math

import pytest

from training_hub.observability.sparkline import BARS, resample, sparkline

pytestmark = pytest.mark.unit


# ------------------------------------------------------------------------------------------ sparkline
def test_sparkline_scales_and_resamples() -> None:
    assert sparkline([]) == ""
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == BARS
    assert sparkline([8, 7, 6, 5, 4, 3, 2, 1]) == BARS[::-1]
    assert len(sparkline(range(1000), width=40)) == 40
    assert sparkline([2.0, 2.0, 2.0]) == BARS[4] * 3
    assert sparkline([1.0, math.nan, 3.0]) == BARS[0] + BARS[-1]
    assert resample([1, 2, 3, 4], 2) == [1.5, 3.5]
    with pytest.raises(ValueError):
        resample([1.0], 0)
