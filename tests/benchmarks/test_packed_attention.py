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


def test_length_buckets_bound_the_padded_area() -> None:
    from training_hub.engine.packed_attention import bucket_plan, build_plan

    lengths = [30, 200, 0, 190, 35, 1, 100, 28]
    for slack in (1.0, 1.25, 1.5, 3.0):
        buckets = bucket_plan(lengths, slack)
        assert sorted(i for b in buckets for i in b) == [0, 1, 3, 4, 5, 6, 7]  # every non-empty sample once
        for b in buckets:
            longest = lengths[b[0]]
            assert all(lengths[i] <= longest for i in b)
            assert len(b) * longest**2 <= slack * sum(lengths[i] ** 2 for i in b)
    assert len(bucket_plan(lengths, 1.0)) == 7 and len(bucket_plan(lengths, 1e9)) == 1
    assert bucket_plan(lengths, 1.5) == [
        [1, 3, 6],
        [4, 0, 7],
        [5],
    ]  # 3 * 200^2 <= 1.5 * (200^2 + 190^2 + 100^2)

    import itertools

    import torch

    bounds = [0, *itertools.accumulate(lengths)]
    plan = build_plan(bounds, 1.5)
    total = bounds[-1]
    assert plan.gather.numel() == sum(plan.sizes) == sum(n * m for n, m in plan.shapes)
    # Every real token's output is taken from a slot that gathered that very token, each slot once.
    assert torch.equal(plan.gather[plan.scatter], torch.arange(total))
    assert len(set(plan.scatter.tolist())) == total
    # Padded slots repeat a token of their own sample (any real value: causally never seen).
    assert all(0 <= int(g) < total for g in plan.gather)


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_loss_curve_is_the_same_for_every_bucketing(tmp_path: Path, kv_heads: int) -> None:
    """Training steps on packed rows: the bucketed attention (default), one bucket per length (the per-sample
    path it replaced) and transformers' block-diagonal mask give the same loss curve."""
    import contextlib

    import torch
    from torch.nn import functional as F  # noqa: N812
    from transformers import AutoModelForCausalLM

    from training_hub import tiny
    from training_hub.engine import packed_attention as pa

    model_dir = tiny.build_tiny_model(tmp_path / "m", num_key_value_heads=kv_heads)
    gen = torch.Generator().manual_seed(1)
    rows = []
    for _ in range(4):
        lengths = torch.randint(1, 40, (6,), generator=gen).tolist()
        ids = torch.randint(0, 500, (1, sum(lengths)), generator=gen)
        pos = torch.cat([torch.arange(n) for n in lengths])[None]
        rows.append((ids, pos))

    def curve(impl: str | None, slack: float) -> list[float]:
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), attn_implementation="sdpa")
        if impl:
            model.set_attn_implementation(impl)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        losses = []
        old = pa.BUCKET_SLACK
        pa.BUCKET_SLACK = slack
        try:
            for ids, pos in rows:
                extra = pa.packed_kwargs(pos) if impl else {}
                with pa.packed_rows() if impl else contextlib.nullcontext():
                    logits = model(input_ids=ids, position_ids=pos, use_cache=False, **extra).logits
                targets = torch.cat([ids[:, 1:], torch.full((1, 1), -100)], dim=1)
                loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-100)
                loss.backward()
                opt.step()
                opt.zero_grad()
                losses.append(loss.item())
        finally:
            pa.BUCKET_SLACK = old
        return losses

    name = pa.register()
    masked = curve(None, 1.0)  # transformers' own block-diagonal mask over the packed row
    for slack in (pa.BUCKET_SLACK, 1.0, 1e9):
        torch.testing.assert_close(curve(name, slack), masked, rtol=1e-5, atol=1e-5)
    assert masked[-1] < masked[0]


def test_packed_rows_builds_no_mask_and_refuses_an_unpacked_call(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.masking_utils import AttentionMaskInterface

    from training_hub import tiny
    from training_hub.engine.packed_attention import PACKED_SDPA, packed_kwargs, packed_rows, register

    model_dir = tiny.build_tiny_model(tmp_path / "m")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), attn_implementation="sdpa")
    model.set_attn_implementation(register())
    mask_fn = AttentionMaskInterface._global_mapping[PACKED_SDPA]
    seen: list[object] = []

    def spy(*args: object, **kwargs: object) -> object:
        out = mask_fn(*args, **kwargs)
        seen.append(out)
        return out

    AttentionMaskInterface._global_mapping[PACKED_SDPA] = spy
    try:
        lengths = [5, 9, 3]
        ids = torch.randint(0, 500, (1, sum(lengths)))
        pos = torch.cat([torch.arange(n) for n in lengths])[None]
        plain = model(input_ids=ids, position_ids=pos, use_cache=False, **packed_kwargs(pos)).logits
        assert seen[-1] is not None  # outside packed_rows() transformers' mask is built (and ignored)
        with packed_rows():
            fast = model(input_ids=ids, position_ids=pos, use_cache=False, **packed_kwargs(pos)).logits
            assert seen[-1] is None  # no (T, T) mask
            with pytest.raises(RuntimeError, match="no mask"):
                model(input_ids=ids, position_ids=pos, use_cache=False)
        torch.testing.assert_close(fast, plain)
    finally:
        AttentionMaskInterface._global_mapping[PACKED_SDPA] = mask_fn
