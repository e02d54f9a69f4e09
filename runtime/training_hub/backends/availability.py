"""Whether an upstream engine can run here: its package is importable and a CUDA GPU is present."""

from __future__ import annotations

import importlib.util
from typing import ClassVar

from training_hub.algorithms.base import Backend

CUDA_EXTRA = "pip install 'training-hub-k8s[cuda]'"
UNSLOTH_EXTRA = "pip install 'training-hub-k8s[unsloth]'"


def module_available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA device."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def upstream_unavailable_reason(module: str, package: str) -> str | None:
    """Why an upstream engine cannot run here (package missing, no CUDA), or ``None``."""
    if not module_available(module):
        return f"the package {package} is not installed"
    if not cuda_available():
        return f"{package} needs a CUDA GPU and none is available"
    return None


class UpstreamEngineBackend(Backend):
    """A backend that runs an upstream engine: it needs the engine's packages and a CUDA GPU.

    Attributes:
        requires: ``(module, package)`` pairs the engine imports, checked in order.
    """

    requires: ClassVar[tuple[tuple[str, str], ...]] = ()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        for module, package in cls.requires:
            reason = upstream_unavailable_reason(module, package)
            if reason:
                return reason
        return None
