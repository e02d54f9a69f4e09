"""The per-algorithm defaults table: the engine trains it, the estimator sizes it, the docs show it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training_hub.defaults import ALGORITHM_DEFAULTS, LORA_TARGETS, main
from training_hub.params import param_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.unit
def test_the_docs_table_is_current() -> None:
    assert main(["--check", "--root", str(ROOT)]) == 0, "run `make crds`"


@pytest.mark.unit
def test_lengths_come_from_the_parameter_models() -> None:
    for algorithm, row in ALGORITHM_DEFAULTS.items():
        assert row.max_seq_len == param_model(algorithm).model_fields["max_seq_len"].default


@pytest.mark.unit
@pytest.mark.parametrize("method", ["lora", "osft"])
def test_the_estimator_counts_the_parameters_the_engine_trains(tiny_model_dir: Path, method: str) -> None:
    """Default targets: the estimate's trainable count is what the engine's own setup leaves trainable on
    a real model (ratio 0.3 on rank-64 matrices: 20 trainable directions, not floor(19.2))."""
    from transformers import AutoModelForCausalLM

    from training_hub.engine.model_setup import _apply_lora
    from training_hub.engine.osft import apply_osft
    from training_hub.estimator import estimate
    from training_hub.params import LoRAParams

    config = json.loads((tiny_model_dir / "config.json").read_text())
    estimated = estimate(
        method, model_config=config, max_seq_len=64, lora_r=8, unfreeze_rank_ratio=0.3, device="cpu"
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    if method == "lora":
        params = LoRAParams(model_path="m", data_path="d", ckpt_output_dir="o", lora_r=8)
        assert params.target_modules is None and LORA_TARGETS.engine_value() == "all-linear"
        model = _apply_lora(model, params)
    else:
        apply_osft(model, 0.3)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert estimated.assumptions.trainable_parameters == trained
