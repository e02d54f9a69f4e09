"""Padding-free attention for packed rows without a varlen kernel (CPU, or GPU without flash-attn).

A packed micro-batch is one row of concatenated samples. With plain SDPA, transformers builds a
block-diagonal causal mask over the whole row, so attention costs ``O(T^2)`` in the row length `T` even
though only ``sum(L_i^2)`` of it is unmasked: on a CPU that made packing slower than padding. This module
registers an attention function (:data:`PACKED_SDPA`) that, when the forward call carries the
sample boundaries (``cu_seq_lens_q``, the standard transformers keyword for packed sequences), runs causal
SDPA on each sample separately: the same mathematics as the block-diagonal mask, at the padded cost
minus the padding. Every other call (no boundaries, a batch of several rows, a KV cache) is plain
``sdpa_attention_forward`` with the mask transformers built, so generation or evaluation on the
in-memory model behaves exactly as with ``attn_implementation="sdpa"``.

The name is set only on the in-memory model (``config._attn_implementation``); checkpoints are saved
with ``sdpa`` so they load with plain transformers.
"""

from __future__ import annotations

from typing import Any

PACKED_SDPA = "training_hub_packed_sdpa"
_registered = False


def packed_sdpa_attention_forward(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """Attention with per-sample causal SDPA on packed rows; plain SDPA otherwise.

    Args:
        module: The attention module (for `num_key_value_groups`, `is_causal`).
        query: `(batch, heads, q_len, head_dim)`.
        key: `(batch, kv_heads, kv_len, head_dim)`.
        value: `(batch, kv_heads, kv_len, head_dim)`.
        attention_mask: The mask transformers built (ignored on the packed path: the per-sample causal
            attention is exactly what the block-diagonal mask allows).
        dropout: Attention dropout probability.
        scaling: Softmax scale.
        **kwargs: `cu_seq_lens_q` (cumulative sample boundaries, int tensor starting at 0) marks a packed row.

    Returns:
        `(attn_output of shape (batch, q_len, heads, head_dim), None)`.
    """
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    cu = kwargs.get("cu_seq_lens_q")
    packed = (
        cu is not None
        and query.shape[0] == 1
        and query.shape[2] == key.shape[2]
        and getattr(module, "is_causal", True)
        and int(cu[-1]) == query.shape[2]
    )
    if cu is None or not packed:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key = repeat_kv(key, groups)
        value = repeat_kv(value, groups)
    bounds = [int(x) for x in cu.tolist()]
    lengths = [b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    # `split` (not slicing): its backward is one concatenation of the per-sample gradients, where
    # slices would each zero-fill and add into a full-size gradient (O(samples x row) extra work).
    outs = []
    for q, k, v, n in zip(
        query.split(lengths, dim=2),
        key.split(lengths, dim=2),
        value.split(lengths, dim=2),
        lengths,
        strict=True,
    ):
        if n <= 0:
            continue
        outs.append(
            torch.nn.functional.scaled_dot_product_attention(
                q, k, v, dropout_p=dropout, scale=scaling, is_causal=n > 1
            )
        )
    out = torch.cat(outs, dim=2) if len(outs) > 1 else outs[0]
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Register :data:`PACKED_SDPA` with transformers (attention and mask interfaces); returns the name."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(PACKED_SDPA, packed_sdpa_attention_forward)
        AttentionMaskInterface.register(PACKED_SDPA, sdpa_mask)
        _registered = True
    return PACKED_SDPA


def cu_seq_lens(position_ids: Any) -> Any:
    """Cumulative sample boundaries of a packed `(1, T)` position_ids tensor (positions restart at 0)."""
    import torch

    pos = position_ids[0]
    starts = torch.nonzero(pos == 0, as_tuple=False).flatten()
    end = torch.tensor([pos.numel()], dtype=starts.dtype, device=pos.device)
    return torch.cat([starts, end]).to(torch.int32)


def packed_kwargs(position_ids: Any) -> dict[str, Any]:
    """The keyword arguments that mark a packed row for the attention (transformers' varlen names).

    Understood by :func:`packed_sdpa_attention_forward` and by flash-attention 2; ignored by plain SDPA
    and eager attention.
    """
    cu = cu_seq_lens(position_ids)
    longest = int((cu[1:] - cu[:-1]).max()) if cu.numel() > 1 else 0
    return {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": longest, "max_length_k": longest}
