"""A packed padding-free micro-batch gives the same per-sample loss as each sample alone (tiny Llama)."""

from __future__ import annotations

from pathlib import Path

import pytest

from training_hub.data import collate_packed, prepare_dataset

pytestmark = pytest.mark.unit


def test_packed_batch_equals_unpacked_per_sample(tiny_model_dir: Path, messages_data: Path) -> None:
    import torch
    from torch.nn import functional as F  # noqa: N812
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), attn_implementation="sdpa").eval()
    ds, _ = prepare_dataset(messages_data, tok, max_seq_len=128)
    indices = [0, 7, 3, 11]

    def per_token_loss(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        t = {k: torch.from_numpy(v) for k, v in batch.items()}
        with torch.no_grad():
            logits = model(input_ids=t["input_ids"], position_ids=t["position_ids"], use_cache=False).logits
        loss = F.cross_entropy(logits[0], t["targets"][0], ignore_index=-100, reduction="none")
        return loss, logits[0]

    packed_loss, packed_logits = per_token_loss(collate_packed(ds, indices))
    start = 0
    for i in indices:
        alone_loss, alone_logits = per_token_loss(collate_packed(ds, [i]))
        n = alone_loss.numel()
        torch.testing.assert_close(packed_logits[start : start + n], alone_logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(packed_loss[start : start + n], alone_loss, atol=1e-5, rtol=1e-5)
        start += n
    # Sanity: without restarting positions (plain causal attention over the row) the result differs.
    batch = collate_packed(ds, indices)
    with torch.no_grad():
        causal = model(input_ids=torch.from_numpy(batch["input_ids"]), use_cache=False).logits[0]
    n0 = int(ds.lengths[0])
    assert not torch.allclose(causal[n0:], packed_logits[n0:], atol=1e-3)
