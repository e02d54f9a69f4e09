"""The expected estimate is within 15% of the bytes measured in a real CPU training step (a few rows)."""

from __future__ import annotations

import pytest

from tests.support.model_configs import tiny_config
from training_hub.estimator import estimate
from training_hub.estimator.measure import measure_training_step

pytestmark = pytest.mark.integration

ROWS = [
    ("llama", "sft", 256),
    ("llama", "lora", 512),
    ("qwen3", "osft", 256),
    ("phi3", "sft", 256),
    ("mixtral", "lora", 256),
    ("qwen2_moe", "sft", 256),
]


CHECKPOINTING_ROWS = [("llama", "sft", 512), ("qwen3", "osft", 256), ("mixtral", "lora", 256)]


@pytest.mark.parametrize(
    "family, method, tokens, checkpointing",
    [(*row, False) for row in ROWS] + [(*row, True) for row in CHECKPOINTING_ROWS],
)
def test_expected_within_15_percent_of_measured(
    family: str, method: str, tokens: int, checkpointing: bool
) -> None:
    # The measure-and-estimate step of benchmarks/estimator_accuracy.run_row, repeated on purpose: the test
    # asserts on the estimate and the measurement themselves, the benchmark turns them into a report row.
    config = tiny_config(family, vocab_size=1000, intermediate_size=160)
    measured = measure_training_step(config, method, tokens, activation_checkpointing=checkpointing)
    est = estimate(
        method,
        model_config=config,
        max_tokens_per_gpu=tokens,
        dtype="fp32",
        device="cpu",
        activation_checkpointing=checkpointing,
    )
    assert abs(est.expected - measured.total) <= 0.15 * measured.total
    # States are counted exactly (AdamW's per-tensor step counters aside).
    assert est.breakdown.parameters == measured.parameters
    assert est.breakdown.gradients == measured.gradients
    assert abs(est.breakdown.optimizer_states - measured.optimizer) < 1024
    assert est.breakdown.logits == measured.logits
