"""What the accelerator of this machine (or of a planned node) can do: CUDA, compute capability, bf16,
flash-attn.

One description serves three readers: the engine (dtype and attention), ``backend='auto'`` (which engine
can run this exact run) and the planner (which engine will run on the GPUs a TrainingRun asks for). The
probe never creates a CUDA context on a device other than this rank's: it selects ``LOCAL_RANK``'s device
before asking anything, and asks bf16 support without emulation (``torch.cuda.is_bf16_supported`` with
emulation allowed says yes on T4/V100 and allocates a test tensor on the current device).

Importing this module imports nothing heavy; :func:`probe_hardware` imports torch.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from training_hub.contracts import pod_env

#: Compute capability of common data-center GPUs (by the product keys of ``estimator.planner``).
PRODUCT_CAPABILITY: dict[str, tuple[int, int]] = {
    "T4": (7, 5),
    "V100-16GB": (7, 0),
    "V100-32GB": (7, 0),
    "A10": (8, 6),
    "A10G": (8, 6),
    "L4": (8, 9),
    "A30": (8, 0),
    "A40": (8, 6),
    "A6000": (8, 6),
    "L40": (8, 9),
    "L40S": (8, 9),
    "A100-40GB": (8, 0),
    "A100-80GB": (8, 0),
    "H100": (9, 0),
    "H100-80GB": (9, 0),
    "H100-NVL": (9, 0),
    "H100-94GB": (9, 0),
    "H200": (9, 0),
    "GH200": (9, 0),
    "B200": (10, 0),
}

#: Flash-attention 2 needs Ampere or newer (SM 8.0+).
FLASH_ATTN_MIN_CAPABILITY = (8, 0)


@dataclass(frozen=True)
class Hardware:
    """The accelerator a run gets.

    Attributes:
        cuda: A CUDA device is present.
        capability: Its compute capability (major, minor); None without CUDA or when unknown.
        bf16: Native bfloat16 support (SM 8.0+), emulation not counted.
        flash_attn: The ``flash_attn`` package can be imported.
        device_count: CUDA devices visible.
        name: Device or product name (for messages).
    """

    cuda: bool
    capability: tuple[int, int] | None = None
    bf16: bool = False
    flash_attn: bool = False
    device_count: int = 0
    name: str = "cpu"

    @property
    def flash_attn_usable(self) -> bool:
        """flash-attn is importable and the GPU generation supports it (SM 8.0+)."""
        return (
            self.cuda
            and self.flash_attn
            and self.capability is not None
            and self.capability >= FLASH_ATTN_MIN_CAPABILITY
        )

    def describe(self) -> str:
        """``NVIDIA H100 (SM 9.0, bf16, flash-attn)`` style."""
        if not self.cuda:
            return "no CUDA GPU"
        sm = f"SM {self.capability[0]}.{self.capability[1]}" if self.capability else "SM unknown"
        extras = [sm, "bf16" if self.bf16 else "no native bf16"]
        extras.append("flash-attn" if self.flash_attn else "no flash-attn")
        return f"{self.name} ({', '.join(extras)})"


def module_importable(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def probe_hardware(local_rank: int | None = None, select_device: bool = True) -> Hardware:
    """Describe this machine's accelerator as rank ``local_rank`` sees it.

    Args:
        local_rank: The device this process uses (default: ``LOCAL_RANK`` or 0).
        select_device: A training rank: make ``local_rank`` the current device first (so no context is
            created on ``cuda:0`` by another rank) and ask ``is_bf16_supported(including_emulation=False)``.
            A launcher (``backend='auto'`` in the process that starts torchrun, the GPU check) passes False:
            it reads device properties only and creates no CUDA context at all (since CUDA 12,
            ``cudaSetDevice`` creates one, which would hold GPU memory while the ranks train).
    """
    import torch

    if not torch.cuda.is_available():
        return Hardware(cuda=False)
    rank = int(os.environ.get(pod_env.LOCAL_RANK, "0")) if local_rank is None else local_rank
    count = int(torch.cuda.device_count())
    index = rank if rank < count else 0
    if select_device:
        torch.cuda.set_device(index)
    capability = tuple(torch.cuda.get_device_capability(index))
    if select_device:
        bf16 = bool(torch.cuda.is_bf16_supported(including_emulation=False))
    else:  # what is_bf16_supported(including_emulation=False) answers on CUDA, without a context
        bf16 = torch.version.cuda is not None and capability >= (8, 0)
    return Hardware(
        cuda=True,
        capability=(int(capability[0]), int(capability[1])),
        bf16=bf16,
        flash_attn=module_importable("flash_attn"),
        device_count=count,
        name=str(torch.cuda.get_device_name(index)),
    )


def planned_hardware(gpu_product: str | None, flash_attn: bool = True) -> Hardware:
    """The hardware a TrainingRun's pods will get, as the planner assumes it.

    Args:
        gpu_product: ``spec.resources.gpuProduct`` (any spelling the planner accepts), or None.
        flash_attn: Whether the run's image has flash-attn (the project's runtime image does).

    Returns:
        A CUDA description; the capability is None when the product is unknown or not given.
    """
    capability = None
    name = "GPU"
    if gpu_product:
        from training_hub.estimator.planner import normalise_product

        key = normalise_product(gpu_product)
        capability = PRODUCT_CAPABILITY.get(key)
        name = key
    bf16 = capability is None or capability >= (8, 0)
    return Hardware(cuda=True, capability=capability, bf16=bf16, flash_attn=flash_attn, name=name)
