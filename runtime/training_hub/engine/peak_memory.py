"""Peak memory of this training process, for the metrics rows (and the GPU check's ratio to the estimate).

On CUDA: the caching allocator's peak reserved bytes on this rank's device (what ``nvidia-smi`` shows,
what runs out). On CPU: the process's peak resident set size (``ru_maxrss``).
"""

from __future__ import annotations

import resource
import sys
from typing import Any


def peak_memory_bytes(device: str) -> dict[str, int]:
    """``{"peak_memory_bytes": ..., "peak_allocated_bytes": ...}`` (allocated only on CUDA).

    Args:
        device: This rank's torch device string (``cuda:N`` or ``cpu``).
    """
    if device.startswith("cuda"):
        import torch

        dev: Any = torch.device(device)
        return {
            "peak_memory_bytes": int(torch.cuda.max_memory_reserved(dev)),
            "peak_allocated_bytes": int(torch.cuda.max_memory_allocated(dev)),
        }
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_memory_bytes": int(rss if sys.platform == "darwin" else rss * 1024)}
