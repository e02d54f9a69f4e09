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
from typing import Any

from training_hub.errors import InvalidInputError
from training_hub.estimator.components import (
    QLORA_BYTES_PER_WEIGHT,
    ElementBytes,
    activation_bytes,
    autocast_copies,
    param_counts,
)
from training_hub.estimator.dpo_reference import dpo_reference_bytes
from training_hub.estimator.engines import engine_profile, resolved_sharding
from training_hub.estimator.inputs import EstimateInputs
from training_hub.estimator.param_count import shape_for_config
from training_hub.estimator.result import GIB, Assumptions, MemoryBreakdown, MemoryEstimate

CUDA_RUNTIME_BYTES = GIB
FRAGMENTATION = 0.05
HIGH_MARGIN = 0.30


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
    b = ElementBytes(inputs.dtype)
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

    total_params, trainable, param_bytes = param_counts(shape, inputs, b)
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
    activations = activation_bytes(
        shape, method, tokens, b, inputs, details, checkpointing, profile.offloads_checkpoints
    )
    if profile.autocast_weight_copies and inputs.dtype == "bf16" and inputs.device == "cuda" and not sharded:
        copies = autocast_copies(shape, method, trainable, checkpointing)
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
