"""training_hub: algorithm-first LLM fine-tuning (SFT, OSFT, LoRA) on CPU or GPU, one process or many.

Public API (upstream training_hub 0.11's names; ``docs/compatibility.md`` lists each one's status)::

    from training_hub import sft, osft, lora_sft, embedding_sft, estimate, plot_loss
    from training_hub import Algorithm, Backend, AlgorithmRegistry, create_algorithm
    from training_hub import TrainingHubCallback, TrainingHubContext

Importing this package imports neither torch nor transformers (the operator imports it): engines and
matplotlib are imported when training or plotting starts, and ``estimate`` is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from training_hub.algorithms import (
    Algorithm,
    AlgorithmRegistry,
    Backend,
    EmbeddingSFTAlgorithm,
    LoRASFTAlgorithm,
    OSFTAlgorithm,
    SFTAlgorithm,
    create_algorithm,
    dpo,
    embedding_sft,
    lora_sft,
    osft,
    sft,
)
from training_hub.algorithms.unsupported import (
    ARTLoRAGRPOBackend,
    GEPAAlgorithm,
    GEPABackend,
    ITSRollout,
    LoRAGRPOAlgorithm,
    MLflowGEPABackend,
    VeRLLoRAGRPOBackend,
    gepa,
    grpo,
    lora_grpo,
)
from training_hub.backends.instructlab import InstructLabTrainingSFTBackend
from training_hub.backends.mini_trainer import MiniTrainerOSFTBackend
from training_hub.backends.sentence_transformers_backend import SentenceTransformersBackend
from training_hub.backends.unsloth import UnslothLoRABackend
from training_hub.callbacks import (
    TrainingHubCallback,
    TrainingHubContext,
    TrainingHubControl,
    merge_default_callbacks,
)
from training_hub.jit_checkpoint import JITCheckpointCallback, RemoteCheckpointSyncCallback
from training_hub.rewards import binary_reward, tool_call_reward
from training_hub.visualization import plot_loss

if TYPE_CHECKING:
    from training_hub.estimator.upstream import (
        BasicEstimator,
        LoRAEstimator,
        OSFTEstimator,
        OSFTEstimatorExperimental,
        QLoRAEstimator,
        estimate,
    )

#: Loaded on first use (upstream's estimator API over ours; see training_hub.estimator.upstream).
_ESTIMATOR_NAMES = (
    "BasicEstimator",
    "LoRAEstimator",
    "OSFTEstimator",
    "OSFTEstimatorExperimental",
    "QLoRAEstimator",
    "estimate",
)

__all__ = [
    "ARTLoRAGRPOBackend",
    "Algorithm",
    "GEPAAlgorithm",
    "GEPABackend",
    "ITSRollout",
    "JITCheckpointCallback",
    "LoRAGRPOAlgorithm",
    "MLflowGEPABackend",
    "RemoteCheckpointSyncCallback",
    "VeRLLoRAGRPOBackend",
    "binary_reward",
    "gepa",
    "grpo",
    "lora_grpo",
    "tool_call_reward",
    "BasicEstimator",
    "LoRAEstimator",
    "OSFTEstimator",
    "OSFTEstimatorExperimental",
    "QLoRAEstimator",
    "AlgorithmRegistry",
    "Backend",
    "EmbeddingSFTAlgorithm",
    "InstructLabTrainingSFTBackend",
    "LoRASFTAlgorithm",
    "MiniTrainerOSFTBackend",
    "OSFTAlgorithm",
    "SFTAlgorithm",
    "SentenceTransformersBackend",
    "TrainingHubCallback",
    "TrainingHubContext",
    "TrainingHubControl",
    "UnslothLoRABackend",
    "create_algorithm",
    "dpo",
    "embedding_sft",
    "estimate",
    "lora_sft",
    "merge_default_callbacks",
    "osft",
    "plot_loss",
    "sft",
    "welcome",
]


def welcome() -> None:
    """Print a greeting (upstream's smoke check that the package imports)."""
    print("Hello from training-hub!")


def __getattr__(name: str) -> Any:
    if name in _ESTIMATOR_NAMES:
        from training_hub.estimator import upstream

        return getattr(upstream, name)
    raise AttributeError(f"module 'training_hub' has no attribute {name!r}")
