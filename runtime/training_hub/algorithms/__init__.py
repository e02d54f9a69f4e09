"""Algorithms: base classes, the registry, the built-in algorithms and their convenience functions.

Importing this package registers ``sft`` (backends ``native``, ``instructlab-training``), ``osft``
(``native``, ``mini-trainer``), ``lora_sft`` (``peft``, ``unsloth``) and ``embedding_sft``
(``sentence-transformers``). Nothing here imports torch.
"""

from training_hub.algorithms.base import (
    Algorithm,
    AlgorithmRegistry,
    Backend,
    ParamsAlgorithm,
    choose_backend,
    create_algorithm,
)
from training_hub.algorithms.builtin import LoRASFTAlgorithm, OSFTAlgorithm, SFTAlgorithm, register_builtin
from training_hub.algorithms.dpo import DPOAlgorithm, dpo, register_dpo
from training_hub.algorithms.embedding import EmbeddingSFTAlgorithm, embedding_sft
from training_hub.algorithms.functions import lora_sft, osft, sft

register_builtin()
register_dpo()

__all__ = [
    "Algorithm",
    "AlgorithmRegistry",
    "Backend",
    "DPOAlgorithm",
    "EmbeddingSFTAlgorithm",
    "LoRASFTAlgorithm",
    "OSFTAlgorithm",
    "ParamsAlgorithm",
    "SFTAlgorithm",
    "choose_backend",
    "create_algorithm",
    "dpo",
    "embedding_sft",
    "lora_sft",
    "osft",
    "sft",
]
