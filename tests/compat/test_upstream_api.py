"""Upstream training_hub 0.11.2's public API is a contract: checked against the published sdist.

The export list and every keyword of ``sft``/``osft``/``lora_sft``/``embedding_sft``/``estimate`` are read
from the sdist's source with ``ast`` at test time (see ``upstream.py``). Each upstream keyword is accepted,
``None`` means "not set", and a value is either honoured by the native engine or refused with an error that
names the backend that has it.
"""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

import training_hub
from tests.compat.upstream import upstream_exports, upstream_signature, upstream_source
from training_hub.compatibility import RAISES, render_markdown
from training_hub.errors import InvalidInputError
from training_hub.params import validate_params

FUNCTIONS = ("sft", "osft", "lora_sft", "embedding_sft")
REQUIRED = {"model_path": "/m", "data_path": "/d.jsonl", "ckpt_output_dir": "/o"}
#: A value for every upstream keyword that is not ours by name already (used to exercise the native check).
UPSTREAM_VALUES: dict[str, Any] = {
    "beta1": 0.85,
    "beta2": 0.98,
    "eps": 1e-6,
    "accelerate_full_state_at_epoch": False,
    "document_column_name": "text",
    "disable_flash_attn": True,
    "unmask_messages": True,
    "use_processed_dataset": True,
    "lr_scheduler_kwargs": {"num_cycles": 2},
    "save_final_checkpoint": False,
    "trust_remote_code": True,
    "micro_batch_size": 2,
    "gradient_accumulation_steps": 2,
    "load_in_8bit": True,
    "bnb_4bit_quant_type": "nf4",
    "bnb_4bit_compute_dtype": "bfloat16",
    "bnb_4bit_use_double_quant": True,
    "flash_attention": True,
    "sample_packing": False,
    "fp16": True,
    "tf32": True,
    "save_steps": 2,
    "logging_steps": 10,
    "save_total_limit": 2,
    "dataset_type": "alpaca",
    "field_messages": "conversation",
    "field_instruction": "q",
    "field_input": "ctx",
    "field_output": "a",
    "enable_model_splitting": True,
    "finetune_vision_layers": True,
    "finetune_language_layers": False,
}
#: Values the native engine cannot honour (refused, naming the backend that can).
REFUSED_ON_NATIVE = {
    "use_processed_dataset",
    "lr_scheduler_kwargs",
    "save_final_checkpoint",
    "trust_remote_code",
    "load_in_8bit",
    "bnb_4bit_quant_type",
    "bnb_4bit_compute_dtype",
    "bnb_4bit_use_double_quant",
    "flash_attention",
    "fp16",
    "tf32",
    "enable_model_splitting",
    "finetune_vision_layers",
    "finetune_language_layers",
}


@pytest.mark.unit
def test_every_upstream_export_is_importable_and_listed_with_its_status() -> None:
    exports = upstream_exports()
    namespace: dict[str, Any] = {}
    exec(f"from training_hub import {', '.join(exports)}", namespace)  # as an upstream script imports
    assert [n for n in exports if n not in namespace] == []
    assert [n for n in exports if n not in training_hub.__all__] == []
    assert set(RAISES) <= set(exports)  # the list names upstream names only
    page = render_markdown()
    for name in exports:
        row = next(line for line in page.splitlines() if line.startswith(f"| `{name}` |"))
        assert "MISSING" not in row
        assert ("cannot run here" in row) == (name in RAISES), row


@pytest.mark.unit
@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_upstream_keyword_is_a_keyword_here(function: str) -> None:
    ours = inspect.signature(getattr(training_hub, function)).parameters
    assert [k for k in upstream_signature(function) if k not in ours] == []


@pytest.mark.unit
@pytest.mark.parametrize("function", ("sft", "osft", "lora_sft"))
def test_none_for_every_upstream_keyword_is_not_set(function: str) -> None:
    values = dict.fromkeys(upstream_signature(function))
    values.update(REQUIRED)
    values.pop("callbacks")
    if function == "osft":
        values.update(unfreeze_rank_ratio=0.3, effective_batch_size=8, max_tokens_per_gpu=512)
        values.update(max_seq_len=256, learning_rate=1e-5)
    model = validate_params(function, values)
    defaults = validate_params(function, {k: v for k, v in values.items() if v is not None})
    assert model.model_dump() == defaults.model_dump()


@pytest.mark.unit
def test_upstream_estimate_signature_and_defaults() -> None:
    tree = upstream_source("profiling/memory_estimator.py")
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "estimate")
    upstream = {a.arg: ast.literal_eval(d) for a, d in zip(node.args.args, node.args.defaults, strict=True)}
    ours = inspect.signature(training_hub.estimate).parameters
    assert {k: ours[k].default for k in upstream} == upstream
    for cls_name in ("BasicEstimator", "OSFTEstimator", "LoRAEstimator", "QLoRAEstimator"):
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls_name)
        init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
        args = init.args.args[1:]
        expected = {a.arg: ast.literal_eval(d) for a, d in zip(args, init.args.defaults, strict=True)}
        params = inspect.signature(getattr(training_hub, cls_name)).parameters
        assert {k: params[k].default for k in expected} == expected, cls_name


@pytest.mark.unit
@pytest.mark.parametrize(
    ("function", "keyword"),
    [(f, k) for f in ("sft", "osft", "lora_sft") for k in upstream_signature(f) if k in UPSTREAM_VALUES],
)
def test_each_upstream_value_is_honoured_or_refused_naming_the_backend(function: str, keyword: str) -> None:
    from training_hub.backends.native import engine_params

    values: dict[str, Any] = {**REQUIRED, keyword: UPSTREAM_VALUES[keyword]}
    if function == "osft":
        values["unfreeze_rank_ratio"] = 0.3
    if keyword in REFUSED_ON_NATIVE:
        with pytest.raises(InvalidInputError) as err:
            engine_params(function, values)
        assert keyword in str(err.value)
        assert "backend=" in str(err.value) or "no backend here has it" in str(err.value)
    else:
        params = engine_params(function, values)
        assert params[keyword] == UPSTREAM_VALUES[keyword]


@pytest.mark.unit
def test_renames_set_our_parameter() -> None:
    sft = validate_params("sft", {**REQUIRED, "beta1": 0.85, "beta2": 0.98, "eps": 1e-6})
    assert (sft.adam_beta1, sft.adam_beta2, sft.adam_epsilon) == (0.85, 0.98, 1e-6)  # type: ignore[attr-defined]
    lora = validate_params("lora_sft", {**REQUIRED, "save_total_limit": 2})
    assert lora.keep_last_checkpoints == 2  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="same parameter"):
        validate_params("sft", {**REQUIRED, "beta1": 0.85, "adam_beta1": 0.9})


@pytest.mark.unit
def test_lora_batch_and_save_steps_arithmetic_as_upstream() -> None:
    m = validate_params("lora_sft", {**REQUIRED, "micro_batch_size": 2, "gradient_accumulation_steps": 3})
    assert m.effective_batch_size == 6  # type: ignore[attr-defined]
    m = validate_params("lora_sft", {**REQUIRED, "micro_batch_size": 2, "nproc_per_node": 2, "save_steps": 5})
    assert (m.effective_batch_size, m.save_samples) == (4, 20)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="disagrees"):
        validate_params("lora_sft", {**REQUIRED, "micro_batch_size": 2, "effective_batch_size": 16})


@pytest.mark.unit
def test_custom_backend_written_as_upstreams_extending_guide() -> None:
    from training_hub import AlgorithmRegistry, Backend, TrainingHubCallback, sft

    class EchoBackend(Backend):
        def __init__(self) -> None:  # upstream's registry calls backend_class()
            self.calls: list[dict[str, Any]] = []

        def execute_training(self, algorithm_params: dict[str, Any]) -> Any:
            return {"params": algorithm_params}

    AlgorithmRegistry.register_backend("sft", "echo", EchoBackend)
    try:
        callback = TrainingHubCallback()
        out = sft(**REQUIRED, num_epochs=2, beta1=0.8, backend="echo", callbacks=[callback])
        created = training_hub.create_algorithm("sft", "echo")
    finally:
        AlgorithmRegistry._backends["sft"].pop("echo")
    assert out["params"] == {**REQUIRED, "num_epochs": 2, "beta1": 0.8, "callbacks": [callback]}
    assert isinstance(created.backend, EchoBackend)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------ named differences
@pytest.mark.unit
def test_difference_backend_default_is_auto() -> None:
    assert upstream_signature("sft")["backend"] == "'instructlab-training'"
    assert inspect.signature(training_hub.sft).parameters["backend"].default == "auto"


@pytest.mark.unit
def test_difference_unknown_keywords_are_errors() -> None:
    with pytest.raises(InvalidInputError, match="did you mean 'num_epochs'"):
        training_hub.sft(**REQUIRED, max_epochs=2)


@pytest.mark.unit
def test_difference_trust_remote_code_is_refused_by_native_and_accepted_by_estimate() -> None:
    from training_hub.backends.native import engine_params

    with pytest.raises(InvalidInputError, match="trust_remote_code=True"):
        engine_params("lora_sft", {**REQUIRED, "trust_remote_code": True})
    cfg = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
    cfg.update(num_attention_heads=4, num_key_value_heads=4, vocab_size=256, max_position_embeddings=128)
    low, expected, high = training_hub.estimate(
        "sft", model_config=cfg, trust_remote_code=True, verbose=0, max_tokens_per_gpu=128
    )
    assert 0 < low <= expected <= high


@pytest.mark.unit
def test_difference_pretraining_role_trains_every_role_but_system(tmp_path: Path) -> None:
    from training_hub.data.formats import read_records

    sample = {"messages": [{"role": "pretraining", "content": "raw text"}]}
    path = tmp_path / "legacy.jsonl"
    path.write_text(json.dumps(sample) + "\n")
    _, [record] = read_records(path)
    assert record.unmask and record.messages == [{"role": "assistant", "content": "raw text"}]


@pytest.mark.unit
def test_osft_e_is_a_deprecated_alias_of_osft() -> None:
    cfg = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
    cfg.update(num_attention_heads=4, num_key_value_heads=4, vocab_size=256, max_position_embeddings=128)
    with pytest.warns(DeprecationWarning):
        old = training_hub.estimate("osft-e", model_config=cfg, verbose=0, max_tokens_per_gpu=128)
    assert tuple(old) == tuple(
        training_hub.estimate("osft", model_config=cfg, verbose=0, max_tokens_per_gpu=128)
    )


@pytest.mark.unit
def test_estimate_token_budget_is_upstreams_batch_share() -> None:
    cfg = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
    cfg.update(num_attention_heads=4, num_key_value_heads=4, vocab_size=256, max_position_embeddings=128)
    shared = training_hub.estimate(
        "sft", model_config=cfg, num_gpus=8, batch_size=64, max_seq_len=128, verbose=0
    )
    budget = training_hub.estimate("sft", model_config=cfg, num_gpus=8, max_tokens_per_gpu=1024, verbose=0)
    assert tuple(shared) == tuple(budget)  # 64 x 128 / 8 = 1024 tokens per GPU


@pytest.mark.unit
def test_compatibility_lists_are_the_sdists_and_the_page_is_current() -> None:
    from training_hub import compatibility, upstream_api

    assert list(upstream_api.UPSTREAM_EXPORTS) == upstream_exports()
    for function, keywords in upstream_api.UPSTREAM_KEYWORDS.items():
        assert list(keywords) == list(upstream_signature(function)), function
    page = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
    assert page.read_text() == compatibility.render_markdown(), (
        "run python -m training_hub.compatibility --write"
    )
    for name in compatibility.DIFFERENCES:
        assert f"`{name}`" in page.read_text()


@pytest.mark.unit
def test_lr_scheduler_kwargs_from_the_cli_is_json_text() -> None:
    m = validate_params(
        "osft", {**REQUIRED, "unfreeze_rank_ratio": 0.3, "lr_scheduler_kwargs": '{"min_lr": 1e-6}'}
    )
    assert m.lr_scheduler_kwargs == {"min_lr": 1e-6}  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="JSON"):
        validate_params("osft", {**REQUIRED, "unfreeze_rank_ratio": 0.3, "lr_scheduler_kwargs": "{min_lr"})
