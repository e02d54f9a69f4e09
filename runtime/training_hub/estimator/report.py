"""Plain-text tables of an estimate and a plan (what ``training-hub estimate`` prints)."""

from __future__ import annotations

from training_hub.estimator.planner import Plan
from training_hub.estimator.result import GIB, MemoryEstimate


def human_bytes(n: int | float) -> str:
    """``n`` bytes as GiB/MiB/KiB with two decimals."""
    for unit, size in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def format_estimate(est: MemoryEstimate) -> str:
    """The per-GPU breakdown as a table, then the assumptions."""
    a = est.assumptions
    rows = [(name.replace("_", " "), value) for name, value in est.breakdown.components().items()]
    rows += [("", -1), ("low", est.low), ("expected", est.expected), ("high", est.high)]
    width = max(len(name) for name, _ in rows)
    lines = [
        f"Memory per GPU: {a.training_method} on {a.model_type}, {a.num_gpus} GPU(s), {a.tokens_per_gpu} tokens/GPU",
        f"{'component'.ljust(width)}  {'bytes':>16}  {'size':>11}",
        f"{'-' * width}  {'-' * 16}  {'-' * 11}",
    ]
    for name, value in rows:
        if value < 0:
            lines.append(f"{'-' * width}  {'-' * 16}  {'-' * 11}")
            continue
        lines.append(f"{name.ljust(width)}  {value:>16,}  {human_bytes(value):>11}")
    lines.append("")
    lines.append(
        f"parameters: {a.total_parameters:,} total, {a.trainable_parameters:,} trainable; "
        f"{a.optimizer}; sharding: {a.sharding}; activation checkpointing: "
        f"{'on' if a.activation_checkpointing else 'off'}; liger: {'on' if a.liger else 'off'}"
    )
    lines += [f"- {note}" for note in a.notes]
    if a.engine != "generic":
        lines.append(f"engine: {a.engine} (what it does, and where upstream it says so):")
        lines += [f"  - {line}" for line in a.engine_assumptions]
    return "\n".join(lines)


def format_plan(result: Plan) -> str:
    """The recommended layout (or why nothing fits, with suggestions)."""
    head = (
        f"Plan: {result.nodes} node(s) x {result.gpus_per_node} GPU(s) = {result.total_gpus} GPU(s), "
        f"expected {human_bytes(result.per_gpu_expected)} per GPU "
        f"(low {human_bytes(result.per_gpu_low)}, high {human_bytes(result.per_gpu_high)})"
        if result.fits
        else "Plan: NOTHING FITS"
    )
    lines = [head, result.explanation]
    if result.suggestions:
        lines.append("What would fit:")
        lines += [f"  - {s}" for s in result.suggestions]
    lines.append(f"(estimator {result.estimator_version})")
    return "\n".join(lines)
