"""Loading the model and tokenizer, applying the algorithm (SFT, OSFT, LoRA) and wrapping for DDP/FSDP."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from training_hub.engine.config import EngineConfig
from training_hub.engine.distributed import DistContext
from training_hub.errors import BackendUnavailableError, InvalidInputError

log = logging.getLogger("training_hub.engine")


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
    return load_causal_lm(cfg, cfg.params["model_path"])


def load_causal_lm(cfg: EngineConfig, path: str) -> Any:
    """Load a causal LM in float32 with the engine's attention implementation (DPO's reference uses it too).

    Raises:
        InvalidInputError: If it cannot be loaded.
    """
    import torch
    from transformers import AutoModelForCausalLM

    attn = "sdpa"
    if cfg.device_type == "cuda":
        try:
            import flash_attn  # noqa: F401

            attn = "flash_attention_2"
        except ImportError:
            attn = "sdpa"
    try:
        try:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=attn)
            if attn == "sdpa":
                # Per-sample attention on packed rows instead of a row-wide block-diagonal mask (same result,
                # without the O(row^2) cost); plain SDPA for every other call. Checkpoints still say sdpa.
                from training_hub.engine.packed_attention import register

                model.set_attn_implementation(register())
        except (ValueError, ImportError) as exc:
            if "attn" not in str(exc).lower() and "attention" not in str(exc).lower():
                raise
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=torch.float32, attn_implementation="eager"
            )
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


def _apply_lora(model: Any, p: dict[str, Any]) -> Any:
    from peft import LoraConfig, get_peft_model

    targets: Any = p["target_modules"] or "all-linear"
    config = LoraConfig(
        r=p["lora_r"],
        lora_alpha=p["lora_alpha"],
        lora_dropout=p["lora_dropout"],
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
    torch.manual_seed(p["seed"])  # same initialisation of new weights on every rank
    model = _load_model(cfg)
    if p["use_liger"]:
        _apply_liger(model)
    osft_modules: dict[str, Any] = {}
    lora = cfg.algorithm == "lora_sft" or bool(p.get("use_lora"))  # dpo: LoRA-DPO
    if cfg.algorithm == "osft":
        from training_hub.engine.osft import apply_osft

        osft_modules = apply_osft(model, p["unfreeze_rank_ratio"], p["target_patterns"])
        log.info("osft: decomposed %d linear layers", len(osft_modules))
    elif lora:
        model = _apply_lora(model, p)
    model.to(ctx.device)
    unwrapped = model
    if ctx.distributed:
        if cfg.strategy == "fsdp":
            from torch.distributed.fsdp import fully_shard

            layer_types = _decoder_layer_classes(model)
            shard: Any = fully_shard
            for module in list(model.modules()):
                if layer_types and isinstance(module, layer_types):
                    shard(module)
            shard(model)
        else:
            from torch.nn.parallel import DistributedDataParallel

            model = DistributedDataParallel(
                model,
                device_ids=[ctx.local_rank] if cfg.device_type == "cuda" else None,
                broadcast_buffers=False,
            )
    torch.manual_seed(p["seed"] + ctx.rank)  # per-rank dropout streams
    return ModelBundle(
        model=model, unwrapped=unwrapped, tokenizer=tokenizer, osft_modules=osft_modules, lora=lora
    )
