"""``import training_hub.estimator`` (and estimating from a dict) must not import torch or transformers."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

_SCRIPT = """
import sys
import training_hub.estimator as e
config = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
          "num_attention_heads": 4, "vocab_size": 128}
low, mid, high = e.estimate("sft", model_config=config, max_tokens_per_gpu=256)
e.plan(e.EstimateInputs(training_method="lora", model_config=config, max_tokens_per_gpu=256), 10**9)
import training_hub.cli.estimate, training_hub.estimator.report
heavy = sorted(m for m in ("torch", "transformers", "peft") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_no_heavy_imports() -> None:
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "none"
