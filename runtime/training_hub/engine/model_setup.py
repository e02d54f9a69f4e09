"""Loading the model and tokenizer, applying the algorithm (SFT, OSFT, LoRA) and wrapping for DDP/FSDP."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, cast

from training_hub.defaults import LORA_TARGETS
from training_hub.engine.config import EngineConfig
from training_hub.engine.distributed import DistContext
from training_hub.errors import BackendUnavailableError, InvalidInputError
from training_hub.params import DPOParams, LoRAParams, OSFTParams

log = logging.getLogger("training_hub.engine")

#: dtype the engine loads weights in (fp32 master weights; bf16 only in autocast / FSDP's gathered copies).
#: The estimator's ``native`` profile (``estimator/engines.py``) assumes the same; a test checks both.
WEIGHT_DTYPE = "float32"


@dataclass
class ModelBundle:
    """The model in its three views.

    Attributes:
        model: What the training step calls (DDP/FSDP-wrapped when distributed).
        unwrapped: The model without the DDP wrapper (a peft model for LoRA).
        tokenizer: The tokenizer.
        osft_modules: OSFT layers by name (empty unless OSFT).
        lora: True for LoRA (only the adapter is saved).
    """

    model: Any
    unwrapped: Any
    tokenizer: Any
    osft_modules: dict[str, Any] = field(default_factory=dict)
    lora: bool = False


def load_tokenizer(model_path: str) -> Any:
    """Load the tokenizer of a model directory (or hub id).

    Raises:
        InvalidInputError: If it cannot be loaded.
    """
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model_path)
    except Exception as exc:
        raise InvalidInputError(f"cannot load the tokenizer of model_path={model_path!r}: {exc}") from None


def _load_model(cfg: EngineConfig) -> Any:
    return load_causal_lm(cfg, cfg.params.model_path)


def load_causal_lm(cfg: EngineConfig, path: str) -> Any:
    """Load a causal LM in float32 with the engine's attention implementation (DPO's reference uses it too).

    Raises:
        InvalidInputError: If it cannot be loaded.
    """
    import torch
    from transformers import AutoModelForCausalLM

    attn = cfg.attention  # flash_attention_2 only with bf16 on SM 8.0+ (engine.precision)
    dtype = getattr(torch, WEIGHT_DTYPE)
    try:
        try:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation=attn)
            if attn == "sdpa":
                # Per-sample attention on packed rows instead of a row-wide block-diagonal mask (same result,
                # without the O(row^2) cost); plain SDPA for every other call. Checkpoints still say sdpa.
                from training_hub.engine.packed_attention import register

                model.set_attn_implementation(register())
        except (ValueError, ImportError) as exc:
            if "attn" not in str(exc).lower() and "attention" not in str(exc).lower():
                raise
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="eager")
    except Exception as exc:
        raise InvalidInputError(f"cannot load a causal LM from model_path={path!r}: {exc}") from None
    model.config.use_cache = False
    return model


def _apply_liger(model: Any) -> None:
    try:
        from liger_kernel.transformers import _apply_liger_kernel_to_instance

        _apply_liger_kernel_to_instance(model=model)
    except Exception as exc:
        raise BackendUnavailableError(f"use_liger=True but Liger kernels cannot be applied: {exc}") from None


def _apply_lora(model: Any, p: LoRAParams | DPOParams) -> Any:
    from peft import LoraConfig, get_peft_model

    targets: Any = p.target_modules or LORA_TARGETS.engine_value()
    config = LoraConfig(
        r=p.lora_r,
        lora_alpha=p.lora_alpha,
        lora_dropout=p.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        raise InvalidInputError(f"LoRA target_modules {targets!r} do not fit this model: {exc}") from None


def _decoder_layer_classes(model: Any) -> tuple[type, ...]:
    names = set(getattr(model, "_no_split_modules", None) or [])
    return tuple({type(m) for m in model.modules() if type(m).__name__ in names})


def enable_activation_checkpointing(model: Any, required: bool) -> bool:
    """Recompute every decoder layer's activations in backward (non-reentrant ``torch.utils.checkpoint``).

    transformers wraps each decoder layer's call (``GradientCheckpointingLayer``), so the unit is one
    layer, as in mini-trainer (``checkpoint_wrapper`` per block) and instructlab-training
    (``gradient_checkpointing_enable()``). Non-reentrant checkpointing needs no input gradients (LoRA's
    frozen embedding), composes with DDP and with FSDP2 (``fully_shard`` afterwards: the recompute runs
    inside the layer's unsharded window) and keeps parameter names unchanged (checkpoints, OSFT, LoRA).

    Args:
        model: The causal LM (a peft model for LoRA).
        required: The user asked for it explicitly: a model that cannot do it is an error, not a warning.

    Returns:
        Whether checkpointing is on.

    Raises:
        InvalidInputError: ``required`` and the model does not support it.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not getattr(base, "supports_gradient_checkpointing", False):
        message = f"activation_checkpointing: {type(base).__name__} does not support it"
        if required:
            raise InvalidInputError(message + "; set activation_checkpointing=False")
        log.warning("%s; training without it", message)
        return False
    base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return True


def shard_fsdp(model: Any, device: str, bf16: bool) -> Any:
    """FSDP2 over every decoder layer and the root, moving only this rank's shards to ``device``.

    The model arrives on the CPU in fp32 and each ``fully_shard`` moves the shards it creates to the
    mesh's device, so no rank ever holds the whole fp32 model on its GPU. With ``bf16`` the layers are
    gathered in bfloat16 (``MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32)``): autocast then
    has nothing to cast, so the bf16 weights a layer saves for backward are the gathered parameters that
    resharding frees, not per-layer copies that live until backward (2 bytes per parameter per GPU).

    Args:
        model: The model (CPU, fp32).
        device: This rank's device (``cuda:N`` or ``cpu``).
        bf16: Gather parameters in bfloat16.

    Returns:
        The sharded model (the same object).
    """
    import torch
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    device_type = device.split(":", 1)[0]
    mesh = init_device_mesh(device_type, (torch.distributed.get_world_size(),))
    kwargs: dict[str, Any] = {"mesh": mesh}
    if bf16:
        kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    layer_types = _decoder_layer_classes(model)
    shard: Any = fully_shard
    for module in list(model.modules()):
        if layer_types and isinstance(module, layer_types):
            shard(module, **kwargs)
    shard(model, **kwargs)
    return model


def build_model(cfg: EngineConfig, ctx: DistContext, tokenizer: Any) -> ModelBundle:
    """Load the model, apply the algorithm, move it to the device and wrap it for distribution.

    Args:
        cfg: Engine configuration.
        ctx: Distributed context.
        tokenizer: The loaded tokenizer.

    Returns:
        The model bundle.
    """
    import torch

    p = cfg.params
    torch.manual_seed(p.seed)  # same initialisation of new weights on every rank
    if ctx.is_main:
        for note in cfg.notes:
            log.info("%s", note)
    model = _load_model(cfg)
    if p.use_liger:
        _apply_liger(model)
    osft_modules: dict[str, Any] = {}
    lora = cfg.algorithm == "lora_sft" or bool(getattr(p, "use_lora", False))  # dpo: LoRA-DPO
    if cfg.algorithm == "osft":
        from training_hub.engine.osft import apply_osft

        if cfg.device_type == "cuda":
            # the SVD of every targeted matrix on the GPU (fp64 there), not on one CPU thread per rank:
            # OSFT trains with DDP, so the model goes to this rank's GPU anyway
            model.to(ctx.device)

        osft_modules = apply_osft(
            model, cast(OSFTParams, p).unfreeze_rank_ratio, cast(OSFTParams, p).target_patterns
        )
        log.info("osft: decomposed %d linear layers", len(osft_modules))
    elif lora:
        model = _apply_lora(model, cast("LoRAParams | DPOParams", p))
    if cfg.activation_checkpointing:
        enable_activation_checkpointing(model, required=p.activation_checkpointing is True)
    fsdp = ctx.distributed and cfg.strategy == "fsdp"
    if not fsdp:
        model.to(ctx.device)
    unwrapped = model
    if fsdp:
        shard_fsdp(model, ctx.device, cfg.bf16)
    elif ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(
            model,
            device_ids=[ctx.local_rank] if cfg.device_type == "cuda" else None,
            broadcast_buffers=False,
        )
    torch.manual_seed(p.seed + ctx.rank)  # per-rank dropout streams
    return ModelBundle(
        model=model, unwrapped=unwrapped, tokenizer=tokenizer, osft_modules=osft_modules, lora=lora
    )
