"""One optimizer step of the native engine: forward and backward over a step's micro-batches, then the update.

SFT-style objectives run on packed rows (padding-free, :mod:`training_hub.engine.packed_attention`) with the
summed token loss; an objective object (DPO) computes its own micro-batch loss. Gradients are synchronised
once per step under DDP/FSDP (on the last micro-batch).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from training_hub.data import TokenizedDataset, collate_packed
from training_hub.engine.config import EngineConfig
from training_hub.engine.distributed import DistContext
from training_hub.engine.model_setup import ModelBundle
from training_hub.engine.packed_attention import packed_kwargs, packed_rows
from training_hub.engine.token_loss import summed_token_loss


def train_step(
    cfg: EngineConfig,
    ctx: DistContext,
    bundle: ModelBundle,
    objective: Any,
    dataset: TokenizedDataset,
    micro: list[Any],
    denom: int,
    autocast: Any,
    pad_id: int,
    params: list[Any],
    max_norm: float,
    opt: Any,
    sched: Any,
) -> tuple[Any, Any, float]:
    """Train one step on this rank's micro-batches ``micro`` and update the parameters.

    Args:
        denom: What the summed loss is divided by (trained tokens, or samples for an objective).
        params: The trainable parameters (clipped to ``max_norm``).

    Returns:
        ``(summed loss over all ranks as a float64 tensor, gradient norm before clipping, learning rate
        of the step)``.
    """
    import torch
    import torch.distributed as dist

    is_ddp = ctx.distributed and cfg.strategy == "ddp"
    is_fsdp = ctx.distributed and cfg.strategy == "fsdp"
    local_loss = torch.zeros((), dtype=torch.float64, device=ctx.device)
    for j, indices in enumerate(micro):
        last = j == len(micro) - 1
        if objective is not None:
            with bundle.model.no_sync() if is_ddp and not last else nullcontext():
                if is_fsdp:
                    bundle.model.set_requires_gradient_sync(last)
                scale = ctx.world_size / denom
                local_loss += objective.micro_batch(bundle.model, bundle, indices, autocast, scale, pad_id)
            continue
        batch = {
            k: torch.from_numpy(v).to(ctx.device) for k, v in collate_packed(dataset, indices, pad_id).items()
        }
        sync_ctx: Any = nullcontext()
        if is_ddp and not last:
            sync_ctx = bundle.model.no_sync()
        if is_fsdp:
            bundle.model.set_requires_gradient_sync(last)
        with sync_ctx:
            with autocast, packed_rows():
                out = bundle.model(
                    input_ids=batch["input_ids"],
                    position_ids=batch["position_ids"],
                    use_cache=False,
                    **packed_kwargs(batch["position_ids"]),
                )
            ce = summed_token_loss(out.logits, batch["targets"])
            (ce * (ctx.world_size / denom)).backward()
        local_loss += ce.detach().to(torch.float64)
    for mod in bundle.osft_modules.values():
        mod.project_gradients()
    grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    if hasattr(grad_norm, "full_tensor"):
        grad_norm = grad_norm.full_tensor()
    lr = float(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    for mod in bundle.osft_modules.values():
        mod.project_parameters()
    if ctx.distributed:
        dist.all_reduce(local_loss)
    return local_loss, grad_norm, lr
