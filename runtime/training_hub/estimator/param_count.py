"""Analytic model shapes and parameter counts for the common decoder-only families.

:func:`model_shape` turns a ``config.json`` dict into a :class:`ModelShape`: every linear projection of
every layer (name, input and output features, bias), expert tensors, norms, embeddings and head. The
parameter count, LoRA's adapter size and OSFT's SVD factors are all derived from that one description,
and the count equals ``model.num_parameters()`` of the transformers model for every supported family
(checked in ``tests/runtime/estimator/test_param_count.py``).

Supported ``model_type`` values are the keys of :data:`FAMILIES`. Anything else raises
:class:`UnsupportedArchitectureError`; :func:`count_parameters` then falls back to instantiating the
model on the meta device when torch and transformers are installed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from training_hub.errors import InvalidInputError
from training_hub.estimator.model_config import check_size_bounds


class UnsupportedArchitectureError(InvalidInputError):
    """The config's ``model_type`` has no analytic description here."""


Config = dict[str, Any]


@dataclass(frozen=True)
class LinearShape:
    """One ``nn.Linear`` (or one fused projection) of a layer; ``router``: an MoE router (no ``nn.Linear`` in
    the transformers release here, so neither LoRA's nor OSFT's default targets take it)."""

    name: str
    in_features: int
    out_features: int
    bias: bool
    router: bool = False

    @property
    def params(self) -> int:
        """Weight plus bias elements."""
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True)
class MoEShape:
    """A sparse mixture-of-experts block (experts stored as 3D tensors, not ``nn.Linear``)."""

    num_experts: int
    top_k: int
    intermediate: int
    router: LinearShape
    shared_intermediate: int = 0
    shared_gate: bool = False

    @property
    def expert_params(self) -> int:
        """Elements of the stacked expert tensors (gate+up and down)."""
        return self.num_experts * 3 * self.router.in_features * self.intermediate


@dataclass
class LayerShape:
    """One decoder layer."""

    linears: list[LinearShape]
    norm_params: int
    num_norms: int
    intermediate: int  # dense MLP width (0 when the layer's MLP is a pure MoE block)
    gated_mlp: bool
    moe: MoEShape | None = None
    qk_norm: str | None = None  # None, "head" (per head_dim) or "full" (whole projection)

    @property
    def params(self) -> int:
        """All parameter elements of the layer."""
        moe = self.moe.expert_params if self.moe else 0
        return sum(lin.params for lin in self.linears) + self.norm_params + moe


@dataclass
class ModelShape:
    """A whole decoder-only causal LM, as far as memory is concerned."""

    model_type: str
    hidden: int
    vocab: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tied_embeddings: bool
    layers: list[LayerShape]
    final_norm_params: int
    norm_kind: str  # "rms" or "layer"
    lm_head_bias: bool = False
    final_logit_softcapping: bool = False
    extra_params: int = 0  # parameters outside the analytic layout (meta-device fallback only)
    notes: list[str] = field(default_factory=list)

    @property
    def num_layers(self) -> int:
        """Number of decoder layers."""
        return len(self.layers)

    @property
    def embedding_params(self) -> int:
        """Input embedding elements."""
        return self.vocab * self.hidden

    @property
    def lm_head_params(self) -> int:
        """Output head elements not shared with the embedding."""
        weight = 0 if self.tied_embeddings else self.vocab * self.hidden
        return weight + (self.vocab if self.lm_head_bias else 0)

    @property
    def total_params(self) -> int:
        """Every parameter element (tied weights once), as ``model.num_parameters()``."""
        return (
            self.embedding_params
            + self.lm_head_params
            + self.final_norm_params
            + sum(layer.params for layer in self.layers)
            + self.extra_params
        )

    def linears(self) -> list[LinearShape]:
        """Every linear projection of every layer (the targets of LoRA and OSFT)."""
        return [lin for layer in self.layers for lin in layer.linears]


def _get(cfg: Config, key: str, default: Any = None) -> Any:
    value = cfg.get(key)
    return default if value is None else value


def _req(cfg: Config, key: str) -> int:
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
    qkv_bias: Callable[[Config], bool] = lambda c: bool(_get(c, "attention_bias", False))
    o_bias: Callable[[Config], bool] = lambda c: bool(_get(c, "attention_bias", False))
    mlp_bias: Callable[[Config], bool] = lambda c: bool(_get(c, "mlp_bias", False))
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
_USE_BIAS: Callable[[Config], bool] = lambda c: bool(_get(c, "use_bias", True))  # noqa: E731

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
        qkv_bias=lambda c: bool(_get(c, "qkv_bias", True)),
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


def _num_experts(cfg: Config) -> int:
    for key in ("num_experts", "num_local_experts"):
        if cfg.get(key) is not None:
            return _req(cfg, key)
    raise InvalidInputError(
        f"MoE config of type {cfg.get('model_type')!r} has no num_experts/num_local_experts"
    )


def _moe_for_layer(fam: Family, cfg: Config, index: int, hidden: int) -> MoEShape | None:
    # One MoEShape per family, alike on purpose: each branch reads its family's own config keys and
    # router name (transformers' modeling_<family>.py), so that a family can be checked on its own.
    if fam.moe is None:
        return None
    experts = _num_experts(cfg)
    top_k = int(_get(cfg, "num_experts_per_tok", fam.default_top_k))
    if fam.moe == "qwen":
        sparse_step = int(_get(cfg, "decoder_sparse_step", 1))
        dense_layers = set(_get(cfg, "mlp_only_layers", []))
        if index in dense_layers or experts == 0 or (index + 1) % sparse_step != 0:
            return None
        shared = (
            int(_get(cfg, "shared_expert_intermediate_size", 0)) if cfg["model_type"] == "qwen2_moe" else 0
        )
        return MoEShape(
            num_experts=experts,
            top_k=top_k,
            intermediate=_req(cfg, "moe_intermediate_size"),
            router=LinearShape("gate", hidden, experts, False, router=True),
            shared_intermediate=shared,
            shared_gate=shared > 0,
        )
    if fam.moe == "granite":
        shared = (
            int(_get(cfg, "shared_intermediate_size", 0)) if cfg["model_type"] == "granitemoeshared" else 0
        )
        return MoEShape(
            num_experts=experts,
            top_k=top_k,
            intermediate=_req(cfg, "intermediate_size"),
            router=LinearShape("router", hidden, experts, False, router=True),
            shared_intermediate=shared,
        )
    # mixtral and olmoe: experts of width intermediate_size, a bias-free router called "gate".
    return MoEShape(
        num_experts=experts,
        top_k=top_k,
        intermediate=_req(cfg, "intermediate_size"),
        router=LinearShape("gate", hidden, experts, False, router=True),
    )


def _mlp_linears(fam: Family, hidden: int, width: int, bias: bool, prefix: str = "") -> list[LinearShape]:
    if not fam.gated_mlp:
        return [
            LinearShape(prefix + "c_fc", hidden, width, bias),
            LinearShape(prefix + "c_proj", width, hidden, bias),
        ]
    if fam.fused_gate_up:
        return [
            LinearShape(prefix + "gate_up_proj", hidden, 2 * width, bias),
            LinearShape(prefix + "down_proj", width, hidden, bias),
        ]
    return [
        LinearShape(prefix + "gate_proj", hidden, width, bias),
        LinearShape(prefix + "up_proj", hidden, width, bias),
        LinearShape(prefix + "down_proj", width, hidden, bias),
    ]


def model_shape(config: Config) -> ModelShape:
    """Describe a decoder-only model from its ``config.json`` contents.

    Args:
        config: The config dict (``model_type`` required).

    Returns:
        The model's shape.

    Raises:
        UnsupportedArchitectureError: If ``model_type`` has no analytic description.
        InvalidInputError: If a required dimension is missing or not an integer.
    """
    model_type = config.get("model_type")
    if model_type not in FAMILIES:
        raise UnsupportedArchitectureError(
            f"no analytic parameter count for model_type {model_type!r}; supported: "
            f"{', '.join(supported_model_types())}"
        )
    check_size_bounds(config)
    fam = FAMILIES[model_type]
    hidden = _req(config, "hidden_size")
    layers_n = _req(config, "num_hidden_layers")
    heads = _req(config, "num_attention_heads")
    vocab = _req(config, "vocab_size")
    if heads == 0 or hidden == 0:
        raise InvalidInputError("hidden_size and num_attention_heads must be positive")
    kv_heads = int(_get(config, "num_key_value_heads", heads))
    head_dim = int(_get(config, "head_dim", fam.default_head_dim or hidden // heads))
    tied = bool(_get(config, "tie_word_embeddings", fam.default_tied))
    norm_size = hidden if fam.norm_kind == "rms" else 2 * hidden
    q_out, kv_out = heads * head_dim, kv_heads * head_dim

    layers: list[LayerShape] = []
    for index in range(layers_n):
        qkv_bias, o_bias = fam.qkv_bias(config), fam.o_bias(config)
        if fam.fused_qkv:
            linears = [LinearShape("qkv_proj", hidden, q_out + 2 * kv_out, qkv_bias)]
        else:
            linears = [
                LinearShape("q_proj", hidden, q_out, qkv_bias),
                LinearShape("k_proj", hidden, kv_out, qkv_bias),
                LinearShape("v_proj", hidden, kv_out, qkv_bias),
            ]
        linears.append(LinearShape("o_proj", q_out, hidden, o_bias))
        norm_params = fam.norms_per_layer * norm_size
        if fam.qk_norm == "head":
            norm_params += 2 * head_dim
        elif fam.qk_norm == "full":
            norm_params += q_out + kv_out
        moe = _moe_for_layer(fam, config, index, hidden)
        intermediate = 0
        if moe is None:
            intermediate = _req(config, "intermediate_size")
            linears += _mlp_linears(fam, hidden, intermediate, fam.mlp_bias(config))
        else:
            linears.append(moe.router)
            if moe.shared_intermediate:
                prefix = "shared_mlp." if fam.moe == "granite" else "shared_expert."
                if fam.moe == "granite":
                    # GraniteMoeShared's shared MLP: input_linear (hidden -> 2*width), output_linear.
                    linears += [
                        LinearShape(prefix + "input_linear", hidden, 2 * moe.shared_intermediate, False),
                        LinearShape(prefix + "output_linear", moe.shared_intermediate, hidden, False),
                    ]
                else:
                    linears += _mlp_linears(fam, hidden, moe.shared_intermediate, False, prefix)
                if moe.shared_gate:
                    linears.append(LinearShape("shared_expert_gate", hidden, 1, False))
        layers.append(
            LayerShape(
                linears=linears,
                norm_params=norm_params,
                num_norms=fam.norms_per_layer,
                intermediate=intermediate,
                gated_mlp=fam.gated_mlp,
                moe=moe,
                qk_norm=fam.qk_norm,
            )
        )
    return ModelShape(
        model_type=model_type,
        hidden=hidden,
        vocab=vocab,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        tied_embeddings=tied,
        layers=layers,
        final_norm_params=norm_size,
        norm_kind=fam.norm_kind,
        final_logit_softcapping=bool(_get(config, "final_logit_softcapping", None)),
    )


def count_parameters_meta(config: Config) -> int:
    """Count parameters by instantiating the model on the meta device (needs torch and transformers).

    Raises:
        UnsupportedArchitectureError: If torch/transformers are missing or transformers cannot build it.
    """
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError:
        raise UnsupportedArchitectureError(
            f"model_type {config.get('model_type')!r} has no analytic parameter count and torch/transformers "
            f"are not installed for the meta-device fallback; supported: {', '.join(supported_model_types())}"
        ) from None
    check_size_bounds(config)
    values = {k: v for k, v in config.items() if k != "model_type"}
    try:
        cfg = AutoConfig.for_model(config["model_type"], **values)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(cfg)
    except Exception as exc:  # transformers raises many kinds for unknown/broken configs
        raise UnsupportedArchitectureError(
            f"cannot build model_type {config.get('model_type')!r} on the meta device: {exc}"
        ) from exc
    return int(model.num_parameters())


def count_parameters(config: Config) -> int:
    """Number of parameters of the model a ``config.json`` describes (tied weights counted once).

    Analytic for :data:`FAMILIES`; other architectures are instantiated on the meta device when torch
    and transformers are installed.

    Args:
        config: The config dict, or anything :func:`~training_hub.estimator.model_config.load_model_config`
            accepts.

    Raises:
        UnsupportedArchitectureError: Unknown architecture and no fallback possible.
    """
    from training_hub.estimator.model_config import load_model_config

    cfg = load_model_config(config)
    if cfg.get("model_type") in FAMILIES:
        return model_shape(cfg).total_params
    return count_parameters_meta(cfg)


def shape_for_config(config: Config) -> ModelShape:
    """:func:`model_shape`, or for unknown architectures an approximation.

    An unknown ``model_type`` is counted exactly on the meta device (needs torch and transformers) and
    laid out as a Llama-like decoder from the standard config keys for the activation model.

    Raises:
        UnsupportedArchitectureError: Unknown architecture and no torch/transformers, or keys missing.
    """
    if config.get("model_type") in FAMILIES:
        return model_shape(config)
    total = count_parameters_meta(config)
    generic = model_shape({**config, "model_type": "llama"})
    generic.model_type = str(config.get("model_type"))
    generic.extra_params = total - generic.total_params
    generic.notes.append(
        f"model_type {generic.model_type!r} has no analytic layout: parameters counted on the meta device, "
        "activations approximated as a Llama-like decoder"
    )
    return generic
