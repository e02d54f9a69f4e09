"""Process-group setup for runs started by torchrun (or a single process)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from training_hub.contracts import pod_env
from training_hub.errors import InfrastructureError

#: Seconds a rendezvous or collective waits for the other ranks before failing (a dead or hung peer).
ENV_DIST_TIMEOUT = "TRAINING_HUB_DIST_TIMEOUT"
#: Default of :data:`ENV_DIST_TIMEOUT` (torch's gloo default; long enough for rank 0 to save a large
#: checkpoint while the others wait at a barrier).
DEFAULT_DIST_TIMEOUT_SECONDS = 1800.0


def dist_timeout_seconds() -> float:
    """The collective/rendezvous timeout from ``TRAINING_HUB_DIST_TIMEOUT`` (default 1800 s).

    Raises:
        InfrastructureError: If the variable is not a positive number.
    """
    raw = os.environ.get(ENV_DIST_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_DIST_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise InfrastructureError(f"{ENV_DIST_TIMEOUT} must be a positive number of seconds, got {raw!r}")
    return value


@dataclass
class DistContext:
    """Where this process sits in the run.

    Attributes:
        rank: Global rank.
        world_size: Number of ranks.
        local_rank: Rank on this node.
        device: The torch device string (`cpu` or `cuda:<local_rank>`).
        initialized: True if this module created the process group (and must destroy it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"
    initialized: bool = False

    @property
    def is_main(self) -> bool:
        """True on rank 0."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True with more than one rank."""
        return self.world_size > 1


#: NCCL's watchdog (torch >= 2.2 default 3, "SkipCleanUp") tears the process down with SIGABRT when a
#: collective times out or a peer fails, so no exception reaches the engine and the rank dies with a
#: signal instead of the retryable exit code 4. With 2 ("CleanUpOnly") the watchdog aborts the
#: communicators and the failed collective raises in the training thread, where the engine turns it into
#: exit code 4. Set only when the user has not chosen a value.
NCCL_ERROR_HANDLING: dict[str, str] = {"TORCH_NCCL_ASYNC_ERROR_HANDLING": "2"}


def apply_nccl_error_handling(env: dict[str, str] | None = None) -> dict[str, str]:
    """Set :data:`NCCL_ERROR_HANDLING` in ``env`` (default ``os.environ``) where unset; return what is set."""
    environ: Any = os.environ if env is None else env
    for key, value in NCCL_ERROR_HANDLING.items():
        environ.setdefault(key, value)
    return {key: environ[key] for key in NCCL_ERROR_HANDLING}


def world_size_from_env() -> int:
    """`WORLD_SIZE` as set by torchrun (1 when unset)."""
    try:
        return int(os.environ.get(pod_env.WORLD_SIZE, "1"))
    except ValueError:
        return 1


def init_distributed() -> DistContext:
    """Initialise `torch.distributed` when `WORLD_SIZE` > 1 (gloo on CPU, nccl on CUDA).

    Raises:
        InfrastructureError: If the rendezvous fails.
    """
    import torch
    import torch.distributed as dist

    world = world_size_from_env()
    rank = int(os.environ.get(pod_env.RANK, "0"))
    local_rank = int(os.environ.get(pod_env.LOCAL_RANK, "0"))
    cuda = torch.cuda.is_available()
    device = f"cuda:{local_rank}" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(local_rank)
    if world <= 1:
        return DistContext(rank=0, world_size=1, local_rank=0, device=device)
    if dist.is_initialized():
        return DistContext(rank, world, local_rank, device, initialized=False)
    from datetime import timedelta

    timeout = timedelta(seconds=dist_timeout_seconds())
    if cuda:
        apply_nccl_error_handling()  # before the process group reads it
    try:
        dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=timeout)
    except Exception as exc:  # rendezvous / network problems are retryable
        raise InfrastructureError(f"torch.distributed initialisation failed: {exc}") from exc
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, device, initialized=True)


def shutdown(ctx: DistContext) -> None:
    """Destroy the process group if this module created it."""
    import torch.distributed as dist

    if ctx.initialized and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """A barrier across ranks (no-op for one rank)."""
    import torch.distributed as dist

    if ctx.distributed:
        dist.barrier()


def broadcast_object(ctx: DistContext, obj: Any) -> Any:
    """Broadcast a picklable object from rank 0 (returns rank 0's object everywhere)."""
    import torch.distributed as dist

    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
