"""Orthogonal Subspace Fine-Tuning (OSFT): train only the low singular subspace of targeted weights.

Each targeted `nn.Linear` weight ``W = U S V^T`` is split at the frozen rank
``k = floor(r * (1 - unfreeze_rank_ratio))``: ``U_high, S_high, V_high`` (the top-``k`` singular triplets)
become frozen buffers, ``U_low, S_low, V_low`` trainable parameters, and the layer computes with
``W = U_high S_high V_high^T + U_low S_low V_low^T``. After the backward pass the gradients of ``U_low``
and ``V_low`` are projected onto the orthogonal complement of ``U_high`` / ``V_high``, and after each
optimizer step the parameters are projected again (AdamW's element-wise scaling and weight decay would
otherwise leak into the frozen directions). Hence ``U_high^T W = S_high V_high^T`` and
``W V_high = U_high S_high`` hold throughout training: the frozen subspace is unchanged.

Checkpoints hold plain weights: :func:`osft_hf_state_dict` reconstructs ``W`` under the original names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from training_hub.defaults import OSFT_TARGETS
from training_hub.errors import InvalidInputError

#: The default targets (one definition, in the defaults table).
DEFAULT_TARGET_PATTERNS = OSFT_TARGETS.patterns


def frozen_rank(rank: int, unfreeze_rank_ratio: float) -> int:
    """Number of top singular directions kept frozen for a matrix of rank `rank`."""
    return int(math.floor(rank * (1.0 - unfreeze_rank_ratio) + 1e-9))


class OSFTLinear(nn.Module):
    """A linear layer whose weight is kept as a frozen high and a trainable low singular subspace."""

    U_high: torch.Tensor
    S_high: torch.Tensor
    V_high: torch.Tensor
    bias: nn.Parameter | None

    def __init__(self, linear: nn.Linear, unfreeze_rank_ratio: float) -> None:
        super().__init__()
        weight = linear.weight.detach()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.weight_dtype = weight.dtype
        u, s, vh = torch.linalg.svd(weight.to(torch.float64), full_matrices=False)
        k = frozen_rank(s.numel(), unfreeze_rank_ratio)
        dtype = torch.float32 if weight.dtype in (torch.float16, torch.bfloat16) else weight.dtype
        self.register_buffer("U_high", u[:, :k].to(dtype).contiguous())
        self.register_buffer("S_high", s[:k].to(dtype).contiguous())
        self.register_buffer("V_high", vh[:k, :].T.to(dtype).contiguous())
        self.U_low = nn.Parameter(u[:, k:].to(dtype).contiguous())
        self.S_low = nn.Parameter(s[k:].to(dtype).contiguous())
        self.V_low = nn.Parameter(vh[k:, :].T.to(dtype).contiguous())
        self.bias = linear.bias

    def reconstruct(self) -> torch.Tensor:
        """The full weight ``U_high S_high V_high^T + U_low S_low V_low^T`` (differentiable)."""
        high = (self.U_high * self.S_high) @ self.V_high.T
        return high + (self.U_low * self.S_low) @ self.V_low.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the reconstructed weight."""
        weight = self.reconstruct()
        return F.linear(x, weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))

    def _pairs(self) -> tuple[tuple[nn.Parameter, torch.Tensor], ...]:
        """Each trainable factor with the frozen subspace it must stay orthogonal to."""
        return ((self.U_low, self.U_high), (self.V_low, self.V_high))

    @torch.no_grad()
    def project_gradients(self) -> None:
        """Remove the components of the `U_low`/`V_low` gradients that lie in the frozen subspace."""
        for low, high in self._pairs():
            if low.grad is not None and high.numel():
                low.grad.sub_(high @ (high.T @ low.grad))

    @torch.no_grad()
    def project_parameters(self) -> None:
        """Keep `U_low`/`V_low` orthogonal to the frozen subspace after an optimizer step."""
        for low, high in self._pairs():
            if high.numel():
                low.sub_(high @ (high.T @ low))


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(p in name for p in patterns)


def apply_osft(
    model: nn.Module, unfreeze_rank_ratio: float, target_patterns: Sequence[str] | None = None
) -> dict[str, OSFTLinear]:
    """Replace targeted linear layers by :class:`OSFTLinear` in place.

    Args:
        model: The causal LM.
        unfreeze_rank_ratio: Fraction of each matrix's singular subspace that trains.
        target_patterns: Substrings of module names to decompose (default :data:`DEFAULT_TARGET_PATTERNS`).
            The output head (`lm_head`) and embeddings are never decomposed.

    Returns:
        The replaced modules by qualified name.

    Raises:
        InvalidInputError: If no linear layer matches.
    """
    patterns = list(target_patterns) if target_patterns else list(DEFAULT_TARGET_PATTERNS)
    targets = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and _matches(name, patterns) and not name.endswith("lm_head")
    ]
    if not targets:
        raise InvalidInputError(
            f"OSFT target_patterns {patterns} match no linear layer of the model; "
            "use substrings of its module names (for example `q_proj`, `mlp`)"
        )
    replaced: dict[str, OSFTLinear] = {}
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        osft = OSFTLinear(getattr(parent, child), unfreeze_rank_ratio)
        setattr(parent, child, osft)
        replaced[name] = osft
    return replaced


def osft_hf_state_dict(state_dict: dict[str, Any], modules: dict[str, OSFTLinear]) -> dict[str, Any]:
    """Turn a state dict of an OSFT model into plain weights under the original parameter names.

    Args:
        state_dict: Full (CPU) state dict of the OSFT model.
        modules: The OSFT modules by name (from :func:`apply_osft`; only their names and dtypes are used).

    Returns:
        A state dict that `save_pretrained` writes as an ordinary checkpoint.
    """
    out = dict(state_dict)
    for name, mod in modules.items():
        parts = {
            key: out.pop(f"{name}.{key}") for key in ("U_high", "S_high", "V_high", "U_low", "S_low", "V_low")
        }
        high = (parts["U_high"] * parts["S_high"]) @ parts["V_high"].T
        low = (parts["U_low"] * parts["S_low"]) @ parts["V_low"].T
        out[f"{name}.weight"] = (high + low).to(mod.weight_dtype).contiguous()
    return out
