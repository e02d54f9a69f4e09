"""Absurd model configs are refused at once: the estimator's work never grows with the config's numbers."""

from __future__ import annotations

import time

import pytest

from tests.support.model_configs import LLAMA_8B_CONFIG
from training_hub.errors import InvalidInputError
from training_hub.estimator.model_config import SIZE_BOUNDS, load_model_config
from training_hub.estimator.param_count import count_parameters, model_shape

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("num_hidden_layers", 10**6),
        ("hidden_size", 10**9),
        ("vocab_size", 10**12),
        ("intermediate_size", float("inf")),
        ("num_local_experts", 10**7),
    ],
)
def test_sizes_beyond_the_bounds_are_refused_with_the_field_and_the_bound(key: str, value: float) -> None:
    config = {**LLAMA_8B_CONFIG, key: value}
    start = time.perf_counter()
    for call in (load_model_config, model_shape, count_parameters):
        with pytest.raises(InvalidInputError) as info:
            call(config)
        assert repr(key) in str(info.value) and str(SIZE_BOUNDS[key]) in str(info.value)
    assert time.perf_counter() - start < 1.0  # refused at once, not after building 10^6 layers


def test_non_numbers_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="must be a non-negative integer"):
        load_model_config({**LLAMA_8B_CONFIG, "num_hidden_layers": "many"})


def test_the_largest_real_shapes_pass() -> None:
    # Llama 3.1 405B.
    big = {
        **LLAMA_8B_CONFIG,
        "hidden_size": 16384,
        "intermediate_size": 53248,
        "num_hidden_layers": 126,
        "num_attention_heads": 128,
    }
    assert model_shape(load_model_config(big)).num_layers == 126
