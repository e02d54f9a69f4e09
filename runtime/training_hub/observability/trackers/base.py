"""The base of the experiment-tracker callbacks: which metrics they log, and when they open and close."""

from __future__ import annotations

import atexit
import logging
import math
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("training_hub.observability")

#: Keys of an engine metrics row that trackers log (when present and finite).
LOGGED_KEYS: tuple[str, ...] = (
    "loss",
    "lr",
    "grad_norm",
    "tokens_per_second",
    "eval_loss",
    "samples_seen",
    "epoch",
)


def loggable(row: Mapping[str, Any]) -> dict[str, float]:
    """The numeric, finite values of :data:`LOGGED_KEYS` in a metrics row."""
    out: dict[str, float] = {}
    for key in LOGGED_KEYS:
        value = row.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    return out


def flat_config(config: Mapping[str, Any]) -> dict[str, str]:
    """Run parameters as strings (``None`` left out), for trackers' parameter tables."""
    return {k: (v if isinstance(v, str) else repr(v)) for k, v in config.items() if v is not None}


class ExperimentTracker:
    """A training callback that sends each metrics row to a tracker (rank 0 only).

    Subclasses implement :meth:`log` and :meth:`finish`; the tracker is opened by the subclass constructor
    (so a setting that cannot work fails before training) and closed at the end of training or, if
    training stops early, when the process exits.
    """

    name = ""

    def __init__(self) -> None:
        self._closed = False

    def opened(self) -> None:
        """Called by subclasses once their run is open: from now on it is closed at exit at the latest."""
        atexit.register(self.close)

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Send one step's metrics."""
        raise NotImplementedError

    def finish(self, summary: Mapping[str, Any] | None) -> None:
        """Flush and close the tracker's run."""
        raise NotImplementedError

    def on_step(self, row: Mapping[str, Any]) -> None:
        """Engine callback: log the row's metrics at its step."""
        metrics = loggable(row)
        if metrics and not self._closed:
            self.log(metrics, int(row["step"]))

    def on_train_end(self, summary: Mapping[str, Any]) -> None:
        """Engine callback: close the run."""
        self.close(summary)

    def close(self, summary: Mapping[str, Any] | None = None) -> None:
        """Close once (idempotent)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            self.finish(summary)
        except Exception:  # a tracker never fails the run it observes
            log.exception("%s: closing the tracker run failed", self.name)
