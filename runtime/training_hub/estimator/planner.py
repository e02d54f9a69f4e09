"""Choose nodes x GPUs per node for a training run from the memory estimate.

The planner tries GPU counts from small to large (one node up to ``max_gpus_per_node``, then whole
nodes), estimates each (FSDP divides parameters, gradients and optimizer states by the rank count) and
takes the first whose expected per-GPU memory fits the GPU minus the headroom. Values the user fixed
(``nodes``, ``gpus_per_node``) are honoured. When nothing fits, the plan says so (``fits=False``) and
lists what would fit: a smaller ``max_tokens_per_gpu``, Liger, activation checkpointing, LoRA, or a
bigger GPU.
"""

from __future__ import annotations

import re
import time

from pydantic import BaseModel, Field

from training_hub.errors import InvalidInputError
from training_hub.estimator.inputs import EstimateInputs
from training_hub.estimator.memory import estimate_from_inputs
from training_hub.estimator.result import ESTIMATOR_VERSION, GIB, MemoryEstimate

#: Usable memory of common data-center GPUs, in bytes (the size the driver reports, rounded to GiB).
GPU_PRODUCTS: dict[str, int] = {
    "T4": 16 * GIB,
    "V100-16GB": 16 * GIB,
    "V100-32GB": 32 * GIB,
    "A10": 24 * GIB,
    "A10G": 24 * GIB,
    "L4": 24 * GIB,
    "A30": 24 * GIB,
    "A40": 48 * GIB,
    "A6000": 48 * GIB,
    "L40": 48 * GIB,
    "L40S": 48 * GIB,
    "A100-40GB": 40 * GIB,
    "A100-80GB": 80 * GIB,
    "H100": 80 * GIB,
    "H100-80GB": 80 * GIB,
    "H100-NVL": 94 * GIB,
    "H100-94GB": 94 * GIB,
    "H200": 141 * GIB,
    "GH200": 96 * GIB,
    "B200": 180 * GIB,
    "MI250X": 128 * GIB,
    "MI300X": 192 * GIB,
}

_ALIASES: dict[str, str] = {"A100": "A100-40GB", "V100": "V100-16GB", "RTX-A6000": "A6000"}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|tib|kb|mb|gb|tb|ki|mi|gi|ti|k|m|g|t)?\s*$", re.I)
_UNITS = {
    "b": 1,
    "kib": 1024,
    "ki": 1024,
    "mib": 1024**2,
    "mi": 1024**2,
    "gib": 1024**3,
    "gi": 1024**3,
    "tib": 1024**4,
    "ti": 1024**4,
    "kb": 1000,
    "k": 1000,
    "mb": 1000**2,
    "m": 1000**2,
    "gb": 1000**3,
    "g": 1000**3,
    "tb": 1000**4,
    "t": 1000**4,
}
DEFAULT_MAX_NODES = 64


def normalise_product(name: str) -> str:
    """The key of :data:`GPU_PRODUCTS` for a product name as users and node labels spell it."""
    key = name.strip().upper().replace("_", "-").replace(" ", "-")
    for prefix in ("NVIDIA-", "TESLA-", "AMD-", "INSTINCT-"):
        key = key.removeprefix(prefix)
    key = re.sub(r"-(SXM\d?|PCIE)(?=-|$)", "", key)  # form factor, wherever the label puts it
    key = re.sub(r"-HBM3E?$", "", key)
    key = re.sub(r"-(\d+)G(IB)?$", r"-\1GB", key.replace("GIB", "GB"))
    return _ALIASES.get(key, key)


def gpu_memory_for_product(name: str) -> int:
    """Memory in bytes of a GPU product (``A100-80GB``, ``H100``, ``L40S``, ``A10G``, ``T4``, ...).

    Raises:
        InvalidInputError: For an unknown product, listing the known ones.
    """
    key = normalise_product(name)
    if key in GPU_PRODUCTS:
        return GPU_PRODUCTS[key]
    raise InvalidInputError(
        f"unknown GPU product {name!r}; known: {', '.join(GPU_PRODUCTS)} (or give the memory, e.g. 80GiB)"
    )


def parse_gpu_memory(value: str | int) -> int:
    """GPU memory from bytes, a size (``80GiB``, ``80GB``, ``81920Mi``) or a product name.

    Raises:
        InvalidInputError: If the value is neither.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise InvalidInputError(f"GPU memory must be positive, got {value}")
        return value
    text = str(value)
    match = _SIZE.match(text)
    if match:
        number, unit = float(match.group(1)), (match.group(2) or "b").lower()
        size = int(number * _UNITS[unit])
        if size <= 0:
            raise InvalidInputError(f"GPU memory must be positive, got {text!r}")
        return size
    return gpu_memory_for_product(text)


class Plan(BaseModel):
    """The chosen layout and why."""

    nodes: int
    gpus_per_node: int
    total_gpus: int
    per_gpu_low: int
    per_gpu_expected: int
    per_gpu_high: int
    gpu_memory_bytes: int
    budget_bytes: int = Field(description="GPU memory minus headroom: what the expected estimate must fit.")
    fits: bool
    explanation: str
    suggestions: list[str] = Field(default_factory=list)
    breakdown: dict[str, int] = Field(default_factory=dict)
    estimator_version: str = ESTIMATOR_VERSION


def _gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


def _layouts(
    max_gpus_per_node: int, max_nodes: int, nodes: int | None, gpus_per_node: int | None
) -> list[tuple[int, int]]:
    """Candidate (nodes, gpus_per_node), fewest GPUs first."""
    if nodes is not None and gpus_per_node is not None:
        return [(nodes, gpus_per_node)]
    if nodes is not None:
        return [(nodes, g) for g in range(1, max_gpus_per_node + 1)]
    if gpus_per_node is not None:
        return [(n, gpus_per_node) for n in range(1, max_nodes + 1)]
    single = [(1, g) for g in range(1, max_gpus_per_node + 1)]
    return single + [(n, max_gpus_per_node) for n in range(2, max_nodes + 1)]


def _fits(est: MemoryEstimate, budget: int) -> bool:
    return est.expected <= budget


def _largest_fitting_tokens(inputs: EstimateInputs, gpus: int, budget: int) -> int | None:
    """The biggest ``max_tokens_per_gpu`` (at least 1) that fits on ``gpus`` ranks, or None."""
    current = inputs.tokens_per_gpu()

    def ok(tokens: int) -> bool:
        trial = inputs.model_copy(update={"max_tokens_per_gpu": tokens})
        return _fits(estimate_from_inputs(trial, gpus), budget)

    if not ok(1):
        return None
    lo, hi = 1, current
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _suggestions(
    inputs: EstimateInputs, gpus: int, budget: int, gpu_memory: int, headroom: float
) -> list[str]:
    out: list[str] = []
    tokens = _largest_fitting_tokens(inputs, gpus, budget)
    if tokens is not None and tokens < inputs.tokens_per_gpu():
        out.append(
            f"set max_tokens_per_gpu to {tokens} or less (accumulation keeps the effective batch size)"
        )
    if not inputs.use_liger:
        trial = inputs.model_copy(update={"use_liger": True})
        if _fits(estimate_from_inputs(trial, gpus), budget):
            out.append("enable use_liger (fused linear cross-entropy: no logits tensor)")
    if not inputs.activation_checkpointing:
        trial = inputs.model_copy(update={"activation_checkpointing": True})
        if _fits(estimate_from_inputs(trial, gpus), budget):
            out.append("enable activation checkpointing")
    if inputs.training_method in ("sft", "osft"):
        trial = inputs.model_copy(update={"training_method": "lora"})
        if _fits(estimate_from_inputs(trial, gpus), budget):
            out.append(
                f"train LoRA adapters (lora_sft, r={inputs.lora_r}) instead of {inputs.training_method}"
            )
    elif inputs.training_method == "lora" and inputs.device == "cuda":
        trial = inputs.model_copy(update={"training_method": "qlora"})
        if _fits(estimate_from_inputs(trial, gpus), budget):
            out.append("load the base model in 4 bit (QLoRA: load_in_4bit)")
    expected = estimate_from_inputs(inputs, gpus).expected
    bigger = sorted((size, name) for name, size in GPU_PRODUCTS.items() if size > gpu_memory)
    for size, name in bigger:
        if expected <= size * (1.0 - headroom):
            out.append(f"use bigger GPUs: {name} ({_gib(size)}) fits {gpus} GPU(s)")
            break
    if not out:
        out.append(
            f"nothing simple fits: {_gib(expected)} expected per GPU on {gpus} GPU(s) against a budget of "
            f"{_gib(budget)}; combine the options above or use more nodes"
        )
    return out


class PlanningBudgetExceeded(InvalidInputError):
    """Planning took longer than its time budget (``plan(..., deadline=...)``).

    Attributes:
        budget_seconds: The budget that was exceeded.
        layouts: How many layouts were estimated before it ran out.
    """

    def __init__(self, budget_seconds: float, layouts: int) -> None:
        self.budget_seconds = budget_seconds
        self.layouts = layouts
        super().__init__(
            f"planning took longer than its budget of {budget_seconds:g} s ({layouts} layout(s) estimated)"
        )


def plan(
    inputs: EstimateInputs,
    gpu_memory_bytes: int,
    max_gpus_per_node: int = 8,
    headroom: float = 0.1,
    nodes: int | None = None,
    gpus_per_node: int | None = None,
    max_nodes: int | None = None,
    budget_seconds: float | None = None,
) -> Plan:
    """Choose the fewest GPUs (nodes x GPUs per node) on which the expected estimate fits.

    Args:
        inputs: The estimate inputs (method, model, token budget...).
        gpu_memory_bytes: Memory of one GPU.
        max_gpus_per_node: GPUs available per node.
        headroom: Fraction of each GPU kept free (0.1: plan against 90%).
        nodes: Fixed number of nodes (honoured).
        gpus_per_node: Fixed GPUs per node (honoured).
        max_nodes: Most nodes to consider (default 64).
        budget_seconds: Time budget of the whole planning (checked after each estimate; None: unbounded).

    Returns:
        The plan; ``fits=False`` with suggestions when no layout fits (never raises for that).

    Raises:
        InvalidInputError: For invalid arguments (non-positive sizes, fixed values beyond the limits).
        PlanningBudgetExceeded: When planning takes longer than ``budget_seconds``.
    """
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds

    def check(layouts: int) -> None:
        if deadline is not None and time.monotonic() > deadline:
            assert budget_seconds is not None
            raise PlanningBudgetExceeded(budget_seconds, layouts)

    if gpu_memory_bytes <= 0:
        raise InvalidInputError(f"gpu_memory_bytes must be positive, got {gpu_memory_bytes}")
    if max_gpus_per_node < 1:
        raise InvalidInputError(f"max_gpus_per_node must be at least 1, got {max_gpus_per_node}")
    if not 0.0 <= headroom < 1.0:
        raise InvalidInputError(f"headroom must be in [0, 1), got {headroom}")
    limit_nodes = max_nodes if max_nodes is not None else DEFAULT_MAX_NODES
    if limit_nodes < 1:
        raise InvalidInputError(f"max_nodes must be at least 1, got {max_nodes}")
    if nodes is not None and not 1 <= nodes <= limit_nodes:
        raise InvalidInputError(f"nodes={nodes} is outside 1..{limit_nodes} (max_nodes)")
    if gpus_per_node is not None and not 1 <= gpus_per_node <= max_gpus_per_node:
        raise InvalidInputError(
            f"gpus_per_node={gpus_per_node} is outside 1..{max_gpus_per_node} (max_gpus_per_node)"
        )
    budget = int(gpu_memory_bytes * (1.0 - headroom))
    fixed = [f"nodes={nodes}" for _ in [0] if nodes is not None] + [
        f"gpus_per_node={gpus_per_node}" for _ in [0] if gpus_per_node is not None
    ]
    tried: list[str] = []
    last: tuple[int, int, MemoryEstimate] | None = None
    seen_totals: set[int] = set()
    estimated = 0
    for n, g in _layouts(max_gpus_per_node, limit_nodes, nodes, gpus_per_node):
        total = n * g
        est = estimate_from_inputs(inputs, total, gpus_per_node=g)
        last = (n, g, est)
        estimated += 1
        if _fits(est, budget):
            reason = (
                f"{n} node(s) x {g} GPU(s) = {total}: expected {_gib(est.expected)} per GPU "
                f"(low {_gib(est.low)}, high {_gib(est.high)}) fits the budget {_gib(budget)} "
                f"({_gib(gpu_memory_bytes)} minus {headroom:.0%} headroom); {est.assumptions.sharding}."
            )
            if tried:
                reason += " Fewer GPUs do not fit: " + "; ".join(tried[-3:]) + "."
            if fixed:
                reason += " Fixed by the user: " + ", ".join(fixed) + "."
            return _make_plan(n, g, est, gpu_memory_bytes, budget, True, reason, [])
        if total not in seen_totals:
            seen_totals.add(total)
            tried.append(f"{total} GPU(s) need {_gib(est.expected)}")
        check(estimated)
    assert last is not None  # at least one layout is always tried
    n, g, est = last
    reason = (
        f"nothing fits: even {n} node(s) x {g} GPU(s) = {n * g} need {_gib(est.expected)} per GPU, over the "
        f"budget {_gib(budget)} ({_gib(gpu_memory_bytes)} minus {headroom:.0%} headroom)."
    )
    if fixed:
        reason += " Fixed by the user: " + ", ".join(fixed) + "."
    if inputs.distributed_strategy == "ddp":
        reason += " DDP replicates the model on every GPU, so more GPUs do not lower per-GPU memory."
    suggestions = _suggestions(inputs, n * g, budget, gpu_memory_bytes, headroom)
    check(estimated)
    return _make_plan(n, g, est, gpu_memory_bytes, budget, False, reason, suggestions)


def _make_plan(
    n: int,
    g: int,
    est: MemoryEstimate,
    gpu_memory: int,
    budget: int,
    fits: bool,
    explanation: str,
    suggestions: list[str],
) -> Plan:
    return Plan(
        nodes=n,
        gpus_per_node=g,
        total_gpus=n * g,
        per_gpu_low=est.low,
        per_gpu_expected=est.expected,
        per_gpu_high=est.high,
        gpu_memory_bytes=gpu_memory,
        budget_bytes=budget,
        fits=fits,
        explanation=explanation,
        suggestions=suggestions,
        breakdown=est.breakdown.components(),
    )


def require_fit(result: Plan) -> Plan:
    """Return ``result`` if it fits, else raise :class:`InvalidInputError` with the explanation."""
    if not result.fits:
        hints = "; ".join(result.suggestions)
        raise InvalidInputError(f"{result.explanation} Suggestions: {hints}" if hints else result.explanation)
    return result


def plan_or_raise(inputs: EstimateInputs, gpu_memory_bytes: int, **kwargs: int | float | None) -> Plan:
    """:func:`plan`, raising :class:`InvalidInputError` when nothing fits."""
    return require_fit(plan(inputs, gpu_memory_bytes, **kwargs))  # type: ignore[arg-type]
