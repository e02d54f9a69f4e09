"""Public API: registry, create_algorithm, auto backend choice, signatures, keyword validation, lazy imports."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from typing import Any

import pytest

import training_hub
from training_hub import Algorithm, AlgorithmRegistry, Backend, create_algorithm
from training_hub.algorithms import LoRASFTAlgorithm, OSFTAlgorithm, SFTAlgorithm
from training_hub.errors import BackendUnavailableError, InvalidInputError
from training_hub.params import param_model

pytestmark = pytest.mark.unit

REQUIRED = {"model_path": "m", "data_path": "d.jsonl", "ckpt_output_dir": "out"}


def test_import_does_not_load_torch_transformers_or_matplotlib() -> None:
    code = (
        "import sys, json, training_hub\n"
        "from training_hub import sft, osft, lora_sft, plot_loss, AlgorithmRegistry, create_algorithm\n"
        "import training_hub.cli.main, training_hub.cli.train\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'matplotlib', 'peft'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_registry_lists_algorithms_and_backends() -> None:
    assert AlgorithmRegistry.list_algorithms()[:3] == ["sft", "osft", "lora_sft"]
    assert AlgorithmRegistry.list_backends("sft") == ["native", "instructlab-training"]
    assert AlgorithmRegistry.list_backends("osft") == ["native", "mini-trainer"]
    assert AlgorithmRegistry.list_backends("lora_sft") == ["peft", "unsloth"]
    assert AlgorithmRegistry.get_algorithm("osft") is OSFTAlgorithm


def test_unknown_names_suggest_close_matches() -> None:
    with pytest.raises(InvalidInputError, match="did you mean 'osft'"):
        AlgorithmRegistry.get_algorithm("ostf")
    with pytest.raises(InvalidInputError, match="mini-trainer"):
        AlgorithmRegistry.get_backend("osft", "minitrainer")
    with pytest.raises(InvalidInputError, match="register algorithm"):
        AlgorithmRegistry.register_backend("nope", "x", Backend)  # type: ignore[type-abstract]


def test_required_and_optional_params_come_from_the_models() -> None:
    for cls in (SFTAlgorithm, OSFTAlgorithm, LoRASFTAlgorithm):
        algo = create_algorithm(cls.name, backend="native" if cls.name != "lora_sft" else "peft")
        assert isinstance(algo, cls)
        fields = param_model(cls.name).model_fields
        assert set(algo.get_required_params()) == {n for n, f in fields.items() if f.is_required()}
        assert set(algo.get_optional_params()) | set(algo.get_required_params()) | {"backend"} == set(fields)
    assert "unfreeze_rank_ratio" in create_algorithm("osft", backend="native").get_required_params()


@pytest.mark.parametrize("func", [training_hub.sft, training_hub.osft, training_hub.lora_sft])
def test_signatures_are_the_models_fields(func: Any) -> None:
    algorithm = func.__name__
    params = inspect.signature(func).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    assert set(params) - {"callbacks"} == set(param_model(algorithm).model_fields)
    for name, field in param_model(algorithm).model_fields.items():
        assert (params[name].default is inspect.Parameter.empty) == field.is_required(), name
        if field.description:
            assert field.description in (func.__doc__ or "")


def test_unknown_keyword_is_an_error_with_close_matches() -> None:
    with pytest.raises(InvalidInputError) as err:
        training_hub.sft(**REQUIRED, lerning_rate=1e-5, max_epochs=2)
    text = str(err.value)
    assert "'lerning_rate'" in text and "did you mean 'learning_rate'" in text
    assert "'max_epochs'" in text and "'num_epochs'" in text  # mini-trainer's name, suggested


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="keyword arguments only"):
        training_hub.sft("m", "d", "o")  # type: ignore[misc]


def test_invalid_values_name_the_field_and_the_reason() -> None:
    with pytest.raises(InvalidInputError) as err:
        training_hub.osft(**REQUIRED, unfreeze_rank_ratio=1.5, learning_rate=-1.0, nproc_per_node=[2])
    text = str(err.value)
    assert "unfreeze_rank_ratio: Input should be less than or equal to 1" in text
    assert "learning_rate: Input should be greater than 0 (got -1.0)" in text
    assert "nproc_per_node: should be a valid integer or a valid string (got [2])" in text


def test_missing_required_is_reported() -> None:
    with pytest.raises(InvalidInputError, match="unfreeze_rank_ratio: required, but not given"):
        training_hub.osft(**REQUIRED)


def test_rendezvous_conflict_is_reported_before_training() -> None:
    with pytest.raises(InvalidInputError, match="mutually exclusive"):
        training_hub.sft(**REQUIRED, master_addr="a", rdzv_endpoint="b:1")


def test_auto_picks_portable_backend_without_upstream_or_cuda(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="training_hub")
    assert type(create_algorithm("sft").backend).__name__ == "NativeBackend"
    assert "instructlab-training is not installed" in caplog.text
    assert type(create_algorithm("osft").backend).name == "native"
    assert type(create_algorithm("lora_sft").backend).name == "peft"
    assert "backend 'peft'" in caplog.text


@pytest.mark.parametrize(
    ("algorithm", "backend", "extra"),
    [
        ("sft", "instructlab-training", "[cuda]"),
        ("osft", "mini-trainer", "[cuda]"),
        ("lora_sft", "unsloth", "[unsloth]"),
    ],
)
def test_missing_upstream_backend_says_what_to_install(algorithm: str, backend: str, extra: str) -> None:
    with pytest.raises(BackendUnavailableError, match=rf"pip install 'training-hub-k8s\{extra}'"):
        create_algorithm(algorithm, backend=backend)


def test_explicit_upstream_backend_through_the_function_is_unavailable() -> None:
    with pytest.raises(BackendUnavailableError, match="instructlab-training"):
        training_hub.sft(**REQUIRED, backend="instructlab-training")


def test_custom_algorithm_and_backend_can_be_registered() -> None:
    calls: list[dict[str, Any]] = []

    class EchoBackend(Backend):
        name = "echo"
        portable = True

        def execute_training(self, params: dict[str, Any], callbacks: Any = None) -> Any:
            calls.append(params)
            return {"ok": True}

    class Echo(Algorithm):
        def train(self, **kwargs: Any) -> Any:
            return self.backend.execute_training(kwargs)

        def get_required_params(self) -> dict[str, Any]:
            return {}

        def get_optional_params(self) -> dict[str, Any]:
            return {}

    AlgorithmRegistry.register_algorithm("echo_test", Echo)
    AlgorithmRegistry.register_backend("echo_test", "echo", EchoBackend)
    try:
        assert create_algorithm("echo_test").train(x=1) == {"ok": True}
        assert create_algorithm("echo_test", backend_name="echo").backend.algorithm == "echo_test"
        assert calls[0] == {"x": 1}
        # Strategy pattern on a built-in algorithm: the backend receives only what the user set.
        AlgorithmRegistry.register_backend("sft", "echo", EchoBackend)
        assert training_hub.sft(**REQUIRED, learning_rate=None, num_epochs=2, backend="echo") == {"ok": True}
        assert calls[-1] == {**REQUIRED, "num_epochs": 2}
    finally:
        AlgorithmRegistry._algorithms.pop("echo_test", None)
        AlgorithmRegistry._backends.pop("echo_test", None)
        AlgorithmRegistry._backends["sft"].pop("echo", None)


def test_estimate_is_exported_lazily() -> None:
    code = "import sys, training_hub; f = training_hub.estimate; print(callable(f))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
