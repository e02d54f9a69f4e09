"""``status.usage`` of a TrainingRun: wall time, GPU-seconds, and the predicted against the actual time."""

from __future__ import annotations

from typing import Any

from training_hub.timefmt import parse_time


def compute_usage(status: dict[str, Any], now: float) -> dict[str, Any] | None:
    """``status.usage``: wall time, GPUs, GPU-seconds, and the predicted against the actual training time.

    Returns:
        ``{"wallSeconds", "gpus", "gpuSeconds", "trainingSeconds"?, "predictedSeconds"?,
        "actualToPredicted"?}`` (camelCase, rounded), or None before the workload started.
    """
    start = parse_time(status.get("startTime"))
    if start is None:
        return None
    end = parse_time(status.get("completionTime")) or now
    wall = max(0.0, end - start)
    plan = status.get("plan") or {}
    gpus = int(plan.get("totalGpus") or 0)
    out: dict[str, Any] = {"wallSeconds": round(wall, 1), "gpus": gpus, "gpuSeconds": round(gpus * wall, 1)}
    progress = status.get("progress") or {}
    training = progress.get("elapsedSeconds")
    if isinstance(training, int | float) and training >= 0:
        out["trainingSeconds"] = round(float(training), 1)
    predicted = progress.get("predictedSeconds")
    if isinstance(predicted, int | float) and predicted > 0:
        out["predictedSeconds"] = round(float(predicted), 1)
        if status.get("phase") == "Succeeded" and isinstance(training, int | float) and training > 0:
            out["actualToPredicted"] = round(float(training) / float(predicted), 3)
    return out
