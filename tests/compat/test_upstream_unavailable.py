"""Upstream's GRPO / GEPA API (``lora_grpo``, ``grpo``, ``gepa``, their classes, ``ITSRollout``): the names
import and keep upstream's signatures (read from the sdist), keywords are checked, and running raises an
error naming what is missing and the alternative."""

from __future__ import annotations

import ast
import inspect
import sys
from typing import Any

import pytest

import training_hub
from tests.compat.upstream import upstream_signature
from training_hub.errors import BackendUnavailableError, InvalidInputError

pytestmark = pytest.mark.unit


def _our_defaults(function: Any) -> dict[str, str | None]:
    params = inspect.signature(function).parameters
    return {
        n: None if p.default is inspect.Parameter.empty else repr(p.default)
        for n, p in params.items()
        if p.kind is not p.VAR_KEYWORD and n != "self"
    }


@pytest.mark.parametrize("name", ["lora_grpo", "grpo", "gepa", "ITSRollout.__init__"])
def test_signature_is_upstreams(name: str) -> None:
    owner, _, attr = name.rpartition(".")
    ours = _our_defaults(
        getattr(getattr(training_hub, owner), attr) if owner else getattr(training_hub, name)
    )
    upstream = {
        k: None if v is None else repr(ast.literal_eval(v))
        for k, v in upstream_signature(name).items()
        if k != "self"
    }
    assert ours == upstream


@pytest.mark.parametrize(
    ("function", "required"),
    [
        ("lora_grpo", {"model_path": "/m", "ckpt_output_dir": "/o"}),
        ("grpo", {"model_path": "/m", "ckpt_output_dir": "/o"}),
        ("gepa", {"seed_candidate": {"system": "Be brief."}, "task_lm": "openai/m"}),
    ],
)
def test_calls_check_keywords_then_name_what_is_missing(function: str, required: dict[str, Any]) -> None:
    fn = getattr(training_hub, function)
    with pytest.raises(InvalidInputError, match="group_sise.*did you mean 'group_size'|not a parameter"):
        fn(**required, group_sise=4)
    with pytest.raises(BackendUnavailableError) as raised:
        fn(**required, some_engine_option=None)  # None means "not set", as everywhere
    message = str(raised.value)
    assert "cannot run here" in message and "Instead:" in message
    assert ("vLLM" in message and "dpo()" in message) if "grpo" in function else "gepa" in message


def test_backend_choice_is_checked_before_the_engine_is_missing() -> None:
    with pytest.raises(InvalidInputError, match="backend='trl' is not one of \\['verl', 'art'\\]"):
        training_hub.lora_grpo(model_path="/m", ckpt_output_dir="/o", backend="trl")
    with pytest.raises(BackendUnavailableError, match="backend='art'"):
        training_hub.lora_grpo(model_path="/m", ckpt_output_dir="/o", backend="art")
    with pytest.raises(InvalidInputError, match="backend='dspy'"):
        training_hub.gepa(seed_candidate={}, task_lm="m", backend="dspy")


@pytest.mark.parametrize(
    ("algorithm", "backend", "required"),
    [
        ("LoRAGRPOAlgorithm", "ARTLoRAGRPOBackend", {"model_path", "ckpt_output_dir"}),
        ("LoRAGRPOAlgorithm", "VeRLLoRAGRPOBackend", {"model_path", "ckpt_output_dir"}),
        ("GEPAAlgorithm", "GEPABackend", {"seed_candidate", "task_lm"}),
        ("GEPAAlgorithm", "MLflowGEPABackend", {"seed_candidate", "task_lm"}),
    ],
)
def test_algorithm_and_backend_classes(algorithm: str, backend: str, required: set[str]) -> None:
    backend_cls = getattr(training_hub, backend)
    assert backend_cls.unavailable_reason()
    algo = getattr(training_hub, algorithm)(backend_cls())
    assert set(algo.get_required_params()) == required
    assert "learning_rate" in algo.get_optional_params() or "reflection_lm" in algo.get_optional_params()
    with pytest.raises(InvalidInputError, match="not a parameter"):
        algo.train(**dict.fromkeys(required, "x"), lerning_rate=1e-5)
    with pytest.raises(BackendUnavailableError, match=f"backend {backend_cls.name!r} cannot run here"):
        algo.train(**dict.fromkeys(required, "x"))


def _pick(text: str, task: dict[str, Any]) -> float:
    return 1.0


def test_its_rollout_builds_with_upstreams_arguments_and_raises_when_run() -> None:
    rollout = training_hub.ITSRollout(algorithm_factory=_pick, budget=4, reward_fn=_pick, temperature=0.2)
    assert (rollout.budget, rollout.message_key, rollout.max_concurrency) == (4, "messages", 32)
    with pytest.raises(BackendUnavailableError, match="its_hub"):
        rollout(None, {"messages": []})
    with pytest.raises(InvalidInputError, match="budget"):
        training_hub.ITSRollout(algorithm_factory=_pick, budget=0, reward_fn=_pick)


def test_none_of_this_imports_an_engine() -> None:
    assert "vllm" not in sys.modules and "gepa" not in sys.modules
