"""The memory model: tuple contract, breakdown, per-method accounting, sharding and inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.model_configs import tiny_config
from training_hub.errors import InvalidInputError
from training_hub.estimator import EstimateInputs, MemoryEstimate, estimate, estimate_from_inputs, model_shape
from training_hub.estimator.components import osft_trainable_rank
from training_hub.estimator.memory import CUDA_RUNTIME_BYTES

pytestmark = pytest.mark.unit


def test_result_is_a_three_tuple_with_breakdown(qwen7b_dir: Path) -> None:
    est = estimate("sft", model_path=str(qwen7b_dir), num_gpus=8, max_tokens_per_gpu=4096)
    low, mid, high = est
    assert isinstance(est, MemoryEstimate) and isinstance(est, tuple) and len(est) == 3
    assert low < mid < high
    assert est.breakdown.total == mid
    assert est.assumptions.total_parameters == 7_615_616_512
    assert est.assumptions.sharding.startswith("fsdp over 8")


def test_fp32_single_gpu_components(llama_config: dict[str, Any]) -> None:
    p = model_shape(llama_config).total_params
    est = estimate("sft", model_config=llama_config, max_tokens_per_gpu=100, dtype="fp32", device="cpu")
    b = est.breakdown
    assert (b.parameters, b.gradients, b.optimizer_states) == (4 * p, 4 * p, 8 * p)
    assert b.logits == 100 * llama_config["vocab_size"] * 8
    assert b.details["overhead.runtime"] == 0
    assert est.low == b.parameters + b.gradients + b.optimizer_states + b.activations + b.logits


def test_bf16_cuda_adds_runtime_and_upcast_logits(llama_config: dict[str, Any]) -> None:
    est = estimate("sft", model_config=llama_config, max_tokens_per_gpu=100)
    p = model_shape(llama_config).total_params
    assert est.breakdown.parameters == 2 * p
    assert est.breakdown.gradients == 4 * p
    assert est.breakdown.details["overhead.runtime"] == CUDA_RUNTIME_BYTES
    assert est.breakdown.logits == 100 * llama_config["vocab_size"] * 10


def test_liger_removes_logits_and_activations_scale_with_tokens(llama_config: dict[str, Any]) -> None:
    a = estimate("sft", model_config=llama_config, max_tokens_per_gpu=1000, use_liger=True)
    b = estimate("sft", model_config=llama_config, max_tokens_per_gpu=2000, use_liger=True)
    assert a.breakdown.logits == 0
    assert b.breakdown.activations == 2 * a.breakdown.activations


def test_lora_trains_only_adapters(llama_config: dict[str, Any]) -> None:
    est = estimate("lora", model_config=llama_config, max_tokens_per_gpu=64, lora_r=8, dtype="fp32")
    shape = model_shape(llama_config)
    adapters = sum(8 * (lin.in_features + lin.out_features) for lin in shape.linears())
    assert est.assumptions.trainable_parameters == adapters
    assert est.breakdown.gradients == 4 * adapters
    assert est.assumptions.total_parameters == shape.total_params + adapters


def test_lora_without_matching_targets_is_an_error(llama_config: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError, match="no linear module"):
        estimate("lora", model_config=llama_config, max_tokens_per_gpu=64, lora_target_modules=["nope"])


def test_qlora_is_smaller_than_lora_and_needs_cuda(llama_config: dict[str, Any]) -> None:
    lora = estimate("lora", model_config=llama_config, max_tokens_per_gpu=64)
    qlora = estimate("qlora", model_config=llama_config, max_tokens_per_gpu=64)
    assert qlora.breakdown.parameters < lora.breakdown.parameters
    with pytest.raises(InvalidInputError, match="CUDA"):
        estimate("qlora", model_config=llama_config, max_tokens_per_gpu=64, device="cpu")


def test_osft_trainable_fraction_and_rebuilt_weights(llama_config: dict[str, Any]) -> None:
    small = estimate("osft", model_config=llama_config, max_tokens_per_gpu=64, unfreeze_rank_ratio=0.1)
    large = estimate("osft", model_config=llama_config, max_tokens_per_gpu=64, unfreeze_rank_ratio=0.9)
    assert small.assumptions.trainable_parameters < large.assumptions.trainable_parameters
    assert small.breakdown.details["activations.osft_rebuilt_weights"] > 0
    assert osft_trainable_rank(64, 96, 0.25) == 16
    assert osft_trainable_rank(4, 4, 0.01) == 1


def test_fsdp_divides_states_and_ddp_adds_buckets(qwen7b_dir: Path) -> None:
    base = EstimateInputs(training_method="sft", model_path=str(qwen7b_dir), max_tokens_per_gpu=2048)
    one = estimate_from_inputs(base, 1)
    fsdp = estimate_from_inputs(base, 8)
    ddp = estimate_from_inputs(base.model_copy(update={"distributed_strategy": "ddp"}), 8)
    assert fsdp.breakdown.optimizer_states == pytest.approx(one.breakdown.optimizer_states / 8, abs=1)
    assert fsdp.breakdown.details["parameters.fsdp_unsharded_layers"] > 0
    assert fsdp.breakdown.activations == one.breakdown.activations
    assert ddp.breakdown.gradients == 2 * one.breakdown.gradients
    assert ddp.breakdown.optimizer_states == one.breakdown.optimizer_states


def test_activation_checkpointing_lowers_activations(qwen7b_dir: Path) -> None:
    inputs = EstimateInputs(training_method="sft", model_path=str(qwen7b_dir), max_tokens_per_gpu=2048)
    plain = estimate_from_inputs(inputs, 1)
    ckpt = estimate_from_inputs(inputs.model_copy(update={"activation_checkpointing": True}), 1)
    assert ckpt.breakdown.activations < plain.breakdown.activations / 5


def test_token_budget_derivation(llama_config: dict[str, Any]) -> None:
    by_len = estimate("sft", model_config=llama_config, max_seq_len=512, batch_size=2)
    by_tokens = estimate("sft", model_config=llama_config, max_tokens_per_gpu=1024)
    assert by_len.assumptions.tokens_per_gpu == 1024 and tuple(by_len) == tuple(by_tokens)
    with pytest.raises(InvalidInputError, match="max_tokens_per_gpu or max_seq_len"):
        estimate("sft", model_config=llama_config)


def test_invalid_inputs_are_clear_errors(llama_config: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError, match="training_method"):
        estimate("dpo", model_config=llama_config, max_tokens_per_gpu=8)
    with pytest.raises(InvalidInputError, match="model_config"):
        estimate("sft", max_tokens_per_gpu=8)
    with pytest.raises(InvalidInputError, match="num_gpus"):
        estimate("sft", model_config=llama_config, max_tokens_per_gpu=8, num_gpus=0)


def test_gpu_memory_is_noted(llama_config: dict[str, Any]) -> None:
    est = estimate("sft", model_config=llama_config, max_tokens_per_gpu=8, gpu_memory=10)
    assert any("does NOT fit" in note for note in est.assumptions.notes)
    assert not est.fits(10) and est.fits(10**12)


def test_from_training_params_maps_algorithms(llama_config: dict[str, Any]) -> None:
    lora = EstimateInputs.from_training_params(
        "lora_sft",
        {"max_seq_len": 1024, "lora_r": 8, "bf16": False, "target_modules": ["q_proj"]},
        llama_config,
    )
    assert (lora.training_method, lora.tokens_per_gpu(), lora.lora_r, lora.dtype) == ("lora", 1024, 8, "fp32")
    assert lora.lora_target_modules == ["q_proj"]
    qlora = EstimateInputs.from_training_params("lora_sft", {"load_in_4bit": True}, llama_config)
    assert qlora.training_method == "qlora" and qlora.tokens_per_gpu() == 2048
    osft = EstimateInputs.from_training_params(
        "osft", {"unfreeze_rank_ratio": 0.5, "max_tokens_per_gpu": 512, "use_liger": True}, llama_config
    )
    assert (osft.training_method, osft.unfreeze_rank_ratio, osft.tokens_per_gpu(), osft.use_liger) == (
        "osft",
        0.5,
        512,
        True,
    )
    assert EstimateInputs.from_training_params("sft", {}, llama_config).training_method == "sft"
    with pytest.raises(InvalidInputError, match="unknown algorithm"):
        EstimateInputs.from_training_params("ppo", {}, llama_config)


def test_unknown_architecture_estimates_through_meta_fallback() -> None:
    config = {
        "model_type": "stablelm",
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 128,
    }
    est = estimate("sft", model_config=config, max_tokens_per_gpu=64)
    assert est.assumptions.total_parameters > 0
    assert any("meta device" in note for note in est.assumptions.notes)


def test_moe_counts_routed_copies() -> None:
    one = estimate("sft", model_config=tiny_config("mixtral", num_experts_per_tok=1), max_tokens_per_gpu=64)
    two = estimate("sft", model_config=tiny_config("mixtral", num_experts_per_tok=2), max_tokens_per_gpu=64)
    assert two.breakdown.activations > one.breakdown.activations
    assert any("MoE" in note for note in one.assumptions.notes)
