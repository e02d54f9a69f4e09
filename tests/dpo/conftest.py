"""Fixtures of the DPO tests: learnable preference pairs (both formats) and a second tiny model to act as a
reference that differs from the policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controlplane.fixtures import *  # noqa: F401,F403  (control plane, namespace, operator_factory)


@pytest.fixture(scope="session")
def preference_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 learnable `prompt`/`chosen`/`rejected` string pairs."""
    from training_hub.tiny import write_preference_dataset

    return write_preference_dataset(tmp_path_factory.mktemp("pref") / "pairs.jsonl", n=64, fmt="standard")


@pytest.fixture(scope="session")
def preference_chat_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 learnable chat-form pairs (message lists)."""
    from training_hub.tiny import write_preference_dataset

    return write_preference_dataset(tmp_path_factory.mktemp("pref") / "chat.jsonl", n=64, fmt="chat")


@pytest.fixture(scope="session")
def other_model_dir(tiny_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with the same tokenizer and other random weights (seed 1)."""
    from training_hub.tiny import build_tiny_model

    return build_tiny_model(
        tmp_path_factory.mktemp("other") / "model", family="llama", seed=1, tokenizer_dir=tiny_tokenizer_dir
    )
