"""The training loss over a packed batch: summed token cross entropy, in fp32, chunked over tokens.

``F.cross_entropy(logits.float(), ...)`` over the whole batch holds an fp32 copy of the logits and the fp32
log-softmax it saves for backward (an 8192-token batch of a 128k vocabulary: 4 GiB each), then an fp32
gradient before the cast back to the logits' dtype. Here the loss and its gradient are computed together,
:data:`CHUNK_TOKENS` tokens at a time in fp32, and only the gradient is kept, in the logits' own dtype: one
chunk's fp32 values exist at a time (the fused-loss idea of Liger-Kernel's cross entropy, written here in
plain torch).
"""

from __future__ import annotations

from typing import Any

#: Tokens per chunk.
CHUNK_TOKENS = 1024
IGNORE_INDEX = -100


def _build_function() -> Any:
    import torch

    class ChunkedCrossEntropy(torch.autograd.Function):
        """Sum of token cross entropies; the gradient is formed in forward, chunk by chunk."""

        @staticmethod
        def forward(ctx: Any, logits: Any, targets: Any, chunk: int) -> Any:  # type: ignore[override]
            n = logits.size(0)
            grad = torch.empty_like(logits) if ctx.needs_input_grad[0] else None
            total = torch.zeros((), dtype=torch.float32, device=logits.device)
            for start in range(0, n, chunk):
                x = logits[start : start + chunk].float()
                t = targets[start : start + chunk]
                valid = t != IGNORE_INDEX
                safe = t.clamp(min=0)
                lse = torch.logsumexp(x, dim=-1)
                picked = x.gather(1, safe[:, None]).squeeze(1)
                total += ((lse - picked) * valid).sum()
                if grad is not None:
                    x.sub_(lse[:, None]).exp_()  # softmax, in place
                    x[torch.arange(x.size(0), device=x.device), safe] -= 1.0
                    x.mul_(valid[:, None])
                    grad[start : start + chunk] = x.to(grad.dtype)
                del x
            ctx.save_for_backward(grad)
            return total

        @staticmethod
        def backward(ctx: Any, grad_output: Any) -> Any:  # type: ignore[override]
            (grad,) = ctx.saved_tensors
            return grad.mul_(grad_output.to(grad.dtype)), None, None  # used once: scaled in place

    return ChunkedCrossEntropy


_FUNCTION: Any = None


def summed_token_loss(logits: Any, targets: Any, chunk_tokens: int = CHUNK_TOKENS) -> Any:
    """Sum of the token cross entropies (``-100`` targets ignored), in fp32.

    The graph may be backpropagated once (the stored gradient is scaled in place).

    Args:
        logits: ``(..., vocab)`` logits, any float dtype.
        targets: Target ids, shaped like ``logits`` without the last dimension.
        chunk_tokens: Tokens per chunk.

    Returns:
        A scalar fp32 tensor.
    """
    global _FUNCTION
    if _FUNCTION is None:
        _FUNCTION = _build_function()
    flat = logits.reshape(-1, logits.size(-1))
    return _FUNCTION.apply(flat, targets.reshape(-1), chunk_tokens)
