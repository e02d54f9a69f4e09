"""Upstream's estimator classes (``training_hub.estimator.upstream``): each passes its arguments on to
``estimate()``, positional and keyword alike."""

from __future__ import annotations

from typing import Any

import pytest

from training_hub.estimator import upstream

pytestmark = pytest.mark.unit

#: A tiny model's config.json (nothing is downloaded).
CONFIG = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "vocab_size": 256,
    "max_position_embeddings": 128,
}


def _estimate(method: str, **kwargs: Any) -> tuple[int, ...]:
    return tuple(upstream.estimate(method, model_config=CONFIG, verbose=0, **kwargs))


def test_osft_estimator_passes_its_own_keyword_and_liger_default_on() -> None:
    ours = upstream.OSFTEstimator(
        2, model_config=CONFIG, verbose=0, unfreeze_rank_ratio=0.5, max_tokens_per_gpu=64
    )
    assert tuple(ours.estimate()) == _estimate(
        "osft", num_gpus=2, unfreeze_rank_ratio=0.5, max_tokens_per_gpu=64, use_liger=True
    )
    assert tuple(ours.estimate()) != _estimate("osft", num_gpus=2, max_tokens_per_gpu=64, use_liger=True)
    with pytest.raises(ValueError, match="Ratio"):
        upstream.OSFTEstimator(unfreeze_rank_ratio=1.5)


def test_lora_estimators_pass_positional_arguments_in_upstreams_order() -> None:
    for cls, method in ((upstream.LoRAEstimator, "lora"), (upstream.QLoRAEstimator, "qlora")):
        ours = cls(4, upstream.DEFAULT_GPU_MEMORY, "unused", 8, 64, False, 0, False, 8, model_config=CONFIG)
        assert ours.num_gpus == 4 and ours.verbose == 0
        expected = _estimate(method, num_gpus=4, batch_size=8, max_seq_len=64, lora_r=8, use_liger=False)
        assert tuple(ours.estimate()) == expected, cls.__name__


def test_the_deprecated_osft_alias_warns_and_estimates_as_osft() -> None:
    with pytest.warns(DeprecationWarning, match="OSFTEstimator"):
        alias = upstream.OSFTEstimatorExperimental(2, model_config=CONFIG, verbose=0, max_tokens_per_gpu=64)
    expected = upstream.OSFTEstimator(2, model_config=CONFIG, verbose=0, max_tokens_per_gpu=64).estimate()
    assert tuple(alias.estimate()) == tuple(expected)


def test_the_public_attributes_are_upstreams_and_estimate_reads_them_when_it_runs() -> None:
    ours = upstream.BasicEstimator(2, model_config=CONFIG, verbose=0, max_tokens_per_gpu=64)
    public = {name for name in vars(ours) if not name.startswith("_")}
    assert public == {"num_gpus", "gpu_memory", "model_path", "use_liger", "verbose"}  # upstream's __init__
    ours.num_gpus = 4
    assert tuple(ours.estimate()) == _estimate("sft", num_gpus=4, max_tokens_per_gpu=64, use_liger=False)
    assert tuple(ours.estimate()) != _estimate("sft", num_gpus=2, max_tokens_per_gpu=64, use_liger=False)
