"""Upstream training_hub 0.11's estimator API over our estimator: ``estimate()`` with upstream's signature and
defaults, and the classes ``BasicEstimator``, ``LoRAEstimator``, ``QLoRAEstimator``, ``OSFTEstimator`` and
``OSFTEstimatorExperimental``.

The numbers come from :func:`training_hub.estimator.memory.estimate` (config-only, per-GPU ``(low, expected,
high)`` bytes); only the calling conventions are upstream's. Differences (docs/compatibility.md): the model's
``config.json`` is read (a hub id fetches only that file), never the weights, so ``trust_remote_code`` has
nothing to run; ``gpu_memory`` is used for the printed verdict.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from training_hub.estimator.memory import estimate as estimate_memory
from training_hub.estimator.result import MemoryEstimate

#: Upstream's defaults (``profiling/memory_estimator.py`` of 0.11.2).
DEFAULT_NUM_GPUS = 8
DEFAULT_GPU_MEMORY = 85_899_345_920
DEFAULT_MODEL = "ibm-granite/granite-3.3-8b-instruct"
#: Upstream method names -> ours (``osft-e`` is upstream's deprecated alias of ``osft``).
METHODS: dict[str, str] = {"sft": "sft", "osft": "osft", "osft-e": "osft", "lora": "lora", "qlora": "qlora"}

_GIB = 1024**3


def _report(result: MemoryEstimate, gpu_memory: int, verbose: int) -> None:
    if verbose > 1:
        for name, size in result.breakdown.components().items():
            print(f"  {name:>17}: {size / _GIB:8.2f} GiB")
    if verbose > 0:
        low, expected, high = result
        verdict = "fits" if expected <= gpu_memory else "does not fit"
        print(
            f"Estimated memory per GPU: {low / _GIB:.1f} - {high / _GIB:.1f} GiB (expected {expected / _GIB:.1f} "
            f"GiB); this {verdict} a {gpu_memory / _GIB:.0f} GiB GPU"
        )


def estimate(
    training_method: str = "sft",
    num_gpus: int = DEFAULT_NUM_GPUS,
    gpu_memory: int = DEFAULT_GPU_MEMORY,
    model_path: str = DEFAULT_MODEL,
    batch_size: int | None = None,
    max_seq_len: int | None = None,
    max_tokens_per_gpu: int | None = None,
    use_liger: bool | None = None,
    verbose: int = 1,
    trust_remote_code: bool = False,
    unfreeze_rank_ratio: float = 0.25,
    lora_r: int = 32,
    **options: Any,
) -> MemoryEstimate:
    """Per-GPU training memory, ``low, expected, high = estimate(...)`` (bytes), as upstream's ``estimate``.

    Args:
        training_method: ``sft``, ``osft`` (``osft-e``: deprecated alias), ``lora`` or ``qlora``.
        num_gpus: Total GPUs (upstream default 8).
        gpu_memory: Bytes per GPU for the printed verdict (upstream default 80 GiB).
        model_path: Model directory or hub id (only its ``config.json`` is fetched).
        batch_size: Samples per optimizer step; with ``max_seq_len`` the token budget per GPU is
            ``batch_size * max_seq_len / num_gpus`` (capped by ``max_tokens_per_gpu``), as upstream.
        max_seq_len: Longest sample.
        max_tokens_per_gpu: Tokens per micro-batch per GPU.
        use_liger: Liger kernels (default: on for OSFT, off otherwise, as upstream).
        verbose: 0 silent, 1 the verdict, 2 also the breakdown.
        trust_remote_code: Accepted; no model code runs (the estimate reads ``config.json``).
        unfreeze_rank_ratio: OSFT's trainable fraction.
        lora_r: LoRA rank.
        **options: Our estimator's further keywords (``model_config``, ``dtype``, ``device``,
            ``distributed_strategy``, ``activation_checkpointing``, ``allow_download``,
            ``lora_target_modules``).

    Raises:
        InvalidInputError: On invalid input (an unknown method included).
    """
    del trust_remote_code  # nothing to run: only config.json is read
    from training_hub.errors import InvalidInputError

    if training_method not in METHODS:
        raise InvalidInputError(
            f"unknown training_method {training_method!r}; choose one of {', '.join(METHODS)}"
        )
    if training_method == "osft-e":
        warnings.warn("training_method='osft-e' is deprecated: use 'osft'", DeprecationWarning, stacklevel=2)
    method = METHODS[training_method]
    if use_liger is None:
        use_liger = method == "osft"
    if batch_size is not None and max_seq_len is not None:
        # Upstream's token budget: the batch's tokens shared by the GPUs, capped by max_tokens_per_gpu
        # (LoRA: not capped). Ours reads batch_size per micro-batch, so hand over the budget itself.
        per_gpu = math.ceil(batch_size * max_seq_len / num_gpus)
        capped = max_tokens_per_gpu is not None and method not in ("lora", "qlora")
        max_tokens_per_gpu = min(max_tokens_per_gpu, per_gpu) if capped else per_gpu  # type: ignore[type-var]
        batch_size = None
    if "model_config" not in options:
        options.setdefault("allow_download", not Path(model_path).exists())
    result = estimate_memory(
        method,
        model_path=None if "model_config" in options else model_path,
        num_gpus=num_gpus,
        gpu_memory=gpu_memory,
        batch_size=batch_size,
        max_seq_len=max_seq_len,
        max_tokens_per_gpu=max_tokens_per_gpu,
        use_liger=use_liger,
        unfreeze_rank_ratio=unfreeze_rank_ratio,
        lora_r=lora_r,
        **options,
    )
    _report(result, gpu_memory, verbose)
    return result


def _arguments(constructor_locals: dict[str, Any]) -> dict[str, Any]:
    """A subclass constructor's arguments, from its ``locals()``, as keywords for :class:`BasicEstimator`: its
    named parameters (those BasicEstimator does not name land in ``**options``) and its ``**options``."""
    named = {k: v for k, v in constructor_locals.items() if k not in ("self", "__class__", "options")}
    return {**named, **constructor_locals["options"]}


# The estimator classes below repeat their constructor parameters on purpose: they are upstream's public
# signatures (tests/compat compares them with the sdist's), which IDEs and ``inspect.signature`` show; each
# subclass passes its arguments on to BasicEstimator (``_arguments``), which does the work.
class BasicEstimator:
    """Upstream's SFT estimator: configure in the constructor, ``estimate()`` returns ``(low, expected, high)``."""

    method = "sft"

    def __init__(
        self,
        num_gpus: int = DEFAULT_NUM_GPUS,
        gpu_memory: int = DEFAULT_GPU_MEMORY,
        model_path: str = DEFAULT_MODEL,
        batch_size: int | None = None,
        max_seq_len: int | None = None,
        max_tokens_per_gpu: int | None = None,
        use_liger: bool = False,
        verbose: int = 1,
        trust_remote_code: bool = False,
        **options: Any,
    ) -> None:
        # Upstream's public attributes: the arguments its constructor keeps (estimate() reads them as they are
        # when it runs); the others are inputs of the estimate alone.
        self.num_gpus = num_gpus
        self.gpu_memory = gpu_memory
        self.model_path = model_path
        self.use_liger = use_liger
        self.verbose = verbose
        self._inputs: dict[str, Any] = {
            "batch_size": batch_size,
            "max_seq_len": max_seq_len,
            "max_tokens_per_gpu": max_tokens_per_gpu,
            "trust_remote_code": trust_remote_code,
            **options,
        }

    def estimate(self) -> MemoryEstimate:
        """``(low, expected, high)`` bytes per GPU (printed per ``verbose``): :func:`estimate` with the public
        attributes and the other inputs as keywords."""
        attributes = {name: value for name, value in vars(self).items() if not name.startswith("_")}
        return estimate(self.method, **attributes, **self._inputs)


class OSFTEstimator(BasicEstimator):
    """Upstream's OSFT estimator (Liger on by default)."""

    method = "osft"

    def __init__(
        self,
        num_gpus: int = DEFAULT_NUM_GPUS,
        gpu_memory: int = DEFAULT_GPU_MEMORY,
        model_path: str = DEFAULT_MODEL,
        batch_size: int | None = None,
        max_seq_len: int | None = None,
        max_tokens_per_gpu: int | None = None,
        use_liger: bool = True,
        verbose: int = 1,
        trust_remote_code: bool = False,
        unfreeze_rank_ratio: float = 0.25,
        **options: Any,
    ) -> None:
        if not 0.0 <= unfreeze_rank_ratio <= 1.0:
            raise ValueError("Ratio must be in the range [0, 1]")
        super().__init__(**_arguments(locals()))


class OSFTEstimatorExperimental(OSFTEstimator):
    """Deprecated upstream alias of :class:`OSFTEstimator` (warns)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "OSFTEstimatorExperimental is deprecated: use OSFTEstimator", DeprecationWarning, stacklevel=2
        )
        super().__init__(*args, **kwargs)


class LoRAEstimator(BasicEstimator):
    """Upstream's LoRA estimator (no ``max_tokens_per_gpu``, as upstream)."""

    method = "lora"

    def __init__(
        self,
        num_gpus: int = DEFAULT_NUM_GPUS,
        gpu_memory: int = DEFAULT_GPU_MEMORY,
        model_path: str = DEFAULT_MODEL,
        batch_size: int | None = None,
        max_seq_len: int | None = None,
        use_liger: bool = False,
        verbose: int = 1,
        trust_remote_code: bool = False,
        lora_r: int = 32,
        **options: Any,
    ) -> None:
        super().__init__(**_arguments(locals()))


class QLoRAEstimator(LoRAEstimator):
    """Upstream's QLoRA estimator (4-bit base)."""

    method = "qlora"
