"""The built-in algorithms (``sft``, ``osft``, ``lora_sft``) and the registration of their backends."""

from __future__ import annotations

from training_hub.algorithms.base import AlgorithmRegistry, ParamsAlgorithm


class SFTAlgorithm(ParamsAlgorithm):
    """Supervised fine-tuning: every weight trains."""

    name = "sft"


class OSFTAlgorithm(ParamsAlgorithm):
    """Orthogonal Subspace Fine-Tuning (Nayak et al. 2025, arXiv:2504.07097)."""

    name = "osft"


class LoRASFTAlgorithm(ParamsAlgorithm):
    """LoRA adapters trained with supervised fine-tuning on a frozen base."""

    name = "lora_sft"


def register_builtin() -> None:
    """Register the built-in algorithms and their backends (idempotent)."""
    from training_hub.algorithms.embedding import EmbeddingSFTAlgorithm
    from training_hub.backends.instructlab import InstructLabTrainingSFTBackend
    from training_hub.backends.mini_trainer import MiniTrainerOSFTBackend
    from training_hub.backends.native import NativeBackend, PeftLoRABackend
    from training_hub.backends.sentence_transformers_backend import SentenceTransformersBackend
    from training_hub.backends.unsloth import UnslothLoRABackend

    AlgorithmRegistry.register_algorithm("sft", SFTAlgorithm)
    AlgorithmRegistry.register_backend("sft", "native", NativeBackend)
    AlgorithmRegistry.register_backend("sft", "instructlab-training", InstructLabTrainingSFTBackend)

    AlgorithmRegistry.register_algorithm("osft", OSFTAlgorithm)
    AlgorithmRegistry.register_backend("osft", "native", NativeBackend)
    AlgorithmRegistry.register_backend("osft", "mini-trainer", MiniTrainerOSFTBackend)

    AlgorithmRegistry.register_algorithm("lora_sft", LoRASFTAlgorithm)
    AlgorithmRegistry.register_backend("lora_sft", "peft", PeftLoRABackend)
    AlgorithmRegistry.register_backend("lora_sft", "unsloth", UnslothLoRABackend)

    AlgorithmRegistry.register_algorithm("embedding_sft", EmbeddingSFTAlgorithm)
    AlgorithmRegistry.register_backend("embedding_sft", "sentence-transformers", SentenceTransformersBackend)
