"""The engine's packed-row attention equals per-sample attention (forward and gradients)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_packed_attention_equals_separate_samples(tmp_path: Path, kv_heads: int) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from training_hub import tiny
    from training_hub.engine.packed_attention import packed_kwargs, register

    model_dir = tiny.build_tiny_model(tmp_path / "m", num_key_value_heads=kv_heads)
    ref = AutoModelForCausalLM.from_pretrained(str(model_dir), attn_implementation="sdpa")
    packed = AutoModelForCausalLM.from_pretrained(str(model_dir), attn_implementation="sdpa")
    packed.set_attn_implementation(register())
    lengths = [7, 1, 13, 5]
    torch.manual_seed(0)
    ids = torch.randint(0, 500, (1, sum(lengths)))
    pos = torch.cat([torch.arange(n) for n in lengths])[None]

    out = packed(input_ids=ids, position_ids=pos, use_cache=False, **packed_kwargs(pos)).logits
    # Reference 1: transformers' own block-diagonal mask for packed position_ids.
    masked = ref(input_ids=ids, position_ids=pos, use_cache=False).logits
    torch.testing.assert_close(out, masked, atol=1e-5, rtol=1e-5)
    # Reference 2: each sample alone.
    start = 0
    for n in lengths:
        alone = ref(input_ids=ids[:, start : start + n], use_cache=False).logits
        torch.testing.assert_close(out[:, start : start + n], alone, atol=1e-5, rtol=1e-5)
        start += n
    # Without the packing keywords it is plain SDPA (here: attention over the whole row).
    whole = packed(input_ids=ids, use_cache=False).logits
    torch.testing.assert_close(whole, ref(input_ids=ids, use_cache=False).logits)
    assert not torch.allclose(whole[:, lengths[0] :], out[:, lengths[0] :], atol=1e-3)

    # Gradients agree with the masked reference.
    out.float().square().mean().backward()
    masked.float().square().mean().backward()
    for (name, p), (_, q) in zip(packed.named_parameters(), ref.named_parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_saved_checkpoint_keeps_plain_sdpa(tmp_path: Path) -> None:
    import json

    from transformers import AutoModelForCausalLM

    from training_hub import tiny
    from training_hub.engine.packed_attention import PACKED_SDPA, register

    model_dir = tiny.build_tiny_model(tmp_path / "m")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), attn_implementation="sdpa")
    model.set_attn_implementation(register())
    assert model.config._attn_implementation == PACKED_SDPA
    model.save_pretrained(str(tmp_path / "out"))
    assert PACKED_SDPA not in (tmp_path / "out" / "config.json").read_text()
    assert "_attn_implementation" not in json.loads((tmp_path / "out" / "config.json").read_text())
    reloaded = AutoModelForCausalLM.from_pretrained(str(tmp_path / "out"))
    assert reloaded.config._attn_implementation != PACKED_SDPA
