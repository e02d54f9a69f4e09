"""The training loss does not hold fp32 copies of the whole batch's logits (nor its log-softmax): the bytes
autograd saves for backward, counted by ``saved_tensors_hooks``, against the single
``F.cross_entropy(logits.float())`` call it replaced, with equal values and gradients. (A peak-RSS measure of
a fresh process was tried first: it read 1.1x instead of 3x the logits once on a loaded machine.)"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit


def _saved_for_backward_bytes(mode: str) -> tuple[int, float, float]:
    """Bytes autograd keeps for backward (each storage once), the loss and the gradient's sum, for bf16
    logits of 512 tokens x 4000 vocabulary (what the engine hands the loss under autocast)."""
    import torch
    import torch.nn.functional as F

    from training_hub.engine.token_loss import summed_token_loss

    torch.manual_seed(0)
    logits = torch.randn(512, 4000).to(torch.bfloat16).requires_grad_(True)
    targets = torch.randint(0, 4000, (512,))
    targets[::7] = -100
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if mode == "chunked":
            loss = summed_token_loss(logits, targets, chunk_tokens=64)
        else:
            loss = F.cross_entropy(logits.float(), targets, ignore_index=-100, reduction="sum")
    loss.backward()
    assert logits.grad is not None
    return sum(storages.values()), loss.item(), logits.grad.float().abs().sum().item()


def test_chunked_loss_equals_the_single_call_and_saves_no_fp32_log_softmax() -> None:
    whole_bytes, whole_loss, whole_grad = _saved_for_backward_bytes("whole")
    chunked_bytes, chunked_loss, chunked_grad = _saved_for_backward_bytes("chunked")
    assert chunked_loss == pytest.approx(whole_loss, rel=1e-5)
    assert chunked_grad == pytest.approx(whole_grad, rel=1e-3)
    logits_bytes = 512 * 4000 * 2  # the bf16 logits
    # the single call keeps the fp32 log-softmax of the whole batch (2x the bf16 logits) for backward;
    # the chunked loss keeps only the gradient, in the logits' dtype
    assert whole_bytes >= 2 * logits_bytes
    assert chunked_bytes <= logits_bytes + 4096


@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
def test_values_and_gradients_equal_autograd_of_the_single_call(dtype_name: str) -> None:
    import torch
    import torch.nn.functional as F

    from training_hub.engine.token_loss import summed_token_loss

    dtype = getattr(torch, dtype_name)
    torch.manual_seed(0)
    base = torch.randn(2, 37, 50).to(dtype)
    targets = torch.randint(0, 50, (2, 37))
    targets[0, :5] = -100
    ours_in = base.clone().requires_grad_(True)
    ref_in = base.clone().requires_grad_(True)
    ours = summed_token_loss(ours_in, targets, chunk_tokens=16)
    ref = F.cross_entropy(ref_in.float().view(-1, 50), targets.view(-1), ignore_index=-100, reduction="sum")
    (ours * 0.5).backward()
    (ref * 0.5).backward()
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-4)
    assert ours_in.grad is not None and ref_in.grad is not None and ours_in.grad.dtype == dtype
    torch.testing.assert_close(ours_in.grad.float(), ref_in.grad.float(), rtol=1e-2, atol=1e-3)


def test_without_grad_bf16_logits_give_the_fp32_cross_entropy_and_no_gradient_buffer() -> None:
    # The evaluator's use (engine/evaluation.py): logits from a no-grad forward, in the autocast dtype.
    import torch
    import torch.nn.functional as F

    from training_hub.engine.token_loss import summed_token_loss

    torch.manual_seed(0)
    logits = torch.randn(300, 97).to(torch.bfloat16)
    targets = torch.randint(0, 97, (300,))
    targets[::7] = -100
    with torch.no_grad():
        ours = summed_token_loss(logits, targets, chunk_tokens=64)
    reference = F.cross_entropy(logits.float(), targets, ignore_index=-100, reduction="sum")
    assert ours.dtype == torch.float32 and not ours.requires_grad
    assert ours.item() == pytest.approx(reference.item(), rel=1e-6)
