"""The runs-by-phase gauge follows the runner's phases one change at a time (``metrics.RunPhases``)."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import REGISTRY

from training_hub_operator.metrics import RunPhases

pytestmark = pytest.mark.unit


def gauge(phase: str) -> float | None:
    """The exported value of ``traininghub_runs{phase=...}``, read from the real registry."""
    return REGISTRY.get_sample_value("traininghub_runs", {"phase": phase})


def test_a_phase_change_moves_one_count_and_a_forgotten_run_counts_no_more() -> None:
    phases = RunPhases()
    phases["ns/a"] = "Queued"
    phases["ns/b"] = "Queued"
    phases["ns/c"] = "Running"
    assert (gauge("Queued"), gauge("Running")) == (2, 1)
    phases["ns/a"] = "Running"
    phases["ns/a"] = "Running"  # no change: counted once
    assert (gauge("Queued"), gauge("Running")) == (1, 2)
    assert phases.pop("ns/c") == "Running"
    assert phases.pop("ns/gone", None) is None
    assert (gauge("Queued"), gauge("Running"), gauge("Succeeded")) == (1, 1, 0)
    assert dict(phases) == {"ns/a": "Running", "ns/b": "Queued"}


def test_counts_stay_exact_under_concurrent_reconciles() -> None:
    phases = RunPhases()

    def churn(worker: int) -> None:
        for i in range(2000):
            key = f"ns/{worker}-{i % 50}"
            phases[key] = ("Queued", "Running", "Succeeded")[i % 3]
            if i % 7 == 0:
                phases.pop(key, None)

    threads = [threading.Thread(target=churn, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for phase in ("Queued", "Running", "Succeeded"):
        assert gauge(phase) == sum(1 for p in phases.values() if p == phase)
