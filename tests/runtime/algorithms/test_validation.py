"""Parameters are validated once, at the edge: the public function's values reach the backend as the
validated model, and neither the backend nor the engine validates them again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import training_hub
from training_hub.algorithms import validation
from training_hub.algorithms.base import AlgorithmRegistry, Backend
from training_hub.algorithms.validation import ValidatedParams
from training_hub.backends.native import engine_model
from training_hub.engine.config import resolve_config
from training_hub.params import SFTParams

pytestmark = pytest.mark.unit


class Recording(Backend):
    """Keeps what ``execute_training`` received and what the native engine would be configured with."""

    name = "recording"
    received: list[Any] = []

    def execute_training(self, params: dict[str, Any], callbacks: Any = None) -> Any:
        model = engine_model("sft", params)
        resolve_config("sft", model)
        type(self).received.append((params, model))
        return "ok"


@pytest.fixture
def recording() -> Iterator[type[Recording]]:
    AlgorithmRegistry.register_backend("sft", Recording.name, Recording)
    Recording.received = []
    try:
        yield Recording
    finally:
        AlgorithmRegistry._backends["sft"].pop(Recording.name, None)


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = validation.validate_params

    def counting(algorithm: str, values: dict[str, Any]) -> Any:
        calls.append(algorithm)
        return real(algorithm, values)

    from training_hub.cli import train

    monkeypatch.setattr(validation, "validate_params", counting)
    monkeypatch.setattr(train, "validate_params", counting)  # the CLI validates for its flag-style messages
    return calls


def test_sft_validates_once_and_the_backend_gets_the_model(
    recording: type[Recording], validations: list[str], tmp_path: Path
) -> None:
    result = training_hub.sft(
        model_path="m", data_path="d.jsonl", ckpt_output_dir=str(tmp_path), beta1=0.8, backend="recording"
    )
    assert result == "ok" and validations == ["sft"]
    ((params, model),) = recording.received
    assert isinstance(params, ValidatedParams) and isinstance(model, SFTParams)
    # as upstream hands them over: the keywords the user set, by the user's names
    assert dict(params) == {
        "model_path": "m",
        "data_path": "d.jsonl",
        "ckpt_output_dir": str(tmp_path),
        "beta1": 0.8,
    }
    assert model.adam_beta1 == 0.8 and model.max_seq_len == 2048


def test_a_plain_dict_is_validated_where_it_enters(validations: list[str]) -> None:
    model = engine_model("sft", {"model_path": "m", "data_path": "d", "ckpt_output_dir": "o"})
    assert validations == ["sft"]
    assert resolve_config("sft", model).params is model and validations == ["sft"]


def test_the_cli_validates_once(recording: type[Recording], validations: list[str], tmp_path: Path) -> None:
    from training_hub.cli import main as cli_main

    argv = ["sft", "--model-path", "m", "--data-path", "d.jsonl", "--ckpt-output-dir", str(tmp_path)]
    assert cli_main.main([*argv, "--learning-rate", "0.001", "--backend", "recording"]) == 0
    assert validations == ["sft"]
    ((params, model),) = recording.received
    assert isinstance(params, ValidatedParams) and model.learning_rate == 0.001
