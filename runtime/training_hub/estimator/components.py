"""The components of one training step's memory, per token or per parameter (formulas in ``memory.py``'s
docstring): parameter counts and bytes per method, activations per decoder layer, autocast weight copies.

Shapes come from :mod:`training_hub.estimator.shapes`; :func:`training_hub.estimator.memory.estimate_from_inputs`
assembles these components into the breakdown.
"""

from __future__ import annotations

import math

from training_hub.errors import InvalidInputError
from training_hub.estimator.inputs import DType, EstimateInputs
from training_hub.estimator.shapes import LayerShape, LinearShape, ModelShape

QLORA_BYTES_PER_WEIGHT = 0.5 + 4 / 64  # 4-bit values + one fp32 absmax per block of 64


def osft_trainable_rank(rows: int, cols: int, unfreeze_rank_ratio: float) -> int:
    """Singular directions of a ``rows x cols`` matrix that train under OSFT: what the engine leaves after
    freezing ``floor(k (1 - unfreeze_rank_ratio))`` of them (``engine/osft.py`` ``frozen_rank``)."""
    k = min(rows, cols)
    return max(1, k - int(math.floor(k * (1.0 - unfreeze_rank_ratio) + 1e-9)))


def is_target(lin: LinearShape, targets: tuple[str, ...] | list[str] | None) -> bool:
    """Whether ``lin`` trains: named targets match its last name component (as PEFT matches
    ``target_modules``); ``None`` is the engine's default (``training_hub.defaults``): LoRA's ``all-linear``
    and OSFT's attention and MLP patterns both take every ``nn.Linear`` of the decoder blocks: what
    ``shape.linears()`` lists but the MoE routers."""
    if targets is None:
        return not lin.router
    return lin.name.rsplit(".", 1)[-1] in targets


class ElementBytes:
    """Element sizes for one dtype choice."""

    def __init__(self, dtype: DType) -> None:
        self.param = 2.0 if dtype == "bf16" else 4.0
        self.act = 2 if dtype == "bf16" else 4
        self.grad = 4
        self.optim = 8


def _norm_bytes(width: int, kind: str, b: ElementBytes, weight_trains: bool) -> int:
    """Bytes one norm saves per token (its output is counted by whoever consumes it)."""
    if kind == "layer":
        return b.act * width + 8  # input + fp32 mean and rstd
    # RMSNorm upcasts to fp32: saves the fp32 input and rsqrt; the normalised value (input dtype) only
    # when the weight trains.
    return 4 * width + 4 + (b.act * width if weight_trains else 0)


def _layer_bytes_per_token(
    shape: ModelShape,
    layer: LayerShape,
    b: ElementBytes,
    lora: bool,
    lora_r: int,
    targets: tuple[str, ...] | list[str] | None,
) -> int:
    """Bytes one decoder layer saves for backward per token (full or LoRA fine-tuning)."""
    h, a = shape.hidden, b.act
    q_out = shape.num_heads * shape.head_dim
    kv_out = shape.num_kv_heads * shape.head_dim
    total = layer.num_norms * _norm_bytes(h, shape.norm_kind, b, not lora)
    total += 2 * a * h  # inputs of the attention and MLP projections
    if layer.qk_norm == "head":
        total += _norm_bytes(q_out, "rms", b, not lora) + _norm_bytes(kv_out, "rms", b, not lora)
        total -= 4 * (2 - shape.num_heads - shape.num_kv_heads)  # one rsqrt per head, not per token
    elif layer.qk_norm == "full":
        total += _norm_bytes(q_out, "rms", b, not lora) + _norm_bytes(kv_out, "rms", b, not lora)
    # rotated q and k, v, attention output, fp32 log-sum-exp per head
    total += a * (2 * q_out + 2 * kv_out) + 4 * shape.num_heads
    if any(lin.name == "qkv_proj" for lin in layer.linears):
        total += a * (q_out + kv_out)  # v is a view of the fused projection: its whole storage stays
    if layer.moe is None:
        total += a * (4 if layer.gated_mlp else 2) * layer.intermediate
    else:
        moe = layer.moe
        # router: fp32 softmax output and top-k indices/weights; then per routed copy: gathered input,
        # gate/up, activation, product and output (full fine-tuning) or gate/up, activation and input
        # (frozen experts under LoRA), plus int64 token indices.
        total += 4 * 2 * moe.num_experts + 12 * moe.top_k - 12
        per_copy = a * (2 * h + 4 * moe.intermediate) if not lora else a * (h + 3 * moe.intermediate)
        total += moe.top_k * (per_copy + 28)
        if moe.shared_intermediate:
            total += a * (4 * moe.shared_intermediate + h) + (8 if moe.shared_gate else 0)
    if lora:
        total += sum(a * lora_r for lin in layer.linears if is_target(lin, targets))
    return total


def activation_bytes(
    shape: ModelShape,
    method: str,
    tokens: int,
    b: ElementBytes,
    inputs: EstimateInputs,
    details: dict[str, int],
    checkpointing: bool,
    offload: bool,
) -> int:
    """Bytes autocast and autograd save for backward over a micro-batch of ``tokens`` (layers, embeddings,
    final norm, rope, OSFT's rebuilt weights), each part recorded in ``details``; ``offload``: the engine
    keeps checkpointed layer inputs on the CPU."""
    lora = method in ("lora", "qlora")
    targets = inputs.lora_target_modules or None
    per_layer = [
        _layer_bytes_per_token(shape, layer, b, lora, inputs.lora_r, targets) for layer in shape.layers
    ]
    if lora and shape.layers:
        # The embedding is frozen: the first layer's input norm has nothing to save.
        per_layer[0] -= _norm_bytes(shape.hidden, shape.norm_kind, b, False)
    rope = 2 * shape.head_dim * (4 if b.act == 4 else b.act)
    final = _norm_bytes(shape.hidden, shape.norm_kind, b, not lora) + (0 if lora else b.act * shape.hidden)
    ids = 8 + (0 if lora else 8)  # labels (loss) and input ids (trainable embedding)
    if checkpointing:
        # each layer keeps its input (on the CPU when the engine offloads it); one layer is recomputed
        kept = 0 if offload else len(per_layer) * b.act * shape.hidden
        layers = kept + (max(per_layer) if per_layer else 0)
    else:
        layers = sum(per_layer)
    layers_total = tokens * layers
    other = tokens * (rope + final + ids)
    details["activations.layers"] = layers_total
    details["activations.embeddings_norm_rope"] = other
    total = layers_total + other
    if method == "osft":
        per_layer_rebuilt = []
        for layer in shape.layers or []:
            rebuilt_layer = 0
            for lin in layer.linears:
                if is_target(lin, targets):
                    k_low = osft_trainable_rank(lin.out_features, lin.in_features, inputs.unfreeze_rank_ratio)
                    rebuilt_layer += int(
                        b.act * (lin.out_features * lin.in_features + lin.out_features * k_low)
                    )
            per_layer_rebuilt.append(rebuilt_layer)
        # the rebuilt weights are saved for backward like activations: one layer's when recomputed
        rebuilt = max(per_layer_rebuilt, default=0) if checkpointing else sum(per_layer_rebuilt)
        details["activations.osft_rebuilt_weights"] = rebuilt
        total += rebuilt
    return total


def param_counts(shape: ModelShape, inputs: EstimateInputs, b: ElementBytes) -> tuple[int, int, int]:
    """(total parameter elements, trainable elements, parameter bytes) of the method's model."""
    method = inputs.training_method
    targets = inputs.lora_target_modules or None
    total = shape.total_params
    if method == "sft":
        return total, total, int(total * b.param)
    if method == "osft":
        trainable = total
        factors_all = 0
        for lin in shape.linears():
            if not is_target(lin, targets):
                continue
            k = min(lin.out_features, lin.in_features)
            k_low = osft_trainable_rank(lin.out_features, lin.in_features, inputs.unfreeze_rank_ratio)
            weight = lin.out_features * lin.in_features
            factors = k * (lin.out_features + lin.in_features + 1)
            trainable += k_low * (lin.out_features + lin.in_features + 1) - weight
            factors_all += factors - weight
        total += factors_all
        return total, trainable, int(total * b.param)
    # LoRA / QLoRA: adapters r * (in + out) per targeted linear; the base is frozen.
    adapters = sum(
        inputs.lora_r * (lin.in_features + lin.out_features)
        for lin in shape.linears()
        if is_target(lin, targets)
    )
    if adapters == 0:
        raise InvalidInputError(
            f"no linear module of this model matches the LoRA targets {list(targets or [])}"
        )
    if method == "qlora":
        quantised = sum(
            lin.in_features * lin.out_features for lin in shape.linears() if is_target(lin, targets)
        )
        base_bytes = quantised * QLORA_BYTES_PER_WEIGHT + (total - quantised) * 2.0
        return total + adapters, adapters, int(base_bytes + adapters * b.param)
    return total + adapters, adapters, int((total + adapters) * b.param)


def autocast_copies(shape: ModelShape, method: str, trainable: int, checkpointing: bool) -> int:
    """bf16 copies autocast makes of fp32 weights and keeps until backward (bytes).

    Weights that require grad are cast once and cached until the forward's autocast block exits; a
    frozen weight is cast at every use and its copy is saved for backward by the matmul that used it
    (one layer's at a time with checkpointing). The lm_head is counted with the frozen or trainable side.
    """
    lm_head = shape.vocab * shape.hidden
    if method in ("lora", "qlora"):
        per_layer = [sum(lin.params for lin in layer.linears) for layer in shape.layers]
        frozen = max(per_layer, default=0) if checkpointing else sum(per_layer)
        return 2 * (trainable + frozen + lm_head)
    linears = sum(lin.params for lin in shape.linears())
    return 2 * (min(trainable, linears) + lm_head)
