"""The training loss does not hold fp32 copies of the whole batch's logits (nor its log-softmax): measured on
the CPU (peak RSS of a fresh process) against the single ``F.cross_entropy(logits.float())`` call it
replaced, with equal values and gradients."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.unit

MEASURE = textwrap.dedent(
    """
    import json, resource, sys, torch
    import torch.nn.functional as F
    from training_hub.engine.token_loss import summed_token_loss
    torch.manual_seed(0)
    tokens, vocab = 2048, 32000  # one fp32 tensor of this shape: 250 MiB
    logits = torch.randn(tokens, vocab, requires_grad=True)
    targets = torch.randint(0, vocab, (tokens,))
    targets[::7] = -100
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.argv[1] == "chunked":
        loss = summed_token_loss(logits, targets)
    else:
        loss = F.cross_entropy(logits.float(), targets, ignore_index=-100, reduction="sum")
    loss.backward()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_kib": after - before, "loss": loss.item(), "grad": logits.grad.abs().sum().item()}))
    """
)


def _measure(mode: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, mode],
        capture_output=True,
        text=True,
        timeout=300,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_chunked_loss_equals_the_single_call_and_saves_the_fp32_log_softmax() -> None:
    whole = _measure("whole")
    chunked = _measure("chunked")
    assert chunked["loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert chunked["grad"] == pytest.approx(whole["grad"], rel=1e-5)
    full_tensor_kib = 2048 * 32000 * 4 / 1024
    # the single call keeps a full fp32 log-softmax for backward (plus the gradient); chunks keep one chunk
    assert whole["growth_kib"] > 1.7 * full_tensor_kib
    assert chunked["growth_kib"] < 1.4 * full_tensor_kib
    assert whole["growth_kib"] - chunked["growth_kib"] > 0.6 * full_tensor_kib


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
