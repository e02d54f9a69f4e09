"""``dpo``: Direct Preference Optimization on chosen/rejected pairs, and its :func:`dpo` function.

The keywords are the fields of :class:`training_hub.params.DPOParams` (keyword-only, ``None``: not set). The
``native`` backend trains every weight against a frozen reference, or LoRA adapters with ``use_lora=True``
(the reference is then the base model with the adapter disabled); see ``docs/dpo.md``.
"""

from __future__ import annotations

from training_hub.algorithms.base import AlgorithmRegistry, ParamsAlgorithm
from training_hub.algorithms.functions import algorithm_function


class DPOAlgorithm(ParamsAlgorithm):
    """Direct Preference Optimization (Rafailov et al. 2023, arXiv:2305.18290), IPO and robust DPO."""

    name = "dpo"


def register_dpo() -> None:
    """Register ``dpo`` and its backend (idempotent)."""
    from training_hub.backends.native import NativeBackend

    AlgorithmRegistry.register_algorithm("dpo", DPOAlgorithm)
    AlgorithmRegistry.register_backend("dpo", "native", NativeBackend)


dpo = algorithm_function(
    "dpo",
    """Preference tuning: raise the likelihood of chosen over rejected responses relative to a frozen reference.

    Data: JSONL of ``{"prompt", "chosen", "rejected"}`` (text, or chat message lists); only response tokens
    count. Runs on the ``native`` backend (portable, CPU or GPU; DDP or FSDP; LoRA with ``use_lora``). With
    ``nproc_per_node`` > 1 (or ``nnodes`` > 1) from a plain Python process, training is launched under torchrun.

    Returns:
        The engine's summary dict (``final_loss``, ``steps``, ``output_model_path``, ``metrics_path``, ...).
    """,
    __name__,
)
