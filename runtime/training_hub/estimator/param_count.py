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

from training_hub.errors import InvalidInputError
from training_hub.estimator.families import (
    FAMILIES,
    MOE_LAYOUTS,
    Config,
    Family,
    config_value,
    required_dim,
    supported_model_types,
)
from training_hub.estimator.model_config import check_size_bounds
from training_hub.estimator.shapes import LayerShape, LinearShape, ModelShape, MoEShape


class UnsupportedArchitectureError(InvalidInputError):
    """The config's ``model_type`` has no analytic description here."""


def _num_experts(cfg: Config) -> int:
    for key in ("num_experts", "num_local_experts"):
        if cfg.get(key) is not None:
            return required_dim(cfg, key)
    raise InvalidInputError(
        f"MoE config of type {cfg.get('model_type')!r} has no num_experts/num_local_experts"
    )


def _moe_for_layer(fam: Family, cfg: Config, index: int, hidden: int) -> MoEShape | None:
    if fam.moe is None:
        return None
    layout = MOE_LAYOUTS[fam.moe]
    experts = _num_experts(cfg)
    top_k = int(config_value(cfg, "num_experts_per_tok", fam.default_top_k))
    if layout.sparse_layers:
        sparse_step = int(config_value(cfg, "decoder_sparse_step", 1))
        dense_layers = set(config_value(cfg, "mlp_only_layers", []))
        if index in dense_layers or experts == 0 or (index + 1) % sparse_step != 0:
            return None
    shared = 0
    if layout.shared_key is not None and cfg["model_type"] == layout.shared_model_type:
        shared = int(config_value(cfg, layout.shared_key, 0))
    return MoEShape(
        num_experts=experts,
        top_k=top_k,
        intermediate=required_dim(cfg, layout.intermediate_key),
        router=LinearShape(layout.router_name, hidden, experts, False, router=True),
        shared_intermediate=shared,
        shared_gate=layout.shared_gate and shared > 0,
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
    hidden = required_dim(config, "hidden_size")
    layers_n = required_dim(config, "num_hidden_layers")
    heads = required_dim(config, "num_attention_heads")
    vocab = required_dim(config, "vocab_size")
    if heads == 0 or hidden == 0:
        raise InvalidInputError("hidden_size and num_attention_heads must be positive")
    kv_heads = int(config_value(config, "num_key_value_heads", heads))
    head_dim = int(config_value(config, "head_dim", fam.default_head_dim or hidden // heads))
    tied = bool(config_value(config, "tie_word_embeddings", fam.default_tied))
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
            intermediate = required_dim(config, "intermediate_size")
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
        final_logit_softcapping=bool(config_value(config, "final_logit_softcapping", None)),
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
