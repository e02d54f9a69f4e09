"""Per-GPU memory estimator and GPU planner that work from a model's ``config.json`` alone.

Importing this package never imports torch or transformers (the operator image has neither); only the
meta-device fallback for unknown architectures and :mod:`training_hub.estimator.measure` use them.
"""

from __future__ import annotations

from training_hub.estimator.families import supported_model_types
from training_hub.estimator.inputs import EstimateInputs
from training_hub.estimator.memory import estimate, estimate_from_inputs
from training_hub.estimator.model_config import load_model_config
from training_hub.estimator.param_count import UnsupportedArchitectureError, count_parameters, model_shape
from training_hub.estimator.planner import (
    GPU_PRODUCTS,
    Plan,
    PlanningBudgetExceeded,
    gpu_memory_for_product,
    parse_gpu_memory,
    plan,
    plan_or_raise,
    require_fit,
)
from training_hub.estimator.result import ESTIMATOR_VERSION, Assumptions, MemoryBreakdown, MemoryEstimate

__all__ = [
    "ESTIMATOR_VERSION",
    "GPU_PRODUCTS",
    "PlanningBudgetExceeded",
    "Assumptions",
    "EstimateInputs",
    "MemoryBreakdown",
    "MemoryEstimate",
    "Plan",
    "UnsupportedArchitectureError",
    "count_parameters",
    "estimate",
    "estimate_from_inputs",
    "gpu_memory_for_product",
    "load_model_config",
    "model_shape",
    "parse_gpu_memory",
    "plan",
    "plan_or_raise",
    "require_fit",
    "supported_model_types",
]
