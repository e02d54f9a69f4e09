"""The estimator models the engine that runs: per-engine assumptions pinned to their upstream sources, the
8B plans for ``backend=auto`` on GPUs, and the native engine's dtype and strategy checked against the
engine itself (its weights on the meta device, its strategy resolution with CUDA mocked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.model_configs import LLAMA_8B_CONFIG
from training_hub.estimator import EstimateInputs, estimate, estimate_from_inputs, plan
from training_hub.estimator.engines import ENGINES, engine_profile, resolved_sharding

pytestmark = pytest.mark.unit

GIB = 1024**3


def test_profiles_pin_the_cited_behaviour() -> None:
    ilab, mini, unsloth, native = (
        ENGINES[n] for n in ("instructlab-training", "mini-trainer", "unsloth", "native")
    )
    # instructlab-training 0.16.2: fp32 weights, FSDP1 HYBRID_SHARD, gradient checkpointing, Liger without
    # fused linear cross-entropy
    assert (ilab.master_weights, ilab.sharding, ilab.activation_checkpointing) == ("fp32", "node", "always")
    assert not ilab.liger_drops_logits and ilab.gathers_bf16
    # mini-trainer 0.9.0: FSDP2 over all ranks with a bf16 policy, checkpoint_wrapper per block, last block
    # kept gathered, Liger fused linear cross-entropy
    assert (mini.master_weights, mini.sharding, mini.activation_checkpointing) == ("fp32", "full", "always")
    assert mini.liger_drops_logits and mini.extra_gathered_layers == 1
    # unsloth: one GPU, bf16 weights, offloaded gradient checkpointing
    assert (unsloth.master_weights, unsloth.sharding, unsloth.offloads_checkpoints) == (
        "train",
        "single",
        True,
    )
    # native: fp32 weights + autocast copies, FSDP only for SFT, checkpointing as the parameter says,
    # logits kept even with Liger (the trainer computes the loss from the logits)
    assert (native.master_weights, native.sharding, native.activation_checkpointing) == (
        "fp32",
        "sft-only",
        "param",
    )
    assert native.autocast_weight_copies and not native.liger_drops_logits
    for profile in (ilab, mini, unsloth):
        files = " ".join(profile.sources.values())
        top = profile.name.split("-")[0].replace("instructlab", "instructlab/training")
        assert top in files, (profile.name, files)
        assert profile.assumptions() and all(": " in line for line in profile.assumptions())


def test_auto_on_gpus_plans_with_the_engines_checkpointing() -> None:
    """8B SFT at 8192 tokens/GPU on 80 GiB GPUs: instructlab-training checkpoints, so one node of 8 (or
    fewer) fits; the old model without checkpointing asked for about twice the GPUs."""
    hp = {"max_tokens_per_gpu": 8192}
    upstream = EstimateInputs.from_training_params("sft", hp, LLAMA_8B_CONFIG, engine="instructlab-training")
    old = EstimateInputs.from_training_params("sft", hp, LLAMA_8B_CONFIG)
    assert estimate_from_inputs(upstream, 8, gpus_per_node=8).assumptions.activation_checkpointing
    new_plan = plan(upstream, 80 * GIB)
    old_plan = plan(old, 80 * GIB)
    assert new_plan.fits and new_plan.nodes == 1 and new_plan.gpus_per_node <= 8
    assert old_plan.total_gpus > new_plan.total_gpus
    ckpt = estimate(
        "sft",
        model_config=LLAMA_8B_CONFIG,
        num_gpus=8,
        max_tokens_per_gpu=8192,
        activation_checkpointing=True,
    )
    ilab = estimate_from_inputs(upstream, 8, gpus_per_node=8)
    # fp32 master weights sharded over 8 cost 2 B/8 per parameter more than bf16 weights: within 10%
    assert ilab.expected == pytest.approx(ckpt.expected, rel=0.1)


def test_hybrid_shard_divides_by_the_gpus_of_one_node() -> None:
    inputs = EstimateInputs.from_training_params(
        "sft", {"max_tokens_per_gpu": 4096}, LLAMA_8B_CONFIG, engine="instructlab-training"
    )
    one_node = estimate_from_inputs(inputs, 8, gpus_per_node=8)
    two_nodes = estimate_from_inputs(inputs, 16, gpus_per_node=8)
    assert two_nodes.breakdown.optimizer_states == one_node.breakdown.optimizer_states
    mini = inputs.model_copy(update={"engine": "mini-trainer"})
    assert (
        estimate_from_inputs(mini, 16, gpus_per_node=8).breakdown.optimizer_states
        < one_node.breakdown.optimizer_states
    )


def test_liger_removes_logits_only_where_the_engine_fuses_the_loss() -> None:
    hp = {"max_tokens_per_gpu": 4096, "use_liger": True}
    for engine, zero in (("native", False), ("instructlab-training", False), ("mini-trainer", True)):
        est = estimate_from_inputs(
            EstimateInputs.from_training_params("sft", hp, LLAMA_8B_CONFIG, engine=engine), 8
        )
        assert (est.breakdown.logits == 0) is zero, engine


@pytest.mark.parametrize("algorithm, method", [("sft", "sft"), ("osft", "osft"), ("lora_sft", "lora")])
def test_native_strategy_matches_the_engine(
    monkeypatch: pytest.MonkeyPatch, algorithm: str, method: str, tmp_path: Path
) -> None:
    """The engine resolves its strategy on 8 CUDA ranks (hardware mocked); the estimator must agree."""
    import training_hub.hardware as hardware
    from training_hub.engine.config import resolve_config

    h100 = hardware.Hardware(cuda=True, capability=(9, 0), bf16=True, flash_attn=False, device_count=8)
    monkeypatch.setattr(hardware, "probe_hardware", lambda local_rank=None: h100)
    params = {"model_path": "m", "data_path": "d", "ckpt_output_dir": str(tmp_path)}
    if algorithm == "osft":
        params["unfreeze_rank_ratio"] = 0.25
    cfg = resolve_config(algorithm, params, world_size=8)
    assert cfg.bf16 and cfg.activation_checkpointing
    layout = resolved_sharding(engine_profile("native"), method, 8, "auto")
    assert ("fsdp" if layout.startswith("fsdp") else "ddp") == cfg.strategy
    est = estimate(method, model_config=LLAMA_8B_CONFIG, num_gpus=8, max_tokens_per_gpu=4096, engine="native")
    assert est.assumptions.sharding.startswith(cfg.strategy)


@pytest.mark.parametrize("method", ["sft", "lora"])
def test_native_parameter_bytes_match_the_engine_on_the_meta_device(method: str) -> None:
    """The engine's 8B model built on the meta device in the engine's weight dtype (LoRA through peft as
    the engine applies it) holds exactly the bytes the estimator's native profile counts on one GPU."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from training_hub.engine.model_setup import WEIGHT_DTYPE, _apply_lora
    from training_hub.params import LoRAParams

    values = dict(LLAMA_8B_CONFIG)
    cfg = AutoConfig.for_model(values.pop("model_type"), **values)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=getattr(torch, WEIGHT_DTYPE))
        if method == "lora":
            targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
            lora = {"lora_r": 32, "lora_alpha": 64, "lora_dropout": 0.0, "target_modules": targets}
            model = _apply_lora(model, LoRAParams(model_path="m", data_path="d", ckpt_output_dir="o", **lora))
    engine_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    est = estimate(
        method, model_config=LLAMA_8B_CONFIG, max_tokens_per_gpu=1024, engine="native", dtype="bf16"
    )
    assert est.breakdown.parameters == engine_bytes
    generic = estimate(method, model_config=LLAMA_8B_CONFIG, max_tokens_per_gpu=1024, dtype="bf16")
    assert generic.breakdown.parameters < 0.6 * engine_bytes  # the old model's 2-byte weights
