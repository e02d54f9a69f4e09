"""The expected estimate is within 15% of the bytes measured in a real CPU training step (a few rows)."""

from __future__ import annotations

import pytest

from benchmarks.estimator_accuracy import measure_and_estimate
from tests.support.model_configs import tiny_config

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
    # The benchmark's measure-and-estimate step; the test asserts on the pair itself, the benchmark turns it
    # into a report row.
    config = tiny_config(family, vocab_size=1000, intermediate_size=160)
    measured, est = measure_and_estimate(config, method, tokens, checkpointing)
    assert abs(est.expected - measured.total) <= 0.15 * measured.total
    # States are counted exactly (AdamW's per-tensor step counters aside).
    assert est.breakdown.parameters == measured.parameters
    assert est.breakdown.gradients == measured.gradients
    assert abs(est.breakdown.optimizer_states - measured.optimizer) < 1024
    assert est.breakdown.logits == measured.logits
