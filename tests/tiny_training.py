"""Engine parameters for training the tiny test model on the tiny chat data (shared by the runtime and
reliability tests; the model and data come from the session fixtures in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_engine_params(model: Path, data: Path, out: Path, **overrides: Any) -> dict[str, Any]:
    """Parameters of ``python -m training_hub.engine``: small sequences, a batch of 16, seed 3.

    Args:
        model: The tiny model's directory.
        data: A chat JSONL file.
        out: ``ckpt_output_dir``.
        **overrides: Parameters to set or replace (epochs, steps, checkpointing...).
    """
    params: dict[str, Any] = {
        "model_path": str(model),
        "data_path": str(data),
        "ckpt_output_dir": str(out),
        "effective_batch_size": 16,
        "learning_rate": 3e-3,
        "max_seq_len": 64,
        "max_tokens_per_gpu": 160,
        "seed": 3,
    }
    params.update(overrides)
    return params
