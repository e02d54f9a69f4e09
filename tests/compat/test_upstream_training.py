"""Upstream keyword lists train a step on the native engine (CPU, tiny model), and the keywords that change
training show their effect in what the run wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import training_hub
from tests.compat.upstream import upstream_signature
from tests.support.tiny_training import read_metrics

pytestmark = pytest.mark.integration


def _paths(model: Path, data: Path, out: Path) -> dict[str, str]:
    """The three path keywords every upstream training function takes."""
    return {"model_path": str(model), "data_path": str(data), "ckpt_output_dir": str(out)}


def _rename_keys(source: Path, target: Path, renames: dict[str, str], n: int = 64) -> Path:
    lines = source.read_text().splitlines()[:n]
    target.write_text(
        "".join(
            json.dumps({renames.get(k, k): v for k, v in json.loads(line).items()}) + "\n" for line in lines
        )
    )
    return target


@pytest.mark.parametrize("function", ["sft", "osft", "lora_sft"])
def test_upstream_keyword_list_all_none_trains_a_step(
    function: str, tiny_model_dir: Path, messages_data: Path, tmp_path: Path
) -> None:
    values: dict[str, Any] = dict.fromkeys(upstream_signature(function))
    values.pop("callbacks")
    out = tmp_path / "out"
    values.update(_paths(tiny_model_dir, messages_data, out))
    values.update(effective_batch_size=8, max_tokens_per_gpu=160, max_seq_len=64, learning_rate=1e-3)
    if function == "osft":
        values["unfreeze_rank_ratio"] = 0.5
    result = getattr(training_hub, function)(**values, max_steps=1)
    assert [r["step"] for r in read_metrics(out)] == [1]
    assert (out / "hf_format" / "final").is_dir()
    if function == "osft":  # upstream's OSFT scripts glob hf_format/samples_*.0 (mini-trainer's names)
        newest = max((out / "hf_format").glob("samples_*.0"), key=lambda p: p.stat().st_ctime)
        assert newest.name == f"samples_{result['samples_seen']}.0"
        assert (newest / "config.json").is_file() and (newest / "model.safetensors").is_file()


def test_lora_upstream_batch_saves_and_alpaca_field_mapping(
    tiny_model_dir: Path, alpaca_data: Path, tmp_path: Path
) -> None:
    data = _rename_keys(
        alpaca_data, tmp_path / "qa.jsonl", {"instruction": "q", "input": "ctx", "output": "a"}
    )
    out = tmp_path / "out"
    result = training_hub.lora_sft(
        **_paths(tiny_model_dir, data, out),
        dataset_type="alpaca",
        field_instruction="q",
        field_input="ctx",
        field_output="a",
        micro_batch_size=4,
        gradient_accumulation_steps=2,
        save_steps=1,
        save_total_limit=1,
        logging_steps=10,
        sample_packing=True,
        max_seq_len=64,
        max_steps=2,
        backend="peft",
    )
    assert result["trainer"] is None and type(result["model"]).__name__ == "PeftModelForCausalLM"
    assert result["tokenizer"].eos_token_id is not None
    rows = read_metrics(out)
    assert [r["num_samples"] for r in rows] == [8, 8]  # micro 4 x accumulation 2 x 1 process
    # Alpaca as upstream's LoRA trains it: one "### Instruction ... ### Response" text, every token trained
    # (the first token of each sample has no prediction).
    assert all(r["trained_tokens"] >= r["tokens"] - r["num_samples"] for r in rows)
    # Difference: logging_steps does not thin the metrics file (every step is logged).
    assert [r["step"] for r in rows] == [1, 2]
    kept = sorted(p.name for p in (out / "hf_format").iterdir() if p.name.startswith("samples_"))
    assert kept == ["samples_16"]  # save_steps=1 saved each step; save_total_limit=1 kept the newest
    # Upstream's layout: the adapter at the output root, checkpoint-<step>/ beside it.
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    assert (out / "checkpoint-2" / "adapter_model.safetensors").is_file()


def test_sft_document_column_name_and_full_state_difference(
    tiny_model_dir: Path, document_data: Path, tmp_path: Path
) -> None:
    data = _rename_keys(document_data, tmp_path / "docs.jsonl", {"document": "text"})
    out = tmp_path / "out"
    training_hub.sft(
        **_paths(tiny_model_dir, data, out),
        is_pretraining=True,
        block_size=64,
        max_seq_len=64,
        document_column_name="text",
        accelerate_full_state_at_epoch=False,
        beta1=0.8,
        beta2=0.99,
        eps=1e-6,
        effective_batch_size=8,
        max_steps=1,
        backend="native",
    )
    assert read_metrics(out)[0]["trained_tokens"] > 0
    # Difference: the resumable full state is saved whatever accelerate_full_state_at_epoch says.
    assert any((out / "full_state").iterdir())
    state = json.loads(next((out / "full_state").glob("samples_*/*.json")).read_text())
    assert state  # the state directory is complete (its metadata is written)


# The calls spell out upstream's keywords (the paths aside), as a script written for upstream does.
def test_difference_sample_packing_trains_the_same(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path
) -> None:
    losses = []
    for packing in (True, False):
        out = tmp_path / f"packing-{packing}"
        training_hub.lora_sft(
            **_paths(tiny_model_dir, messages_data, out),
            sample_packing=packing,
            effective_batch_size=8,
            max_seq_len=64,
            max_steps=1,
            backend="peft",
        )
        losses.append(read_metrics(out)[0]["loss"])
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_osft_unmask_messages_trains_every_role_but_system(
    tiny_tokenizer_dir: Path, messages_data: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    from training_hub.data import prepare_dataset
    from training_hub.data.options import data_options

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    targets = []
    for unmask in (None, True):
        options = data_options({"data_format": "auto", "unmask_roles": None, "unmask_messages": unmask})
        dataset, _ = prepare_dataset(messages_data, tokenizer, max_seq_len=64, **options)
        targets.append(int(sum(dataset.num_targets)))
    assert targets[1] > targets[0] > 0
