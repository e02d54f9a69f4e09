"""The operator plans with the engine ``backend: auto`` resolves to on the requested GPUs, in the runtime
image, and says which engine, why, and what it assumed in ``status.plan.inputs``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.model_configs import LLAMA_8B_CONFIG
from training_hub_operator.api.spec import TrainingRunSpec
from training_hub_operator.planned_engine import planned_engine
from training_hub_operator.planning import ModelConfig, make_plan
from training_hub_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit


def _spec(algorithm: str, hp: dict[str, Any], **resources: Any) -> TrainingRunSpec:
    return TrainingRunSpec.model_validate(
        {
            "algorithm": algorithm,
            "model": {"uri": "hf://meta-llama/Llama-3.1-8B"},
            "data": {"uri": "pvc://data/chat.jsonl"},
            "output": {"uri": "pvc://out/run"},
            "hyperparameters": {"max_tokens_per_gpu": 8192, **hp},
            "resources": {"gpuProduct": "NVIDIA-H100-80GB-HBM3", **resources},
        }
    )


def _plan(spec: TrainingRunSpec) -> Any:
    return make_plan(
        spec, dict(spec.hyperparameters), ModelConfig(LLAMA_8B_CONFIG, "inline"), OperatorSettings()
    )


def test_sft_auto_plans_instructlab_with_checkpointing_on_one_node() -> None:
    plan = _plan(_spec("sft", {}))
    assert plan.inputs["engine"] == "instructlab-training"
    assert plan.inputs["activationCheckpointing"] is True
    assert any("gradient_checkpointing_enable" in a for a in plan.inputs["engineAssumptions"])
    assert plan.nodes == 1 and plan.total_gpus <= 8


def test_max_steps_rules_out_instructlab_and_says_why() -> None:
    plan = _plan(_spec("sft", {"max_steps": 100}))
    assert plan.inputs["engine"] == "native"
    assert "max_steps" in plan.inputs["engineReason"]


def test_osft_auto_is_mini_trainer_and_lora_is_peft_in_the_default_image() -> None:
    assert _plan(_spec("osft", {"unfreeze_rank_ratio": 0.25})).inputs["engine"] == "mini-trainer"
    lora = planned_engine(_spec("lora_sft", {}))
    assert lora.name == "peft" and "unsloth" in lora.reason


def test_an_explicit_backend_is_planned_as_given() -> None:
    spec = _spec("sft", {}).model_copy(update={"backend": "native"})
    assert planned_engine(spec).name == "native"


def test_the_run_spec_pins_the_planned_engine_and_names_the_image() -> None:
    from training_hub_operator.planned_engine import pod_engine

    spec = _spec("sft", {})
    plan = _plan(spec)
    engine = pod_engine(spec, plan, "registry.example/custom:1")
    assert engine is not None
    assert (engine.name, engine.image) == ("instructlab-training", "registry.example/custom:1")
    assert engine.reason == plan.inputs["engineReason"]


def test_a_cpu_run_pins_the_portable_backend() -> None:
    from training_hub_operator.planned_engine import pod_engine

    spec = _spec("sft", {}, gpusPerNode=0, nodes=1)
    plan = _plan(spec)
    engine = pod_engine(spec, plan, "img")
    assert engine is not None and engine.name == "native"
    assert "CUDA" in engine.reason
