"""How each supported ``model_type`` lays out its parameters: one :class:`Family` per ``config.json``
``model_type`` and one :class:`MoELayout` per mixture-of-experts kind (each read from transformers'
``modeling_<family>.py``), plus the typed reads of a config's keys.

A table: the rows look alike by shape, each is one family's data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from training_hub.errors import InvalidInputError

Config = dict[str, Any]


def config_value(cfg: Config, key: str, default: Any = None) -> Any:
    """``cfg[key]``, or ``default`` when it is missing or null."""
    value = cfg.get(key)
    return default if value is None else value


def required_dim(cfg: Config, key: str) -> int:
    """``cfg[key]`` as a non-negative integer (a dimension the model cannot be sized without)."""
    value = cfg.get(key)
    if value is None:
        raise InvalidInputError(
            f"model config of type {cfg.get('model_type')!r} has no {key!r}: cannot size the model"
        )
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInputError(f"model config field {key!r} must be a non-negative integer, got {value!r}")
    return value


@dataclass(frozen=True)
class Family:
    """How one ``model_type`` lays out its parameters."""

    default_head_dim: int | None = None  # None: hidden_size // num_attention_heads
    default_tied: bool = False
    qkv_bias: Callable[[Config], bool] = lambda c: bool(config_value(c, "attention_bias", False))
    o_bias: Callable[[Config], bool] = lambda c: bool(config_value(c, "attention_bias", False))
    mlp_bias: Callable[[Config], bool] = lambda c: bool(config_value(c, "mlp_bias", False))
    qk_norm: str | None = None
    norms_per_layer: int = 2
    norm_kind: str = "rms"
    gated_mlp: bool = True
    fused_qkv: bool = False
    fused_gate_up: bool = False
    moe: str | None = None  # "mixtral", "qwen", "olmoe", "granite"
    default_top_k: int = 2


_NO_BIAS: Callable[[Config], bool] = lambda c: False  # noqa: E731
_ALWAYS_BIAS: Callable[[Config], bool] = lambda c: True  # noqa: E731
_USE_BIAS: Callable[[Config], bool] = lambda c: bool(config_value(c, "use_bias", True))  # noqa: E731

#: Analytic descriptions, keyed by ``config.json``'s ``model_type``.
FAMILIES: dict[str, Family] = {
    "llama": Family(),
    "mistral": Family(qkv_bias=_NO_BIAS, o_bias=_NO_BIAS, mlp_bias=_NO_BIAS),
    "qwen2": Family(qkv_bias=_ALWAYS_BIAS, o_bias=_NO_BIAS, mlp_bias=_NO_BIAS),
    "qwen3": Family(default_head_dim=128, mlp_bias=_NO_BIAS, qk_norm="head"),
    "granite": Family(),
    "gemma": Family(default_head_dim=256, default_tied=True, mlp_bias=_NO_BIAS),
    "gemma2": Family(default_head_dim=256, default_tied=True, mlp_bias=_NO_BIAS, norms_per_layer=4),
    "gemma3_text": Family(
        default_head_dim=256, default_tied=True, mlp_bias=_NO_BIAS, norms_per_layer=4, qk_norm="head"
    ),
    "phi3": Family(qkv_bias=_NO_BIAS, o_bias=_NO_BIAS, mlp_bias=_NO_BIAS, fused_qkv=True, fused_gate_up=True),
    "mixtral": Family(qkv_bias=_NO_BIAS, o_bias=_NO_BIAS, mlp_bias=_NO_BIAS, moe="mixtral"),
    "qwen2_moe": Family(
        qkv_bias=lambda c: bool(config_value(c, "qkv_bias", True)),
        o_bias=_NO_BIAS,
        mlp_bias=_NO_BIAS,
        moe="qwen",
        default_top_k=4,
    ),
    "qwen3_moe": Family(mlp_bias=_NO_BIAS, qk_norm="head", moe="qwen", default_top_k=8),
    "granitemoe": Family(mlp_bias=_NO_BIAS, moe="granite"),
    "granitemoeshared": Family(mlp_bias=_NO_BIAS, moe="granite"),
    "olmoe": Family(mlp_bias=_NO_BIAS, qk_norm="full", moe="olmoe", default_top_k=8),
    "olmo2": Family(mlp_bias=_NO_BIAS, qk_norm="full"),
    "starcoder2": Family(
        default_tied=True,
        qkv_bias=_USE_BIAS,
        o_bias=_USE_BIAS,
        mlp_bias=_USE_BIAS,
        norm_kind="layer",
        gated_mlp=False,
    ),
    "smollm3": Family(default_tied=True),
}


def supported_model_types() -> list[str]:
    """The ``model_type`` values with an analytic description."""
    return sorted(FAMILIES)


@dataclass(frozen=True)
class MoELayout:
    """The config keys and router name of one MoE kind (``Family.moe``)."""

    intermediate_key: str  # width of one expert
    router_name: str
    shared_key: str | None = None  # width of the shared expert ...
    shared_model_type: str | None = None  # ... read only for this model_type
    shared_gate: bool = False  # a sigmoid gate on the shared expert's output
    sparse_layers: bool = False  # decoder_sparse_step and mlp_only_layers pick the MoE layers


#: MoE kinds: qwen2_moe/qwen3_moe, granitemoe(shared), and mixtral/olmoe (bias-free router ``gate``).
MOE_LAYOUTS: dict[str, MoELayout] = {
    "qwen": MoELayout(
        "moe_intermediate_size",
        "gate",
        shared_key="shared_expert_intermediate_size",
        shared_model_type="qwen2_moe",
        shared_gate=True,
        sparse_layers=True,
    ),
    "granite": MoELayout(
        "intermediate_size",
        "router",
        shared_key="shared_intermediate_size",
        shared_model_type="granitemoeshared",
    ),
    "mixtral": MoELayout("intermediate_size", "gate"),
    "olmoe": MoELayout("intermediate_size", "gate"),
}
