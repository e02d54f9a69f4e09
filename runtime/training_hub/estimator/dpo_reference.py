"""The DPO row of the memory estimate: what the frozen reference adds to the policy's training memory.

DPO trains the policy like SFT on a packed micro-batch of chosen and rejected rows (same token budget, so the
same activations), and per micro-batch also runs the reference forward without gradients:

* ``model``: a second copy of the starting weights, held in the parameter dtype (sharded like the policy
  under FSDP), plus the reference's logits and fp32 log-softmax of the micro-batch;
* ``logits``: LoRA-DPO, whose reference is the policy with its adapter disabled: only the logits;
* ``none``: reference log-probs precomputed before training (or given in the data): nothing.
"""

from __future__ import annotations

import math
from typing import Any, Literal

DPOReference = Literal["none", "model", "logits"]


def dpo_reference_kind(hyperparameters: dict[str, Any]) -> DPOReference:
    """What the reference costs during training, from a run's ``dpo`` hyperparameters."""
    if hyperparameters.get("precompute_ref_log_probs"):
        return "none"
    return "logits" if hyperparameters.get("use_lora") else "model"


def dpo_reference_bytes(
    reference: DPOReference,
    total_params: int,
    vocab: int,
    tokens: int,
    param_bytes: float,
    act_bytes: int,
    ranks: int,
) -> dict[str, int]:
    """Per-GPU bytes of the reference, by breakdown detail key (``parameters.*`` and ``logits.*``).

    Args:
        reference: ``none``, ``model`` or ``logits``.
        total_params: Parameters of the base model.
        vocab: Vocabulary size.
        tokens: Tokens of one micro-batch.
        param_bytes: Bytes per weight (2 in bf16, 4 in fp32).
        act_bytes: Bytes per logit in the compute dtype.
        ranks: Ranks the weights are sharded over (1: replicated).
    """
    if reference == "none":
        return {}
    out = {"logits.dpo_reference": tokens * vocab * (act_bytes + 4)}
    if reference == "model":
        out["parameters.dpo_reference"] = math.ceil(total_params * param_bytes / max(ranks, 1))
    return out
