"""What the native engine does with upstream training_hub's backend-specific keywords.

Upstream's ``sft``/``osft``/``lora_sft`` take keywords of their engines (instructlab-training, mini-trainer,
unsloth). The native engine honours what it can (see ``docs/compatibility.md``) and rejects a value it cannot
honour, naming the backend that can. Renames (``beta1``...) and the batch/save arithmetic are resolved by the
parameter models; data keys, ``dataset_type`` and ``unmask_messages`` by :mod:`training_hub.data.options`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from training_hub.backends.engine_limits import Compatibility

#: keyword -> (values the native engine honours, what it does instead, the backend that has the feature, or
#: ``None`` where no backend here has it: upstream's unsloth vision/multi-GPU and bitsandbytes options).
NATIVE_LIMITS: dict[str, tuple[tuple[Any, ...], str, str | None]] = {
    "use_processed_dataset": ((None, False), "tokenises data_path itself", "mini-trainer"),
    "lr_scheduler_kwargs": ((None, {}), "has no scheduler options", "mini-trainer"),
    "save_final_checkpoint": ((None, True), "always saves the final model", "mini-trainer"),
    "trust_remote_code": ((None, False), "loads built-in transformers architectures only", "mini-trainer"),
    "load_in_8bit": ((None, False), "does not quantise the base model", "unsloth"),
    "bnb_4bit_quant_type": ((None,), "does not quantise the base model", None),
    "bnb_4bit_compute_dtype": ((None,), "does not quantise the base model", None),
    "bnb_4bit_use_double_quant": ((None, False), "does not quantise the base model", None),
    "flash_attention": ((None, False), "uses its own padding-free attention, not flash-attn", "unsloth"),
    "fp16": ((None, False), "trains in bfloat16 or float32 (bf16)", "unsloth"),
    "tf32": ((None, False), "does not switch TF32 matmuls on", "unsloth"),
    "enable_model_splitting": ((None, False), "shards with FSDP (distributed_strategy='fsdp')", None),
    "finetune_vision_layers": ((None,), "trains language models only", None),
    "finetune_language_layers": ((None, True), "trains language models only", None),
}


def check_upstream_keywords(algorithm: str, model: BaseModel, explicit: frozenset[str]) -> None:
    """Raise :class:`~training_hub.errors.InvalidInputError` for upstream keywords the native engine cannot
    honour (all of them at once), and for data options that disagree."""
    fields = type(model).model_fields
    backend = "peft" if algorithm == "lora_sft" else "native"
    compat = Compatibility(backend, model, explicit, "the backend named in each line")
    for name, (allowed, instead, other) in NATIVE_LIMITS.items():
        if name in fields:
            where = (
                f"backend={other!r} has it" if other else "no backend here has it (upstream's unsloth only)"
            )
            compat.only(name, allowed, f"{instead}; {where}")
    compat.check()
    from training_hub.data.options import data_options  # numpy: only when training

    data_options(model.model_dump())
