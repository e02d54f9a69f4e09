"""The DPO losses and reward statistics on summed response log-probs (pure tensor functions).

Conventions follow TRL's ``DPOTrainer`` (trl 1.16, ``_compute_loss``), the reference the tests check against:

* a response's log-prob is the sum of its tokens' log-probs; its implicit reward is
  ``beta * (logp_policy - logp_reference)``;
* ``sigmoid`` (DPO, Rafailov et al. 2023): ``-log sigmoid(beta * delta)`` with ``delta`` the chosen minus the
  rejected log-ratio; with ``label_smoothing`` ``e`` > 0 it is conservative DPO,
  ``-(1 - e) log sigmoid(beta * delta) - e log sigmoid(-beta * delta)``;
* ``ipo`` (Azar et al. 2023): ``(delta_avg - 1 / (2 beta))^2`` where each log-ratio is divided by its
  response's token count (TRL's length normalisation);
* ``robust`` (Chowdhury et al. 2024): ``(-(1 - e) log sigmoid(beta delta) + e log sigmoid(-beta delta)) / (1 - 2e)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Reward statistics summed over pairs, in this order (the metrics-file names, as TRL logs them).
STAT_NAMES: tuple[str, ...] = (
    "rewards/chosen",
    "rewards/rejected",
    "rewards/accuracies",
    "rewards/margins",
    "logps/chosen",
    "logps/rejected",
)


@dataclass(frozen=True)
class DPOLossConfig:
    """The knobs of the loss.

    Attributes:
        beta: Deviation penalty (IPO's tau for ``ipo``).
        loss_type: ``sigmoid``, ``ipo`` or ``robust``.
        label_smoothing: Label-flip probability (cDPO for ``sigmoid``, ``robust``).
    """

    beta: float = 0.1
    loss_type: str = "sigmoid"
    label_smoothing: float = 0.0


def dpo_pair_losses(
    cfg: DPOLossConfig,
    policy_logps: Any,
    ref_logps: Any,
    response_tokens: Any,
) -> tuple[Any, Any]:
    """Per-pair losses and summed reward statistics.

    Args:
        cfg: Loss configuration.
        policy_logps: ``(n, 2)`` summed log-probs of the chosen (column 0) and rejected (1) responses.
        ref_logps: ``(n, 2)`` the same under the reference model (no gradient).
        response_tokens: ``(n, 2)`` response token counts (for ``ipo``).

    Returns:
        ``(losses, stats)``: ``(n,)`` losses (with gradient) and a ``(len(STAT_NAMES),)`` float64 tensor of the
        statistics summed over the pairs (divide by the pair count for TRL's means).

    Raises:
        ValueError: On an unknown loss type.
    """
    import torch
    from torch.nn import functional as F  # noqa: N812

    ref = ref_logps.to(policy_logps.dtype)
    logratios = policy_logps - ref
    chosen, rejected = logratios[:, 0], logratios[:, 1]
    delta = chosen - rejected
    beta, eps = cfg.beta, cfg.label_smoothing
    if cfg.loss_type == "sigmoid":
        losses = -F.logsigmoid(beta * delta) * (1 - eps) - F.logsigmoid(-beta * delta) * eps
    elif cfg.loss_type == "ipo":
        counts = response_tokens.to(policy_logps.dtype).clamp(min=1.0)
        ipo_delta = chosen / counts[:, 0] - rejected / counts[:, 1]
        losses = (ipo_delta - 1 / (2 * beta)) ** 2
    elif cfg.loss_type == "robust":
        clean = -(1 - eps) * F.logsigmoid(beta * delta)
        flipped = -eps * F.logsigmoid(-beta * delta)
        losses = (clean - flipped) / (1 - 2 * eps)
    else:
        raise ValueError(f"unknown DPO loss_type {cfg.loss_type!r}; choose sigmoid, ipo or robust")
    with torch.no_grad():
        r_chosen = beta * chosen.detach().double()
        r_rejected = beta * rejected.detach().double()
        stats = torch.stack(
            [
                r_chosen.sum(),
                r_rejected.sum(),
                (r_chosen > r_rejected).double().sum(),
                (r_chosen - r_rejected).sum(),
                policy_logps[:, 0].detach().double().sum(),
                policy_logps[:, 1].detach().double().sum(),
            ]
        )
    return losses, stats


def row_logps(logits: Any, targets: Any, row_index: Any, num_rows: int) -> Any:
    """Summed log-probs of each row of a packed batch.

    Args:
        logits: ``(1, T, V)`` logits.
        targets: ``(1, T)`` next-token targets (-100: not trained).
        row_index: ``(1, T)`` row of each token (0 .. num_rows - 1).
        num_rows: Rows in the batch.

    Returns:
        ``(num_rows,)`` float32 tensor (with gradient through ``logits``).
    """
    import torch
    from torch.nn import functional as F  # noqa: N812

    flat = logits.float().view(-1, logits.size(-1))
    per_token = -F.cross_entropy(flat, targets.view(-1), ignore_index=-100, reduction="none")
    out = torch.zeros(num_rows, dtype=per_token.dtype, device=per_token.device)
    return out.index_add(0, row_index.view(-1), per_token)
