"""Fixtures of the estimator tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .estimator_configs import tiny_config


@pytest.fixture
def llama_config() -> dict[str, Any]:
    """A tiny Llama config dict."""
    return tiny_config("llama")


@pytest.fixture
def qwen7b_dir(tmp_path: Path) -> Path:
    """A directory holding only the config.json of a Qwen2-7B-sized model (7.6 B parameters)."""
    config = {
        "model_type": "qwen2",
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "tie_word_embeddings": False,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path
