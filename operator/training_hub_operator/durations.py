"""Durations in annotations and settings: ``90``, ``90s``, ``10m``, ``1h30m``, ``0`` / ``off``."""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


class DurationError(ValueError):
    """A duration string could not be read."""


def parse_duration(text: str | float | int) -> float:
    """Seconds of a duration: ``90``, ``90s``, ``10m``, ``1h30m``, ``0`` / ``off`` (0: disabled).

    Raises:
        DurationError: For anything else.
    """
    if isinstance(text, int | float):
        if text < 0 or not math.isfinite(text):
            raise DurationError(f"duration must be >= 0, got {text}")
        return float(text)
    s = str(text).strip().lower()
    if s in ("off", "never", "none", "false", "0"):
        return 0.0
    try:
        value = float(s)
    except ValueError:
        m = _DURATION.match(s)
        if not s or not m or not any(m.groups()):
            raise DurationError(f"cannot read duration {text!r}: use e.g. 90s, 10m, 1h30m, or off") from None
        h, mi, se = (float(g) if g else 0.0 for g in m.groups())
        return h * 3600 + mi * 60 + se
    if value < 0 or not math.isfinite(value):
        raise DurationError(f"duration must be >= 0, got {text!r}")
    return value
