"""The per-GPU memory model of one training step (AdamW, padding-free micro-batches).

Components, each per GPU, in bytes:

* **parameters**: every weight (frozen ones too; OSFT's SVD factors replace the targeted matrices;
  QLoRA's targeted weights at ~4.25 bits). FSDP divides by the rank count and adds the unsharded
  working set of two layers (the one computing and the one prefetched).
* **gradients**: one per trainable parameter (fp32). DDP with more than one rank adds its bucket copy.
* **optimizer_states**: AdamW's two fp32 moments per trainable parameter (divided by ranks under FSDP).
* **activations**: tensors autograd saves for backward, derived per layer from the model's shape for
  a padding-free micro-batch of ``T`` tokens with flash/SDPA attention (linear in ``T``); OSFT adds the
  weights it rebuilds in every forward. Not divided by ranks.
* **logits**: the ``T x vocab`` logits plus the log-softmax the loss saves (fp32 upcast under bf16);
  0 with Liger's fused linear cross-entropy.
* **overhead**: the runtime (CUDA context, NCCL and cuBLAS workspaces: 1 GiB on CUDA, 0 on CPU) plus 5%
  of the dynamic components for allocator fragmentation.

``low`` is the components without fragmentation, ``expected`` adds the overhead, ``high`` adds 30% of the
dynamic components. The activation formula is exact for the transformers implementations on CPU in
fp32 (see ``docs/estimator.md`` for the measured table).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from training_hub.defaults import ALGORITHM_DEFAULTS
from training_hub.errors import InvalidInputError
from training_hub.estimator.dpo_reference import DPOReference, dpo_reference_bytes, dpo_reference_kind
from training_hub.estimator.engines import ENGINES, engine_profile, resolved_sharding
from training_hub.estimator.model_config import load_model_config
from training_hub.estimator.param_count import LayerShape, LinearShape, ModelShape, shape_for_config

ESTIMATOR_VERSION = "1.1.0"

TrainingMethod = Literal["sft", "osft", "lora", "qlora"]
DType = Literal["bf16", "fp32"]
Device = Literal["cuda", "cpu"]
Strategy = Literal["auto", "ddp", "fsdp"]


GIB = 1024**3
CUDA_RUNTIME_BYTES = GIB
FRAGMENTATION = 0.05
HIGH_MARGIN = 0.30
QLORA_BYTES_PER_WEIGHT = 0.5 + 4 / 64  # 4-bit values + one fp32 absmax per block of 64

#: Training-hub algorithm names -> estimator method names.
ALGORITHM_METHODS: dict[str, TrainingMethod] = {
    "sft": "sft",
    "osft": "osft",
    "lora_sft": "lora",
    "embedding_sft": "sft",  # every weight of the encoder trains
    "dpo": "sft",  # the policy trains like sft (lora with use_lora); the reference: estimator/dpo_reference.py
}


class EstimateInputs(BaseModel):
    """Everything the estimate needs except the number of GPUs."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    training_method: TrainingMethod = Field(..., description="sft, osft, lora or qlora.")
    model_config_dict: dict[str, Any] | None = Field(
        None, alias="model_config", description="The model's config.json contents."
    )
    model_path: str | None = Field(None, description="Model directory, config.json path or hub id.")
    allow_download: bool = Field(False, description="Allow fetching config.json from the hub.")
    max_tokens_per_gpu: int | None = Field(None, ge=1, description="Tokens per micro-batch per GPU.")
    max_seq_len: int | None = Field(None, ge=1, description="Longest sample (default token budget).")
    batch_size: int | None = Field(None, ge=1, description="Samples per micro-batch (with max_seq_len).")
    use_liger: bool = Field(False, description="Liger kernels: fused linear cross-entropy, no logits.")
    unfreeze_rank_ratio: float = Field(0.25, gt=0.0, le=1.0, description="OSFT trainable rank fraction.")
    lora_r: int = Field(32, ge=1, description="LoRA rank.")
    lora_target_modules: list[str] | None = Field(None, description="LoRA/OSFT targets (default: all).")
    dtype: DType = Field("bf16", description="bf16: bf16 weights, fp32 grads/optimizer; fp32: all fp32.")
    device: Device = Field("cuda", description="cuda adds the runtime overhead; cpu does not.")
    distributed_strategy: Strategy = Field("auto", description="auto: FSDP with more than one rank.")
    activation_checkpointing: bool = Field(False, description="Recompute layer activations in backward.")
    runtime_overhead_bytes: int | None = Field(None, ge=0, description="Override the runtime overhead.")
    dpo_reference: DPOReference = Field("none", description="DPO's frozen reference: none, model or logits.")
    engine: str | None = Field(
        None,
        description=(
            "The engine whose memory behaviour to model (native, peft, instructlab-training, mini-trainer, "
            "unsloth); None: the generic model (bf16 weights, the parameters' strategy)."
        ),
    )

    @model_validator(mode="after")
    def _known_engine(self) -> EstimateInputs:
        if self.engine is not None and self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        return self

    @model_validator(mode="after")
    def _has_model(self) -> EstimateInputs:
        if self.model_config_dict is None and self.model_path is None:
            raise ValueError("give the model as model_config (config.json contents) or model_path")
        return self

    def resolved_config(self) -> dict[str, Any]:
        """The model config dict (loaded from ``model_path`` when no dict was given)."""
        source: Any = self.model_config_dict if self.model_config_dict is not None else self.model_path
        return load_model_config(source, allow_download=self.allow_download)

    def tokens_per_gpu(self) -> int:
        """Tokens in one micro-batch: ``max_tokens_per_gpu``, else ``batch_size x max_seq_len``."""
        if self.max_tokens_per_gpu is not None:
            return self.max_tokens_per_gpu
        if self.max_seq_len is not None:
            return self.max_seq_len * (self.batch_size or 1)
        raise InvalidInputError("give max_tokens_per_gpu or max_seq_len: the token budget sizes activations")

    @classmethod
    def from_training_params(
        cls,
        algorithm: str,
        hyperparameters: dict[str, Any],
        model_config: dict[str, Any],
        engine: str | None = None,
    ) -> EstimateInputs:
        """Build inputs from a TrainingRun's algorithm and ``spec.hyperparameters``.

        Args:
            algorithm: ``sft``, ``osft`` or ``lora_sft``.
            hyperparameters: The hyperparameters (names of :mod:`training_hub.params`); unknown names
                are ignored here (the parameter models validate them).
            model_config: The model's config.json contents.
            engine: The backend that will run (see :mod:`training_hub.estimator.engines`); its activation
                checkpointing default applies when the hyperparameters leave it unset (on, on a GPU).

        Raises:
            InvalidInputError: Unknown algorithm.
        """
        if algorithm not in ALGORITHM_METHODS:
            raise InvalidInputError(
                f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHM_METHODS)}"
            )
        hp = {k: v for k, v in hyperparameters.items() if v is not None}
        method: TrainingMethod = ALGORITHM_METHODS[algorithm]
        if method == "lora" and hp.get("load_in_4bit"):
            method = "qlora"
        if algorithm == "dpo":
            method = "lora" if hp.get("use_lora") else method
        strategy = hp.get("distributed_strategy", "auto")
        # the engine's default (training_hub.defaults); embedding_sft sets its own length below
        row = ALGORITHM_DEFAULTS.get(algorithm)
        max_seq_len = row.max_seq_len if row else None
        values: dict[str, Any] = {
            "training_method": method,
            "model_config": model_config,
            "max_tokens_per_gpu": hp.get("max_tokens_per_gpu") or hp.get("max_seq_len", max_seq_len),
            "max_seq_len": hp.get("max_seq_len", max_seq_len),
            "use_liger": bool(hp.get("use_liger", False)),
            "dtype": "fp32" if hp.get("bf16") is False else "bf16",
            "distributed_strategy": strategy if strategy in ("auto", "ddp", "fsdp") else "auto",
            "engine": engine,
        }
        if engine is not None:
            explicit = hp.get("activation_checkpointing")
            values["activation_checkpointing"] = True if explicit is None else bool(explicit)
        if algorithm == "embedding_sft":
            # sentence-transformers: padded batches of `batch_size` texts of up to 512 tokens, fp32 weights
            # under autocast, and a pooling head (no vocabulary logits: counted as 0 like fused CE)
            seq = min(int(model_config.get("max_position_embeddings") or 512), 512)
            values.update(
                max_tokens_per_gpu=int(hp.get("batch_size", 32)) * seq,
                max_seq_len=seq,
                use_liger=True,
                dtype="fp32",
            )
        if algorithm == "dpo":
            values["dpo_reference"] = dpo_reference_kind(hp)
        if "unfreeze_rank_ratio" in hp:
            values["unfreeze_rank_ratio"] = hp["unfreeze_rank_ratio"]
        if "lora_r" in hp:
            values["lora_r"] = hp["lora_r"]
        targets = hp.get("target_modules") if method in ("lora", "qlora") else None
        if targets:
            values["lora_target_modules"] = list(targets)
        return cls.model_validate(values)


class MemoryBreakdown(BaseModel):
    """Per-GPU bytes of each component of the expected estimate."""

    parameters: int
    gradients: int
    optimizer_states: int
    activations: int
    logits: int
    overhead: int
    details: dict[str, int] = Field(default_factory=dict)

    @property
    def total(self) -> int:
        """Sum of the components (the expected estimate)."""
        return (
            self.parameters
            + self.gradients
            + self.optimizer_states
            + self.activations
            + self.logits
            + self.overhead
        )

    def components(self) -> dict[str, int]:
        """The six components by name."""
        return {
            "parameters": self.parameters,
            "gradients": self.gradients,
            "optimizer_states": self.optimizer_states,
            "activations": self.activations,
            "logits": self.logits,
            "overhead": self.overhead,
        }


class Assumptions(BaseModel):
    """What the estimate assumed, stated so a reader can check it."""

    training_method: str
    model_type: str
    dtype: str
    parameter_bytes: float
    gradient_bytes: int
    optimizer: str
    sharding: str
    num_gpus: int
    tokens_per_gpu: int
    activation_checkpointing: bool
    liger: bool
    device: str
    total_parameters: int
    trainable_parameters: int
    engine: str = "generic"
    engine_assumptions: list[str] = Field(default_factory=list)
    estimator_version: str = ESTIMATOR_VERSION
    notes: list[str] = Field(default_factory=list)


class MemoryEstimate(tuple[int, int, int]):
    """``(low, expected, high)`` bytes per GPU, carrying ``.breakdown`` and ``.assumptions``."""

    breakdown: MemoryBreakdown
    assumptions: Assumptions

    def __new__(
        cls, low: int, expected: int, high: int, breakdown: MemoryBreakdown, assumptions: Assumptions
    ) -> MemoryEstimate:
        obj = super().__new__(cls, (low, expected, high))
        obj.breakdown = breakdown
        obj.assumptions = assumptions
        return obj

    @property
    def low(self) -> int:
        """Lower bound: the components without fragmentation."""
        return self[0]

    @property
    def expected(self) -> int:
        """The expected per-GPU peak."""
        return self[1]

    @property
    def high(self) -> int:
        """Upper bound."""
        return self[2]

    def fits(self, gpu_memory_bytes: int, headroom: float = 0.0) -> bool:
        """Whether the expected estimate fits ``gpu_memory_bytes`` minus a headroom fraction."""
        return self.expected <= gpu_memory_bytes * (1.0 - headroom)


def osft_trainable_rank(rows: int, cols: int, unfreeze_rank_ratio: float) -> int:
    """Singular directions of a ``rows x cols`` matrix that train under OSFT: what the engine leaves after
    freezing ``floor(k (1 - unfreeze_rank_ratio))`` of them (``engine/osft.py`` ``frozen_rank``)."""
    k = min(rows, cols)
    return max(1, k - int(math.floor(k * (1.0 - unfreeze_rank_ratio) + 1e-9)))


def _is_target(lin: LinearShape, targets: tuple[str, ...] | list[str] | None) -> bool:
    """Whether ``lin`` trains: named targets match its last name component (as PEFT matches
    ``target_modules``); ``None`` is the engine's default (``training_hub.defaults``): LoRA's ``all-linear``
    and OSFT's attention and MLP patterns both take every ``nn.Linear`` of the decoder blocks: what
    ``shape.linears()`` lists but the MoE routers."""
    if targets is None:
        return not lin.router
    return lin.name.rsplit(".", 1)[-1] in targets


class _Bytes:
    """Element sizes for one dtype choice."""

    def __init__(self, dtype: DType) -> None:
        self.param = 2.0 if dtype == "bf16" else 4.0
        self.act = 2 if dtype == "bf16" else 4
        self.grad = 4
        self.optim = 8


def _norm_bytes(width: int, kind: str, b: _Bytes, weight_trains: bool) -> int:
    """Bytes one norm saves per token (its output is counted by whoever consumes it)."""
    if kind == "layer":
        return b.act * width + 8  # input + fp32 mean and rstd
    # RMSNorm upcasts to fp32: saves the fp32 input and rsqrt; the normalised value (input dtype) only
    # when the weight trains.
    return 4 * width + 4 + (b.act * width if weight_trains else 0)


def _layer_bytes_per_token(
    shape: ModelShape,
    layer: LayerShape,
    b: _Bytes,
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
        total += sum(a * lora_r for lin in layer.linears if _is_target(lin, targets))
    return total


def _activation_bytes(
    shape: ModelShape,
    method: str,
    tokens: int,
    b: _Bytes,
    inputs: EstimateInputs,
    details: dict[str, int],
    checkpointing: bool,
    offload: bool,
) -> int:
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
                if _is_target(lin, targets):
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


def _param_counts(shape: ModelShape, inputs: EstimateInputs, b: _Bytes) -> tuple[int, int, int]:
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
            if not _is_target(lin, targets):
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
        if _is_target(lin, targets)
    )
    if adapters == 0:
        raise InvalidInputError(
            f"no linear module of this model matches the LoRA targets {list(targets or [])}"
        )
    if method == "qlora":
        quantised = sum(
            lin.in_features * lin.out_features for lin in shape.linears() if _is_target(lin, targets)
        )
        base_bytes = quantised * QLORA_BYTES_PER_WEIGHT + (total - quantised) * 2.0
        return total + adapters, adapters, int(base_bytes + adapters * b.param)
    return total + adapters, adapters, int((total + adapters) * b.param)


def estimate_from_inputs(
    inputs: EstimateInputs,
    num_gpus: int = 1,
    gpu_memory: int | None = None,
    gpus_per_node: int | None = None,
) -> MemoryEstimate:
    """Estimate per-GPU memory of ``inputs`` on ``num_gpus`` ranks.

    Args:
        inputs: The method, model and token budget (and the engine, whose behaviour is modelled).
        num_gpus: Total ranks (nodes x GPUs per node).
        gpu_memory: Optional GPU size in bytes; recorded in the notes with whether it fits.
        gpus_per_node: Ranks per node (engines that shard within a node only; default ``num_gpus``).

    Returns:
        The estimate.

    Raises:
        InvalidInputError: On bad input (no model, unknown architecture without a fallback, ...).
    """
    if num_gpus < 1:
        raise InvalidInputError(f"num_gpus must be at least 1, got {num_gpus}")
    config = inputs.resolved_config()
    shape = shape_for_config(config)
    method = inputs.training_method
    profile = engine_profile(inputs.engine)
    b = _Bytes(inputs.dtype)
    if profile.master_weights == "fp32":
        b.param = 4.0  # fp32 weights under bf16 mixed precision
    if profile.activation_checkpointing == "param":
        checkpointing = inputs.activation_checkpointing
    else:
        checkpointing = profile.activation_checkpointing == "always"
    if method == "qlora" and inputs.device == "cpu":
        raise InvalidInputError("qlora needs a CUDA GPU (4-bit kernels): estimate with device='cuda'")
    tokens = inputs.tokens_per_gpu()
    details: dict[str, int] = {}
    notes: list[str] = list(shape.notes)

    total_params, trainable, param_bytes = _param_counts(shape, inputs, b)
    layout = resolved_sharding(profile, method, num_gpus, inputs.distributed_strategy)
    strategy = "ddp" if layout == "ddp" else "fsdp"
    if layout == "fsdp-node":
        ranks = max(1, min(gpus_per_node or num_gpus, num_gpus))
    else:
        ranks = num_gpus if layout == "fsdp" else 1
    sharded = strategy == "fsdp" and ranks > 1

    parameters = math.ceil(param_bytes / ranks)
    if sharded:
        largest_layer = max((layer.params for layer in shape.layers), default=0)
        gathered_bytes = 2.0 if (inputs.dtype == "bf16" and profile.gathers_bf16) else b.param
        in_flight = 2 + profile.extra_gathered_layers
        gathered = int(in_flight * largest_layer * gathered_bytes)
        details["parameters.fsdp_unsharded_layers"] = gathered
        parameters += gathered
        scope = "within each node" if layout == "fsdp-node" else "over all ranks"
        notes.append(
            f"FSDP {scope}: parameters, gradients and optimizer states divided by {ranks}; "
            f"{in_flight} layers gathered"
        )
    gradients = math.ceil(trainable * b.grad / ranks)
    if strategy == "ddp" and num_gpus > 1:
        details["gradients.ddp_buckets"] = trainable * b.grad
        gradients += trainable * b.grad
        notes.append("DDP: full replica per rank, plus gradient buckets of the same size")
    optimizer = math.ceil(trainable * b.optim / ranks)
    activations = _activation_bytes(
        shape, method, tokens, b, inputs, details, checkpointing, profile.offloads_checkpoints
    )
    if profile.autocast_weight_copies and inputs.dtype == "bf16" and inputs.device == "cuda" and not sharded:
        copies = _autocast_copies(shape, method, trainable, checkpointing)
        details["activations.autocast_weight_copies"] = copies
        activations += copies
        notes.append("bf16 autocast over fp32 weights: bf16 weight copies held from forward to backward")
    if inputs.use_liger and profile.liger_drops_logits:
        logits = 0
        notes.append("Liger fused linear cross-entropy: logits are never materialised")
    else:
        per_token = (2 + 4 + 4) if inputs.dtype == "bf16" else (4 + 4)
        if shape.final_logit_softcapping:
            per_token += 4
        logits = tokens * shape.vocab * per_token
    reference = dpo_reference_bytes(
        inputs.dpo_reference, shape.total_params, shape.vocab, tokens, b.param, b.act, ranks
    )
    if reference:
        details.update(reference)
        parameters += reference.get("parameters.dpo_reference", 0)
        logits += reference["logits.dpo_reference"]
        notes.append(f"DPO: frozen reference ({inputs.dpo_reference}) counted under parameters and logits")
    dynamic = parameters + gradients + optimizer + activations + logits
    runtime = inputs.runtime_overhead_bytes
    if runtime is None:
        runtime = CUDA_RUNTIME_BYTES if inputs.device == "cuda" else 0
    fragmentation = int(FRAGMENTATION * dynamic)
    details["overhead.runtime"] = runtime
    details["overhead.fragmentation"] = fragmentation
    overhead = runtime + fragmentation
    breakdown = MemoryBreakdown(
        parameters=parameters,
        gradients=gradients,
        optimizer_states=optimizer,
        activations=activations,
        logits=logits,
        overhead=overhead,
        details=details,
    )
    low = dynamic + runtime
    expected = breakdown.total
    high = low + int(HIGH_MARGIN * dynamic)
    if inputs.dtype == "bf16" and b.param == 4.0:
        notes.append("bf16 mixed precision over fp32 weights (4 B), fp32 gradients (4 B), AdamW fp32 (8 B)")
    elif inputs.dtype == "bf16":
        notes.append("bf16: weights held in bf16 (2 B), gradients fp32 (4 B), AdamW moments fp32 (8 B)")
    else:
        notes.append("fp32: weights, gradients and AdamW moments all fp32 (4 + 4 + 8 B)")
    notes.append(
        f"padding-free micro-batch of {tokens} tokens, flash/SDPA attention (memory linear in tokens)"
    )
    if method == "osft":
        notes.append(
            f"OSFT: targeted matrices stored as SVD factors; the bottom {inputs.unfreeze_rank_ratio:g} of each "
            "rank trains, the weight is rebuilt in every forward (counted under activations)"
        )
    if method in ("lora", "qlora"):
        notes.append(f"LoRA r={inputs.lora_r}: base frozen, adapters r x (in + out) per targeted projection")
    if shape.layers and shape.layers[0].moe is not None:
        notes.append("MoE: expert weights all resident; activations for top-k routed copies per token")
    if gpu_memory is not None:
        verdict = "fits" if expected <= gpu_memory else "does NOT fit"
        notes.append(f"expected {expected / GIB:.2f} GiB {verdict} in {gpu_memory / GIB:.2f} GiB")
    assumptions = Assumptions(
        training_method=method,
        model_type=shape.model_type,
        dtype=inputs.dtype,
        parameter_bytes=b.param if method != "qlora" else QLORA_BYTES_PER_WEIGHT,
        gradient_bytes=b.grad,
        optimizer="AdamW: 2 fp32 moments per trainable parameter",
        sharding=f"{strategy} over {num_gpus} rank(s)"
        + (f" (sharded over {ranks})" if sharded else " (replicated)"),
        num_gpus=num_gpus,
        tokens_per_gpu=tokens,
        activation_checkpointing=checkpointing,
        liger=inputs.use_liger,
        device=inputs.device,
        total_parameters=total_params,
        trainable_parameters=trainable,
        engine=profile.name,
        engine_assumptions=profile.assumptions(),
        notes=notes,
    )
    return MemoryEstimate(low, expected, high, breakdown, assumptions)


def _autocast_copies(shape: ModelShape, method: str, trainable: int, checkpointing: bool) -> int:
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


def estimate(
    training_method: str,
    model_path: str | None = None,
    num_gpus: int = 1,
    gpu_memory: int | None = None,
    batch_size: int | None = None,
    max_seq_len: int | None = None,
    max_tokens_per_gpu: int | None = None,
    use_liger: bool = False,
    unfreeze_rank_ratio: float = 0.25,
    lora_r: int = 32,
    *,
    model_config: dict[str, Any] | None = None,
    dtype: str = "bf16",
    device: str = "cuda",
    distributed_strategy: str = "auto",
    activation_checkpointing: bool = False,
    allow_download: bool = False,
    lora_target_modules: list[str] | None = None,
    engine: str | None = None,
) -> MemoryEstimate:
    """Estimate per-GPU training memory from the model's config alone.

    ``low, expected, high = estimate(...)`` as in training_hub; the result also carries ``.breakdown``
    (bytes per component per GPU) and ``.assumptions``.

    Args:
        training_method: ``sft``, ``osft``, ``lora`` or ``qlora``.
        model_path: Model directory, ``config.json`` path, or hub id (with ``allow_download``).
        num_gpus: Total ranks.
        gpu_memory: GPU size in bytes (only noted: use :func:`plan` to choose a layout).
        batch_size: Samples per micro-batch (with ``max_seq_len``, when no ``max_tokens_per_gpu``).
        max_seq_len: Longest sample.
        max_tokens_per_gpu: Tokens per micro-batch per GPU (takes precedence).
        use_liger: Liger kernels (no logits materialised).
        unfreeze_rank_ratio: OSFT's trainable fraction of each targeted matrix's rank.
        lora_r: LoRA rank.
        model_config: The config dict instead of ``model_path``.
        dtype: ``bf16`` (GPU mixed precision) or ``fp32``.
        device: ``cuda`` (adds the runtime overhead) or ``cpu``.
        distributed_strategy: ``auto``, ``ddp`` or ``fsdp``.
        activation_checkpointing: Recompute activations layer by layer.
        allow_download: Permit fetching only ``config.json`` from the hub.
        lora_target_modules: LoRA/OSFT target module names (default: attention and MLP projections).
        engine: Model this engine's memory behaviour (``native``, ``peft``, ``instructlab-training``,
            ``mini-trainer``, ``unsloth``); default: the generic model.

    Raises:
        InvalidInputError: On invalid input, with the reason.
    """
    from pydantic import ValidationError

    from training_hub.contracts.errors import validation_message

    try:
        inputs = EstimateInputs.model_validate(
            {
                "training_method": training_method,
                "model_config": model_config,
                "model_path": model_path,
                "allow_download": allow_download,
                "max_tokens_per_gpu": max_tokens_per_gpu,
                "max_seq_len": max_seq_len,
                "batch_size": batch_size,
                "use_liger": use_liger,
                "unfreeze_rank_ratio": unfreeze_rank_ratio,
                "lora_r": lora_r,
                "lora_target_modules": lora_target_modules,
                "dtype": dtype,
                "device": device,
                "distributed_strategy": distributed_strategy,
                "activation_checkpointing": activation_checkpointing,
                "engine": engine,
            }
        )
    except ValidationError as exc:
        raise InvalidInputError(f"invalid estimate input: {validation_message(exc)}") from exc
    return estimate_from_inputs(inputs, num_gpus=num_gpus, gpu_memory=gpu_memory)
