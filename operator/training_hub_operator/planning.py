"""Planning: from a spec (and the model's ``config.json``) to the run's shape, nodes x GPUs per node.

Pure functions over :mod:`training_hub.estimator`. The operator never reads model weights: it plans from a
config it can reach (inline in the spec, a ConfigMap, the Hugging Face Hub when the run allows it, or a
short planning pod that reads ``config.json`` from the model's PVC: :mod:`~training_hub_operator.model_config_sources`).
The engine the plan is made for comes from :mod:`~training_hub_operator.planned_engine`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from training_hub.errors import InvalidInputError
from training_hub.estimator import (
    ESTIMATOR_VERSION,
    EstimateInputs,
    PlanningBudgetExceeded,
    gpu_memory_for_product,
    parse_gpu_memory,
)
from training_hub.estimator import plan as estimator_plan
from training_hub.storage.uri import kind_of
from training_hub_operator.api.spec import SINGLE_PROCESS_ALGORITHMS, TrainingRunSpec
from training_hub_operator.api.status import GpuEstimate, Plan
from training_hub_operator.planned_engine import planned_engine
from training_hub_operator.settings import OperatorSettings

GIB = 1024**3

#: Backends whose memory behaviour the estimator models (others use the estimator's own path).
_MODELLED_ENGINES = ("native", "peft", "instructlab-training", "mini-trainer", "unsloth")


class PlanningError(ValueError):
    """No plan can be made; ``str()`` says what to set. ``reason`` is the condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class ModelConfig:
    """A model config and where it came from (for the plan's inputs)."""

    config: dict[str, Any]
    origin: str


def human_bytes(n: int) -> str:
    """``61.2Gi`` style."""
    return f"{n / GIB:.1f}Gi"


def needs_model_config(spec: TrainingRunSpec) -> bool:
    """Whether planning needs the model's config (resources not fixed, and GPUs involved)."""
    r = spec.resources
    if r.fixed:
        return False
    return r.gpus_per_node != 0


def gpu_memory_bytes(spec: TrainingRunSpec, settings: OperatorSettings) -> int:
    """Memory of one GPU from ``gpuMemory``, ``gpuProduct`` or the operator default.

    Raises:
        PlanningError: When none is given or the value is unknown.
    """
    r = spec.resources
    try:
        if r.gpu_memory:
            return parse_gpu_memory(r.gpu_memory)
        if r.gpu_product:
            return gpu_memory_for_product(r.gpu_product)
        if settings.default_gpu_memory:
            return parse_gpu_memory(settings.default_gpu_memory)
    except InvalidInputError as exc:
        raise PlanningError("InvalidGPU", str(exc)) from None
    raise PlanningError(
        "GPUMemoryUnknown",
        "cannot plan GPUs without knowing their size: set spec.resources.gpuMemory (e.g. 80Gi) or "
        "spec.resources.gpuProduct (e.g. NVIDIA-A100-SXM4-80GB), or fix spec.resources.nodes and "
        "spec.resources.gpusPerNode",
    )


def model_config_hint(spec: TrainingRunSpec) -> str:
    """What a user can set so the planner gets the model's config."""
    options = ["spec.model.config (the config.json contents)", "spec.model.configMapRef"]
    if kind_of(spec.model.uri) == "hf":
        options.append("spec.model.allowConfigFetch: true")
    options.append("or fix spec.resources.nodes and spec.resources.gpusPerNode")
    return ", ".join(options)


def make_plan(
    spec: TrainingRunSpec,
    hyperparameters: dict[str, Any],
    model: ModelConfig | None,
    settings: OperatorSettings,
) -> Plan:
    """The run's shape.

    Fixed resources are honoured as given (with an estimate when the config is known). Otherwise the
    estimator picks the fewest GPUs on which the expected per-GPU peak fits.

    Args:
        spec: The validated spec.
        hyperparameters: The algorithm's full hyperparameters (defaults included).
        model: The model's config, if reachable.
        settings: Operator settings (default GPU memory).

    Returns:
        The plan (status form).

    Raises:
        PlanningError: When the config is needed and missing, the GPU size is unknown, or nothing fits.
    """
    r = spec.resources
    if r.gpus_per_node == 0:
        nodes = r.nodes or 1
        return Plan(
            nodes=nodes,
            gpus_per_node=0,
            total_gpus=0,
            source="fixed" if r.nodes is not None else "estimated",
            message=f"CPU run: {nodes} node(s) without GPUs (spec.resources.gpusPerNode is 0)",
        )
    if r.fixed and model is None:
        assert r.nodes is not None and r.gpus_per_node is not None
        return Plan(
            nodes=r.nodes,
            gpus_per_node=r.gpus_per_node,
            total_gpus=r.nodes * r.gpus_per_node,
            source="fixed",
            message="spec.resources fixes nodes and gpusPerNode; no estimate (no model config given)",
        )
    if model is None:
        raise PlanningError(
            "ModelConfigUnavailable",
            f"spec.resources does not fix nodes and gpusPerNode, so the operator must plan them from the "
            f"model's config.json, which it cannot reach for {spec.model.uri}: set {model_config_hint(spec)}",
        )
    gpu_mem = gpu_memory_bytes(spec, settings) if not r.fixed else _gpu_memory_or_none(spec, settings)
    engine = planned_engine(spec)
    modelled = engine.name if engine.name in _MODELLED_ENGINES else None
    try:
        inputs = EstimateInputs.from_training_params(
            spec.algorithm, hyperparameters, model.config, engine=modelled
        )
    except (InvalidInputError, ValueError) as exc:
        raise PlanningError("EstimateFailed", f"cannot estimate memory: {exc}") from None
    from training_hub.hardware import planned_hardware

    if hyperparameters.get("bf16") is None and not planned_hardware(r.gpu_product).bf16:
        inputs = inputs.model_copy(update={"dtype": "fp32"})  # the engines train in fp32 without native bf16
    input_summary = {
        "modelConfig": model.origin,
        "modelType": str(model.config.get("model_type", "")),
        "method": inputs.training_method,
        "tokensPerGpu": inputs.tokens_per_gpu(),
        "dtype": inputs.dtype,
        "engine": engine.name,
        "engineReason": engine.reason,
        "activationCheckpointing": inputs.activation_checkpointing,
    }
    if modelled is not None:
        from training_hub.estimator.engines import engine_profile

        input_summary["engineAssumptions"] = engine_profile(modelled).assumptions()
    try:
        if r.fixed and gpu_mem is None:
            from training_hub.estimator import estimate_from_inputs

            assert r.nodes is not None and r.gpus_per_node is not None
            est = estimate_from_inputs(inputs, r.nodes * r.gpus_per_node, gpus_per_node=r.gpus_per_node)
            return Plan(
                nodes=r.nodes,
                gpus_per_node=r.gpus_per_node,
                total_gpus=r.nodes * r.gpus_per_node,
                source="fixed",
                per_gpu=_gpu_estimate(est.low, est.expected, est.high),
                inputs=input_summary,
                estimator_version=ESTIMATOR_VERSION,
                message="spec.resources fixes nodes and gpusPerNode; the estimate is informative",
            )
        assert gpu_mem is not None
        single = spec.algorithm in SINGLE_PROCESS_ALGORITHMS  # one pod with one GPU at most
        result = estimator_plan(
            inputs,
            gpu_mem,
            max_gpus_per_node=1 if single else r.max_gpus_per_node,
            nodes=r.nodes,
            gpus_per_node=r.gpus_per_node,
            max_nodes=1 if single else r.max_nodes,
            budget_seconds=settings.planning_budget_seconds or None,
        )
    except PlanningBudgetExceeded as exc:
        raise PlanningError(
            "PlanningTimeout",
            f"{exc}: the operator stopped planning this run (its budget is --planning-budget-seconds, "
            "TRAINING_HUB_PLANNING_BUDGET_SECONDS); fix spec.resources (nodes and gpusPerNode, or lower "
            "maxNodes / maxGpusPerNode) or check spec.model.config for sizes far beyond a real model",
        ) from None
    except InvalidInputError as exc:
        raise PlanningError("EstimateFailed", f"cannot plan: {exc}") from None
    if not result.fits and not r.fixed:
        hints = "; ".join(result.suggestions)
        raise PlanningError(
            "DoesNotFit",
            f"{result.explanation}"
            + (f" Suggestions: {hints}" if hints else "")
            + " (or raise spec.resources.maxNodes / maxGpusPerNode)",
        )
    return Plan(
        nodes=result.nodes,
        gpus_per_node=result.gpus_per_node,
        total_gpus=result.total_gpus,
        source="fixed" if r.fixed else "estimated",
        gpu_memory_bytes=result.gpu_memory_bytes,
        per_gpu=_gpu_estimate(result.per_gpu_low, result.per_gpu_expected, result.per_gpu_high),
        inputs=input_summary,
        estimator_version=result.estimator_version,
        message=result.explanation,
    )


def _gpu_estimate(low: int, expected: int, high: int) -> GpuEstimate:
    """``status.plan.perGpu``: the estimator's per-GPU bytes (low, expected, high), expected also readable."""
    return GpuEstimate(
        low_bytes=low, expected_bytes=expected, high_bytes=high, expected=human_bytes(expected)
    )


def _gpu_memory_or_none(spec: TrainingRunSpec, settings: OperatorSettings) -> int | None:
    try:
        return gpu_memory_bytes(spec, settings)
    except PlanningError:
        return None
