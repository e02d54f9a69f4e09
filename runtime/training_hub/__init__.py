"""training_hub: algorithm-first LLM fine-tuning (SFT, OSFT, LoRA) on CPU or GPU, one process or many.

Public API::

    from training_hub import sft, osft, lora_sft, estimate, plot_loss
    from training_hub import Algorithm, Backend, AlgorithmRegistry, create_algorithm

Importing this package imports neither torch nor transformers (the operator imports it): engines and
matplotlib are imported when training or plotting starts, and ``estimate`` is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from training_hub.algorithms import (
    Algorithm,
    AlgorithmRegistry,
    Backend,
    create_algorithm,
    dpo,
    embedding_sft,
    lora_sft,
    osft,
    sft,
)
from training_hub.visualization import plot_loss

if TYPE_CHECKING:
    from training_hub.estimator import estimate

__all__ = [
    "Algorithm",
    "AlgorithmRegistry",
    "Backend",
    "create_algorithm",
    "dpo",
    "embedding_sft",
    "estimate",
    "lora_sft",
    "osft",
    "plot_loss",
    "sft",
]


def __getattr__(name: str) -> Any:
    if name == "estimate":
        from training_hub.estimator import estimate as _estimate

        return _estimate
    raise AttributeError(f"module 'training_hub' has no attribute {name!r}")
