"""Prometheus metrics of the operator (served on ``--metrics-port`` at ``/metrics``)."""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from training_hub_operator.api.status import PHASES

RECONCILES = Counter(
    "traininghub_reconcile_total", "Reconciles of TrainingRuns by trigger and result.", ["trigger", "result"]
)
RECONCILE_ERRORS = Counter(
    "traininghub_reconcile_errors_total", "Reconciles that raised an error.", ["trigger"]
)
RECONCILE_LATENCY = Histogram(
    "traininghub_reconcile_duration_seconds",
    "Duration of one reconcile.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RUNS_BY_PHASE = Gauge("traininghub_runs", "TrainingRuns known to this operator, by phase.", ["phase"])
CHILDREN_CREATED = Counter("traininghub_children_created_total", "Child objects created, by kind.", ["kind"])
STATUS_WRITES = Counter("traininghub_status_writes_total", "Status patches written (only on change).")
RUNS_STALLED = Gauge(
    "traininghub_runs_stalled", "Running TrainingRuns with no training step within their stall timeout."
)
RESYNC_SKIPPED = Counter(
    "traininghub_resync_skipped_total",
    "Unfinished TrainingRuns the resync left alone: unchanged since their last reconcile, no timer due.",
)
EVENTS = Counter("traininghub_events_total", "Events posted on TrainingRuns.", ["type", "reason"])

for _phase in PHASES:
    RUNS_BY_PHASE.labels(phase=_phase).set(0)


class RunPhases(dict[str, str]):
    """``{namespace/name: phase}`` of the runs this process knows, with ``traininghub_runs`` by phase kept in
    step: setting or dropping a run moves one count (O(1)) where recounting every run on every reconcile was
    O(N), i.e. O(N^2) over a burst of N new runs. Thread-safe (reconciles of different runs run at once)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(PHASES, 0)
        for phase in PHASES:
            RUNS_BY_PHASE.labels(phase=phase).set(0)

    def __setitem__(self, key: str, phase: str) -> None:
        with self._lock:
            old = self.get(key)
            super().__setitem__(key, phase)
            if old != phase:
                if old is not None:
                    self._move(old, -1)
                self._move(phase, 1)

    def pop(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        """Drop a run (its phase counted no more); returns its phase, else ``default``."""
        with self._lock:
            if key not in self:
                return default
            old = super().pop(key)
            self._move(old, -1)
            return old

    def _move(self, phase: str, delta: int) -> None:
        self._counts[phase] = n = self._counts.get(phase, 0) + delta
        RUNS_BY_PHASE.labels(phase=phase).set(n)


def serve(port: int, host: str = "0.0.0.0") -> None:
    """Start the HTTP endpoint in a daemon thread (port 0: disabled)."""
    if port:
        start_http_server(port, addr=host)
