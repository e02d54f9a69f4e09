"""AdamW and the learning-rate schedule (linear warmup, then cosine, linear or constant)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from training_hub.params import EngineParams


def lr_lambda(step: int, warmup_steps: int, total_steps: int, scheduler: str) -> float:
    """Multiplier of the peak learning rate before optimizer step `step` (0-based).

    Args:
        step: Number of optimizer steps already taken.
        warmup_steps: Linear warmup length (from lr/warmup to lr).
        total_steps: Steps of the whole run.
        scheduler: `cosine` (to 0), `linear` (to 0) or `constant`.

    Returns:
        The multiplier in [0, 1].
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if scheduler == "constant":
        return 1.0
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, max(0.0, (step - warmup_steps) / decay_steps))
    if scheduler == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(params: Iterable[torch.nn.Parameter], p: EngineParams) -> torch.optim.Optimizer:
    """AdamW with the run's learning rate, betas, epsilon and weight decay."""
    return torch.optim.AdamW(
        [q for q in params if q.requires_grad],
        lr=p.learning_rate,
        betas=(p.adam_beta1, p.adam_beta2),
        eps=p.adam_epsilon,
        weight_decay=p.weight_decay,
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, p: EngineParams, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """The warmup + decay schedule as a `LambdaLR`."""
    warmup, kind = p.warmup_steps, p.lr_scheduler
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_lambda(s, warmup, total_steps, kind))


def load_scheduler_state(sched: torch.optim.lr_scheduler.LambdaLR, state: dict[str, Any]) -> None:
    """Restore a schedule's position (steps taken) and set the learning rate of the next step from *this*
    run's schedule.

    The saved state carries the learning rate the earlier run would have used next, which is stale when
    the schedule changed in between (a resume with a larger ``max_steps``: the earlier run ended at the
    end of its decay, learning rate 0). The optimizer's groups get ``base_lr * lambda(steps taken)``, as
    :class:`~torch.optim.lr_scheduler.LambdaLR` computes at every step; with an unchanged schedule that
    is the saved value.
    """
    sched.load_state_dict(state)
    optimizer = sched.optimizer
    for group, base, multiplier in zip(optimizer.param_groups, sched.base_lrs, sched.lr_lambdas, strict=True):
        group["lr"] = base * multiplier(sched.last_epoch)
    sched._last_lr = [group["lr"] for group in optimizer.param_groups]
