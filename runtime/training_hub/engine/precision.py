"""The native engine's dtype, attention kernel and activation checkpointing for the hardware at hand.

Rules (each one a defect when broken on a GPU):

* bf16 defaults on only where the GPU supports it natively (SM 8.0+; emulation on T4/V100 is slow and
  not what "supported" should mean). ``bf16=True`` on a GPU without it is bad input.
* flash-attention 2 only with bf16 and on SM 8.0+: transformers hands it fp32 tensors otherwise and it
  refuses them (and it has no kernels for older GPUs). Else SDPA (the packed per-sample attention).
* Activation checkpointing defaults on with CUDA (as instructlab-training, mini-trainer and unsloth do)
  and off on CPU; an explicit value wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from training_hub.errors import InvalidInputError
from training_hub.hardware import Hardware


@dataclass(frozen=True)
class Precision:
    """What the engine runs with, and why.

    Attributes:
        bf16: Mixed precision in bfloat16 (autocast; FSDP's ``MixedPrecisionPolicy``).
        attention: ``flash_attention_2`` or ``sdpa``.
        activation_checkpointing: Recompute each decoder layer in backward.
        reasons: One sentence per choice, for the log.
    """

    bf16: bool
    attention: str
    activation_checkpointing: bool
    reasons: tuple[str, ...]


def choose_precision(
    hardware: Hardware, bf16: bool | None, activation_checkpointing: bool | None
) -> Precision:
    """Resolve the engine's precision settings.

    Args:
        hardware: The accelerator (see :func:`training_hub.hardware.probe_hardware`).
        bf16: The ``bf16`` parameter (None: default for the hardware).
        activation_checkpointing: The ``activation_checkpointing`` parameter (None: on with CUDA).

    Raises:
        InvalidInputError: ``bf16=True`` without a CUDA GPU that supports bfloat16 natively.
    """
    reasons: list[str] = []
    if bf16 is None:
        use_bf16 = hardware.cuda and hardware.bf16
        if hardware.cuda and not hardware.bf16:
            reasons.append(f"bf16 off: {hardware.describe()} has no native bfloat16; training in float32")
    else:
        use_bf16 = bool(bf16)
    if use_bf16 and not hardware.cuda:
        raise InvalidInputError(
            "bf16=True needs a CUDA GPU; on CPU the engine trains in float32 (bf16=False)"
        )
    if use_bf16 and not hardware.bf16:
        raise InvalidInputError(
            f"bf16=True but {hardware.describe()} does not support bfloat16 natively (SM 8.0+ needed); "
            "set bf16=False"
        )
    attention = "sdpa"
    if hardware.flash_attn_usable and use_bf16:
        attention = "flash_attention_2"
        reasons.append("attention: flash_attention_2 (flash-attn installed, SM 8.0+, bf16)")
    elif hardware.cuda and hardware.flash_attn:
        why = "bf16 is off" if not use_bf16 else "the GPU is older than SM 8.0"
        reasons.append(f"attention: sdpa (flash-attn is installed but {why})")
    ckpt = hardware.cuda if activation_checkpointing is None else bool(activation_checkpointing)
    reasons.append(
        f"activation checkpointing {'on' if ckpt else 'off'}"
        + (" (default on GPU)" if activation_checkpointing is None and ckpt else "")
    )
    return Precision(
        bf16=use_bf16, attention=attention, activation_checkpointing=ckpt, reasons=tuple(reasons)
    )
