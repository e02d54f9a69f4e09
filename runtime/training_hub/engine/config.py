"""Validation of the engine's parameters: every parameter takes effect here or is an error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from training_hub.errors import BackendUnavailableError, InvalidInputError
from training_hub.params import ENGINE_ALGORITHMS, EngineParams


@dataclass
class EngineConfig:
    """Validated parameters plus what the engine derived from them and from the machine.

    Attributes:
        algorithm: `sft`, `osft`, `lora_sft` or `dpo`.
        params: The validated parameter model (every field; read as attributes).
        device_type: `cuda` or `cpu`.
        bf16: Autocast to bfloat16 (GPU only).
        strategy: `ddp` or `fsdp` (meaningful with more than one rank).
        max_tokens_per_gpu: Micro-batch token budget.
        ckpt_dir: Output directory.
        data_output_dir: Directory of the tokenised-data cache.
        attention: Attention implementation (``flash_attention_2`` or ``sdpa``).
        activation_checkpointing: Recompute decoder layers in backward.
        notes: Why dtype, attention and checkpointing were chosen (logged on rank 0).
    """

    algorithm: str
    params: EngineParams
    device_type: str
    bf16: bool
    strategy: str
    max_tokens_per_gpu: int
    ckpt_dir: Path
    data_output_dir: Path
    attention: str = "sdpa"
    activation_checkpointing: bool = False
    notes: tuple[str, ...] = ()


def engine_parameters(algorithm: str, params: EngineParams | Mapping[str, Any]) -> EngineParams:
    """The typed parameters of ``algorithm``: the validated model as the backend hands it over, or a mapping
    validated here (the engine's own edge: ``python -m training_hub.engine --params file.json``).

    Raises:
        InvalidInputError: On unknown algorithms or invalid values.
    """
    if algorithm not in ENGINE_ALGORITHMS:
        raise InvalidInputError(
            f"unknown algorithm {algorithm!r} for the native engine; choose one of {', '.join(ENGINE_ALGORITHMS)}"
        )
    from training_hub.algorithms.validation import validated
    from training_hub.params import param_model

    if isinstance(params, param_model(algorithm)):
        return cast(EngineParams, params)
    values = params.model_dump() if hasattr(params, "model_dump") else dict(params)
    return cast(EngineParams, validated(algorithm, values).model)


def resolve_config(
    algorithm: str, params: EngineParams | Mapping[str, Any], world_size: int = 1
) -> EngineConfig:
    """Derive the engine's configuration on this machine.

    Args:
        algorithm: One of `sft`, `osft`, `lora_sft`, `dpo`.
        params: The validated parameter model, or values (a `param_model(algorithm)` dump, or a subset:
            defaults fill the rest; `None` means "not set"; `max_grad_norm=0` disables clipping).
        world_size: Number of ranks.

    Returns:
        The resolved configuration.

    Raises:
        InvalidInputError: On unknown algorithms, invalid values or settings this engine cannot honour.
        BackendUnavailableError: If an optional package needed by a setting is missing.
    """
    p = engine_parameters(algorithm, params)
    from training_hub.engine.precision import choose_precision
    from training_hub.hardware import probe_hardware

    hardware = probe_hardware()  # selects LOCAL_RANK's device first: no context on cuda:0
    cuda = hardware.cuda
    device_type = "cuda" if cuda else "cpu"

    if p.use_liger:
        if not cuda:
            raise InvalidInputError("use_liger=True needs a CUDA GPU (Liger kernels are Triton GPU kernels)")
        try:
            import liger_kernel  # noqa: F401
        except ImportError:
            raise BackendUnavailableError(
                "use_liger=True needs the liger-kernel package: pip install 'training-hub-k8s[cuda]'"
            ) from None
    if getattr(p, "load_in_4bit", False):
        raise InvalidInputError(
            "load_in_4bit=True (QLoRA) needs the unsloth backend on a CUDA GPU; the native engine trains "
            "LoRA on full-precision weights (set load_in_4bit=False, or choose backend='unsloth' on a GPU)"
        )
    precision = choose_precision(hardware, p.bf16, p.activation_checkpointing)
    bf16 = precision.bf16

    strategy: str = p.distributed_strategy
    # Full-weight training shards under FSDP: sft, and dpo without LoRA (its reference is sharded alike).
    shardable = algorithm == "sft" or (algorithm == "dpo" and not getattr(p, "use_lora", False))
    if strategy == "auto":
        strategy = "fsdp" if (cuda and world_size > 1 and shardable) else "ddp"
    if strategy == "fsdp" and not shardable:
        raise InvalidInputError(
            "distributed_strategy='fsdp' is supported for sft and full-weight dpo in the native engine; use "
            f"'ddp' for {algorithm}" + (" with use_lora" if algorithm == "dpo" else "")
        )

    max_tokens = p.max_tokens_per_gpu or p.max_seq_len
    if p.block_size is not None and p.block_size > p.max_seq_len:
        raise InvalidInputError(f"block_size ({p.block_size}) must not exceed max_seq_len ({p.max_seq_len})")
    ckpt_dir = Path(p.ckpt_output_dir)
    data_dir = Path(p.data_output_dir) if p.data_output_dir else ckpt_dir / "data"
    return EngineConfig(
        algorithm=algorithm,
        params=p,
        device_type=device_type,
        bf16=bf16,
        strategy=strategy,
        max_tokens_per_gpu=int(max_tokens),
        ckpt_dir=ckpt_dir,
        data_output_dir=data_dir,
        attention=precision.attention,
        activation_checkpointing=precision.activation_checkpointing,
        notes=precision.reasons,
    )
