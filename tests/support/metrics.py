"""A metrics row as the engine writes it (``training_metrics.jsonl``), for tests of what reads rows."""

from __future__ import annotations


def metrics_row(step: int, total: int = 100, loss: float = 2.0, **extra: object) -> dict[str, object]:
    """Row ``step`` of a ``total``-step run (10 steps an epoch), with ``extra`` keys merged in."""
    base = {
        "step": step,
        "total_steps": total,
        "epoch": (step - 1) // 10,
        "loss": loss,
        "lr": 1e-3,
        "grad_norm": 1.5,
        "tokens": 256,
        "samples_seen": 8 * step,
        "tokens_per_second": 1000.0,
        "elapsed": float(step),
        "steps_per_epoch": 10,
    }
    base.update(extra)
    return base
