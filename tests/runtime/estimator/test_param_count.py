"""The analytic parameter count equals transformers' ``num_parameters()`` for every supported family."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.model_configs import FAMILY_TYPES, tiny_config
from training_hub.errors import InvalidInputError
from training_hub.estimator import UnsupportedArchitectureError, count_parameters, model_shape
from training_hub.estimator.families import FAMILIES
from training_hub.estimator.param_count import count_parameters_meta

pytestmark = pytest.mark.unit

VARIANTS: list[dict[str, Any]] = [
    {},
    {"attention_bias": True, "mlp_bias": True, "tie_word_embeddings": True},
    {"tie_word_embeddings": False, "qkv_bias": False, "use_bias": False, "mlp_only_layers": [1]},
    {"num_key_value_heads": 4, "num_hidden_layers": 3, "decoder_sparse_step": 2},
]


def _transformers_config(config: dict[str, Any]) -> Any:
    from transformers import AutoConfig

    values = {k: v for k, v in config.items() if k != "model_type"}
    return AutoConfig.for_model(config["model_type"], **values)


def _instantiated_count(config: dict[str, Any]) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(_transformers_config(config))
    return int(model.num_parameters())


def test_every_family_is_tested() -> None:
    assert sorted(FAMILY_TYPES) == sorted(FAMILIES)


@pytest.mark.parametrize("variant", VARIANTS, ids=["default", "biases-tied", "nobias-dense1", "mha-3layers"])
@pytest.mark.parametrize("model_type", FAMILY_TYPES)
def test_analytic_count_equals_instantiated(model_type: str, variant: dict[str, Any]) -> None:
    config = tiny_config(model_type, **variant)
    assert model_shape(config).total_params == _instantiated_count(config)


@pytest.mark.parametrize("model_type", FAMILY_TYPES)
def test_saved_config_json_counts_the_same(model_type: str, tmp_path: Path) -> None:
    config = tiny_config(model_type)
    _transformers_config(config).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert count_parameters(tmp_path) == count_parameters(saved) == _instantiated_count(config)


def test_count_parameters_of_a_real_size_config(qwen7b_dir: Path) -> None:
    # Qwen2-7B: 7,615,616,512 parameters (the published model card's count).
    assert count_parameters(qwen7b_dir) == 7_615_616_512


def test_unknown_architecture_falls_back_to_meta_device() -> None:
    config = {"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 2, "vocab_size": 100}
    assert count_parameters(config) == count_parameters_meta(config) > 0
    with pytest.raises(UnsupportedArchitectureError, match="no analytic parameter count"):
        model_shape(config)


def test_unbuildable_architecture_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedArchitectureError, match="cannot build model_type 'not-a-model'"):
        count_parameters({"model_type": "not-a-model", "hidden_size": 8})


def test_missing_dimension_is_named() -> None:
    config = tiny_config("llama")
    del config["hidden_size"]
    with pytest.raises(InvalidInputError, match="'hidden_size'"):
        model_shape(config)


def test_non_integer_dimension_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="non-negative integer"):
        model_shape(tiny_config("llama", num_hidden_layers="2"))


def test_lora_targets_and_moe_layout() -> None:
    shape = model_shape(tiny_config("qwen2_moe", mlp_only_layers=[1]))
    assert shape.layers[0].moe is not None and shape.layers[1].moe is None
    names = {lin.name for lin in shape.layers[0].linears}
    assert {"q_proj", "gate", "shared_expert.gate_proj", "shared_expert_gate"} <= names
    fused = model_shape(tiny_config("phi3"))
    assert [lin.name for lin in fused.layers[0].linears] == [
        "qkv_proj",
        "o_proj",
        "gate_up_proj",
        "down_proj",
    ]
