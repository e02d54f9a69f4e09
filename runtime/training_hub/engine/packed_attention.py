"""Padding-free attention for packed rows without a varlen kernel (CPU, or GPU without flash-attn).

A packed micro-batch is one row of concatenated samples. With plain SDPA, transformers builds a
block-diagonal causal mask over the whole row, so attention costs ``O(T^2)`` in the row length `T` even
though only ``sum(L_i^2)`` of it is unmasked: on a CPU that made packing slower than padding. This module
registers an attention function (:data:`PACKED_SDPA`) that, when the forward call carries the sample
boundaries (``cu_seq_lens_q``, the standard transformers keyword for packed sequences, which flash-attn 2's
varlen kernel reads on GPU), computes exactly the block-diagonal causal attention without the mask:

* the samples are grouped into a few **length buckets** (:func:`bucket_plan`: sorted by length, a bucket
  grows while its padded attention area stays within :data:`BUCKET_SLACK` of its samples' own areas);
* each bucket is gathered into a right-padded ``(samples, heads, longest, head_dim)`` batch and runs
  **one** causal SDPA call. Right padding needs no mask under a causal one: a real query at position `i`
  attends keys ``0..i``, all real; padded queries are computed and dropped;
* the outputs are gathered back into row order.

torch 2.13 has no varlen attention on CPU (``torch.nn.attention.varlen`` is flash/cuDNN only, nested
tensors fall back to per-sample math, flex attention needs ``torch.compile``), and one SDPA call per
sample costs a parallel region per sample and layer: with 2 OpenMP threads on a loaded machine each
region waits for a descheduled thread, which made the per-sample loop the slowest part of the step (see
docs/benchmarks.md, profile). A few bucketed calls keep the padding-free saving of the rest of the model
(projections, MLP, norms, loss) and pay at most :data:`BUCKET_SLACK` extra attention area.

Every other call (no boundaries, a batch of several rows, a KV cache) is plain ``sdpa_attention_forward``
with the mask transformers built, so generation or evaluation on the in-memory model behaves exactly as
with ``attn_implementation="sdpa"``. The name is set only on the in-memory model
(``config._attn_implementation``); checkpoints are saved with ``sdpa`` so they load with plain
transformers.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

PACKED_SDPA = "training_hub_packed_sdpa"
_registered = False
#: True inside :func:`packed_rows`: the forward is over packed rows, so no mask is built for it.
_PACKED_ROWS: contextvars.ContextVar[bool] = contextvars.ContextVar("training_hub_packed_rows", default=False)


@contextlib.contextmanager
def packed_rows() -> Iterator[None]:
    """Mark the model calls inside as forwards over packed rows that carry :func:`packed_kwargs`.

    transformers builds a ``(T, T)`` block-diagonal mask for every forward with packed ``position_ids``
    (several full-size comparisons per step on a CPU); the packed attention never reads it. Inside this
    context the mask function of :data:`PACKED_SDPA` returns no mask, and the attention refuses a call
    that is not a packed row (it would need the mask). A backward recompute (activation checkpointing)
    runs outside the context and gets the mask, which the packed attention ignores.
    """
    token = _PACKED_ROWS.set(True)
    try:
        yield
    finally:
        _PACKED_ROWS.reset(token)


def _packed_mask(*args: Any, **kwargs: Any) -> Any:
    """The mask of :data:`PACKED_SDPA`: none inside :func:`packed_rows` (unpadded), else ``sdpa_mask``."""
    from transformers.masking_utils import sdpa_mask

    if _PACKED_ROWS.get() and kwargs.get("attention_mask") is None:
        return None
    return sdpa_mask(*args, **kwargs)


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
        if attention_mask is None and _PACKED_ROWS.get():
            raise RuntimeError(
                "packed_rows(): a forward without sample boundaries (cu_seq_lens_q) has no mask to use"
            )
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key = repeat_kv(key, groups)
        value = repeat_kv(value, groups)
    plan = _plan_for(cu)
    # One gather of every bucket's slots (its backward is one index_add into one zeroed buffer), then a
    # split into the buckets (backward: one concatenation).
    _, heads, _, dim = query.shape
    outs = []
    parts = [x[0].index_select(1, plan.gather).split(plan.sizes, dim=1) for x in (query, key, value)]
    for (n, longest), q, k, v in zip(plan.shapes, *parts, strict=True):
        q, k, v = (x.view(heads, n, longest, dim).transpose(0, 1) for x in (q, k, v))
        o = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=dropout, scale=scaling, is_causal=longest > 1
        )
        outs.append(o.transpose(1, 2).reshape(n * longest, heads, dim))  # (slots, H, D)
    flat = torch.cat(outs, dim=0) if len(outs) > 1 else outs[0]
    # Real tokens back in row order: (T, H, D) -> (1, T, H, D).
    return flat.index_select(0, plan.scatter)[None], None


#: A bucket may hold this much more attention area (padded ``n * longest^2``) than its samples need
#: (``sum(L_i^2)``). 1.0 gives one bucket per distinct length (the per-sample cost, fewest FLOPs); larger
#: values give fewer, larger SDPA calls.
BUCKET_SLACK = 1.5


class BucketPlan:
    """Index plan of one packed row.

    Padded slots gather their sample's first token: under the causal mask no real query attends a slot
    after its sample's last token, and padded queries' outputs are dropped, so their contents never reach
    a real output and their gradients are exactly zero (no zero row, no extra copy of the row).

    Attributes:
        gather: ``(S,)`` row positions of every bucket's slots, bucket after bucket (``samples * longest``
            slots each, sample after sample).
        sizes: Slots per bucket (``samples * longest``), to split ``gather``'s result.
        shapes: ``(samples, longest)`` per bucket.
        scatter: ``(T,)`` position of each real token's slot in the concatenated slots, in row order.
    """

    __slots__ = ("gather", "scatter", "shapes", "sizes")

    def __init__(self, gather: Any, shapes: list[tuple[int, int]], scatter: Any) -> None:
        self.gather = gather
        self.shapes = shapes
        self.sizes = [n * longest for n, longest in shapes]
        self.scatter = scatter

    def to(self, device: Any) -> BucketPlan:
        """The same plan with its index tensors on ``device``."""
        return BucketPlan(self.gather.to(device), self.shapes, self.scatter.to(device))


def bucket_plan(lengths: list[int], slack: float | None = None) -> list[list[int]]:
    """Group sample indices into length buckets (longest first).

    Samples are taken in decreasing length; a bucket is closed when adding the next sample would make its
    padded area ``count * longest^2`` exceed ``slack`` times the sum of its samples' ``L_i^2``.

    Args:
        lengths: Sample lengths in row order (zero-length samples are skipped).
        slack: See :data:`BUCKET_SLACK` (>= 1; None: the module's current value).

    Returns:
        Lists of sample indices; each list is ordered by decreasing length.
    """
    slack = BUCKET_SLACK if slack is None else slack
    order = sorted((i for i, n in enumerate(lengths) if n > 0), key=lambda i: -lengths[i])
    buckets: list[list[int]] = []
    area = 0
    for i in order:
        n = lengths[i]
        if buckets:
            cur = buckets[-1]
            longest = lengths[cur[0]]
            if (len(cur) + 1) * longest * longest <= slack * (area + n * n):
                cur.append(i)
                area += n * n
                continue
        buckets.append([i])
        area = n * n
    return buckets


def build_plan(bounds: list[int], slack: float | None = None) -> BucketPlan:
    """The :class:`BucketPlan` of a row with sample boundaries ``bounds`` (``[0, ..., T]``)."""
    import torch

    total = bounds[-1]
    starts = bounds[:-1]
    lengths = [b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    scatter = torch.empty(total, dtype=torch.long)
    gathers = []
    shapes = []
    offset = 0
    for members in bucket_plan(lengths, slack):
        longest = lengths[members[0]]
        j = torch.arange(longest)
        for r, i in enumerate(members):
            gathers.append(torch.where(j < lengths[i], starts[i] + j, starts[i]))
            slot = offset + r * longest
            scatter[starts[i] : starts[i] + lengths[i]] = torch.arange(slot, slot + lengths[i])
        shapes.append((len(members), longest))
        offset += len(members) * longest
    gather = torch.cat(gathers) if gathers else torch.empty(0, dtype=torch.long)
    return BucketPlan(gather, shapes, scatter)


_last_plan: tuple[Any, float, BucketPlan] | None = None


def _plan_for(cu: Any) -> BucketPlan:
    """The plan of ``cu`` (the same tensor object reaches every layer of one forward: built once)."""
    global _last_plan
    if _last_plan is not None and _last_plan[0] is cu and _last_plan[1] == BUCKET_SLACK:
        return _last_plan[2]
    plan = build_plan([int(x) for x in cu.tolist()])
    if cu.device.type != "cpu":
        plan = plan.to(cu.device)
    _last_plan = (cu, BUCKET_SLACK, plan)
    return plan


def register() -> str:
    """Register :data:`PACKED_SDPA` with transformers (attention and mask interfaces); returns the name."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface

        AttentionInterface.register(PACKED_SDPA, packed_sdpa_attention_forward)
        AttentionMaskInterface.register(PACKED_SDPA, _packed_mask)
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
