"""Every branch of the planner, GPU product names and memory sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from training_hub.errors import InvalidInputError
from training_hub.estimator import (
    EstimateInputs,
    Plan,
    estimate_from_inputs,
    gpu_memory_for_product,
    parse_gpu_memory,
    plan,
    plan_or_raise,
    require_fit,
)
from training_hub.estimator.result import GIB

pytestmark = pytest.mark.unit


@pytest.fixture
def qwen7b(qwen7b_dir: Path) -> EstimateInputs:
    """SFT of a 7.6 B model with 4096 tokens per GPU."""
    return EstimateInputs(training_method="sft", model_path=str(qwen7b_dir), max_tokens_per_gpu=4096)


def _expected(inputs: EstimateInputs, gpus: int) -> int:
    return estimate_from_inputs(inputs, gpus).expected


def test_fits_on_one_gpu(qwen7b: EstimateInputs) -> None:
    lora = qwen7b.model_copy(update={"training_method": "lora", "use_liger": True})
    result = plan(lora, 80 * GIB)
    assert (result.nodes, result.gpus_per_node, result.total_gpus, result.fits) == (1, 1, 1, True)
    assert result.per_gpu_expected == _expected(lora, 1)
    assert result.suggestions == [] and result.estimator_version
    assert "Fewer GPUs" not in result.explanation


def test_fewest_gpus_on_one_node(qwen7b: EstimateInputs) -> None:
    result = plan(qwen7b, 80 * GIB)
    assert result.fits and result.nodes == 1
    budget = int(80 * GIB * 0.9)
    assert _expected(qwen7b, result.total_gpus) <= budget
    assert _expected(qwen7b, result.total_gpus - 1) > budget
    assert "Fewer GPUs do not fit" in result.explanation


def test_spills_to_several_full_nodes(qwen7b: EstimateInputs) -> None:
    result = plan(qwen7b, 80 * GIB, max_gpus_per_node=2)
    assert result.fits and result.nodes > 1 and result.gpus_per_node == 2
    assert result.total_gpus == result.nodes * 2


def test_fixed_layout_is_honoured(qwen7b: EstimateInputs) -> None:
    fits = plan(qwen7b, 80 * GIB, nodes=2, gpus_per_node=8)
    assert (fits.nodes, fits.gpus_per_node, fits.fits) == (2, 8, True)
    assert "Fixed by the user: nodes=2, gpus_per_node=8" in fits.explanation
    too_small = plan(qwen7b, 80 * GIB, nodes=1, gpus_per_node=1)
    assert (too_small.nodes, too_small.gpus_per_node, too_small.fits) == (1, 1, False)
    assert too_small.suggestions


def test_fixed_nodes_or_gpus_per_node_only(qwen7b: EstimateInputs) -> None:
    by_nodes = plan(qwen7b, 80 * GIB, nodes=2)
    assert by_nodes.nodes == 2 and by_nodes.fits
    assert _expected(qwen7b, 2 * (by_nodes.gpus_per_node - 1)) > int(80 * GIB * 0.9)
    by_gpn = plan(qwen7b, 80 * GIB, gpus_per_node=4)
    assert by_gpn.gpus_per_node == 4 and by_gpn.fits and by_gpn.nodes >= 1


def test_headroom_changes_the_budget(qwen7b: EstimateInputs) -> None:
    tight = plan(qwen7b, 80 * GIB, headroom=0.5)
    loose = plan(qwen7b, 80 * GIB, headroom=0.0)
    assert tight.total_gpus > loose.total_gpus
    assert tight.budget_bytes == 40 * GIB


def test_nothing_fits_gives_suggestions_that_fit(qwen7b: EstimateInputs) -> None:
    lora = qwen7b.model_copy(update={"training_method": "lora", "max_tokens_per_gpu": 32768})
    result = plan(lora, 40 * GIB, max_gpus_per_node=1, max_nodes=1)
    assert not result.fits and result.total_gpus == 1
    assert "nothing fits" in result.explanation
    text = " | ".join(result.suggestions)
    assert "max_tokens_per_gpu" in text
    tokens = int(text.split("max_tokens_per_gpu to ")[1].split()[0])
    smaller = lora.model_copy(update={"max_tokens_per_gpu": tokens})
    assert _expected(smaller, 1) <= result.budget_bytes
    assert _expected(smaller.model_copy(update={"max_tokens_per_gpu": tokens + 1}), 1) > result.budget_bytes


def test_full_fine_tuning_suggests_lora(qwen7b: EstimateInputs) -> None:
    result = plan(qwen7b, 80 * GIB, max_gpus_per_node=1, max_nodes=1)
    assert not result.fits
    assert any("LoRA adapters" in s for s in result.suggestions)
    assert not any("max_tokens_per_gpu" in s for s in result.suggestions)  # no token budget fits


def test_liger_and_checkpointing_are_suggested_when_they_fit(qwen7b: EstimateInputs) -> None:
    inputs = qwen7b.model_copy(update={"max_tokens_per_gpu": 16384})
    result = plan(inputs, 80 * GIB, max_gpus_per_node=8, max_nodes=1)
    assert not result.fits
    text = " | ".join(result.suggestions)
    assert "activation checkpointing" in text


def test_lora_suggests_qlora(qwen7b: EstimateInputs) -> None:
    lora = qwen7b.model_copy(update={"training_method": "lora", "max_tokens_per_gpu": 64})
    result = plan(lora, 15 * GIB, max_gpus_per_node=1, max_nodes=1, headroom=0.0)
    assert not result.fits
    assert any("QLoRA" in s for s in result.suggestions)


def test_impossible_request_says_so(qwen7b: EstimateInputs) -> None:
    huge = {
        "model_type": "llama",
        "hidden_size": 16384,
        "intermediate_size": 53248,
        "num_hidden_layers": 126,
        "num_attention_heads": 128,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
    }
    inputs = EstimateInputs(training_method="sft", model_config=huge, max_tokens_per_gpu=4096)
    result = plan(inputs, GIB, max_gpus_per_node=1, max_nodes=1)
    assert not result.fits
    assert len(result.suggestions) == 1 and result.suggestions[0].startswith("nothing simple fits")


def test_ddp_explains_why_more_gpus_do_not_help(qwen7b: EstimateInputs) -> None:
    ddp = qwen7b.model_copy(update={"distributed_strategy": "ddp"})
    result = plan(ddp, 80 * GIB, max_nodes=2)
    assert not result.fits and "DDP replicates" in result.explanation


def test_require_fit_and_plan_or_raise(qwen7b: EstimateInputs) -> None:
    good = plan(qwen7b, 80 * GIB)
    assert require_fit(good) is good
    with pytest.raises(InvalidInputError, match="nothing fits.*Suggestions"):
        plan_or_raise(qwen7b, 16 * GIB, max_gpus_per_node=1, max_nodes=1)
    bare = Plan.model_validate({**good.model_dump(), "fits": False, "suggestions": []})
    with pytest.raises(InvalidInputError):
        require_fit(bare)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gpu_memory_bytes": 0}, "gpu_memory_bytes"),
        ({"max_gpus_per_node": 0}, "max_gpus_per_node"),
        ({"headroom": 1.0}, "headroom"),
        ({"max_nodes": 0}, "max_nodes"),
        ({"nodes": 70}, "nodes=70"),
        ({"gpus_per_node": 9}, "gpus_per_node=9"),
    ],
)
def test_invalid_arguments(qwen7b: EstimateInputs, kwargs: dict[str, int], message: str) -> None:
    args = {"gpu_memory_bytes": 80 * GIB, **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        plan(qwen7b, **args)  # type: ignore[arg-type]


def test_gpu_products() -> None:
    assert gpu_memory_for_product("A100-80GB") == 80 * GIB
    assert gpu_memory_for_product("nvidia a100 80gb") == 80 * GIB
    assert gpu_memory_for_product("H100-SXM") == 80 * GIB
    assert gpu_memory_for_product("L40S") == 48 * GIB
    assert gpu_memory_for_product("A10G") == 24 * GIB
    assert gpu_memory_for_product("T4") == 16 * GIB
    assert gpu_memory_for_product("A100") == 40 * GIB
    # node labels (nvidia.com/gpu.product) put the form factor in the middle
    assert gpu_memory_for_product("NVIDIA-A100-SXM4-80GB") == 80 * GIB
    assert gpu_memory_for_product("NVIDIA-A100-PCIE-40GB") == 40 * GIB
    assert gpu_memory_for_product("A100-80G") == 80 * GIB
    with pytest.raises(InvalidInputError, match="unknown GPU product 'RTX-9999'.*A100-80GB"):
        gpu_memory_for_product("RTX-9999")


def test_parse_gpu_memory() -> None:
    assert parse_gpu_memory("80GiB") == 80 * GIB
    assert parse_gpu_memory("80Gi") == 80 * GIB
    assert parse_gpu_memory("24GB") == 24 * 10**9
    assert parse_gpu_memory(12345) == 12345
    assert parse_gpu_memory("H100") == 80 * GIB
    for bad in ("0", 0, "lots"):
        with pytest.raises(InvalidInputError):
            parse_gpu_memory(bad)
