"""Unicode sparklines (``▁▂▃▄▅▆▇█``) for loss curves in a terminal."""

from __future__ import annotations

import math
from collections.abc import Sequence

BARS = "▁▂▃▄▅▆▇█"


def resample(values: Sequence[float], width: int) -> list[float]:
    """Reduce ``values`` to at most ``width`` points by averaging equal buckets (order kept).

    Non-finite values are dropped first.
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if width <= 0:
        raise ValueError("width must be positive")
    if len(finite) <= width:
        return finite
    out: list[float] = []
    n = len(finite)
    for i in range(width):
        lo, hi = i * n // width, (i + 1) * n // width
        bucket = finite[lo:hi] or [finite[min(lo, n - 1)]]
        out.append(sum(bucket) / len(bucket))
    return out


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """A one-line sparkline of ``values``, lowest value ``▁``, highest ``█``.

    Args:
        values: The series (e.g. losses by step); non-finite entries are skipped.
        width: Maximum number of characters (longer series are averaged into buckets).

    Returns:
        The sparkline; empty for an empty series.
    """
    points = resample(values, width)
    if not points:
        return ""
    lo, hi = min(points), max(points)
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return BARS[len(BARS) // 2] * len(points)
    scale = (len(BARS) - 1) / (hi - lo)
    return "".join(BARS[round((v - lo) * scale)] for v in points)
