"""Model configs (``config.json`` contents, numbers only, no weights anywhere): tiny ones of every supported
analytic family, and real-sized Llama-3-8B and Qwen2-7B shapes; shared by the estimator, operator and
reliability tests."""

from __future__ import annotations

from typing import Any

#: A Llama-3-8B-shaped config.json.
LLAMA_8B_CONFIG: dict[str, Any] = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
    "max_position_embeddings": 8192,
}

#: A Qwen2-7B-shaped config.json (7.6 B parameters).
QWEN2_7B_CONFIG: dict[str, Any] = {
    "model_type": "qwen2",
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "vocab_size": 152064,
    "tie_word_embeddings": False,
    "max_position_embeddings": 32768,
}

_BASE: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 128,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}

#: Extra keys per family (small MoE sizes; the families' defaults would be huge).
_EXTRA: dict[str, dict[str, Any]] = {
    "qwen2_moe": {"num_experts": 4, "moe_intermediate_size": 32, "shared_expert_intermediate_size": 48},
    "qwen3_moe": {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32, "head_dim": 16},
    "mixtral": {"num_local_experts": 4},
    "granitemoe": {"num_local_experts": 4},
    "granitemoeshared": {"num_local_experts": 4, "shared_intermediate_size": 40},
    "olmoe": {"num_experts": 4, "num_experts_per_tok": 2},
    "qwen3": {"head_dim": 32},
    "gemma": {"head_dim": 32},
    "gemma2": {"head_dim": 32},
    "gemma3_text": {"head_dim": 32},
}

FAMILY_TYPES: list[str] = [
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "granite",
    "gemma",
    "gemma2",
    "gemma3_text",
    "phi3",
    "mixtral",
    "qwen2_moe",
    "qwen3_moe",
    "granitemoe",
    "granitemoeshared",
    "olmoe",
    "olmo2",
    "starcoder2",
    "smollm3",
]


def tiny_config(model_type: str, **overrides: Any) -> dict[str, Any]:
    """A tiny config dict of ``model_type`` (the keys one passes to ``AutoConfig.for_model``)."""
    return {"model_type": model_type, **_BASE, **_EXTRA.get(model_type, {}), **overrides}
