"""Parameter translation of the upstream-engine adapters (pure functions; no GPU, no upstream package)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.tiny_training import read_metrics
from training_hub.backends import instructlab, mini_trainer, unsloth
from training_hub.errors import InvalidInputError

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("no_launcher_env")]

BASE = {"model_path": "/models/m", "data_path": "/data/d.jsonl", "ckpt_output_dir": "/out"}


# instructlab-training -----------------------------------------------------------------------------------


def test_instructlab_names_and_defaults() -> None:
    out = instructlab.translate(
        {
            **BASE,
            "max_tokens_per_gpu": 4096,
            "seed": 7,
            "adam_beta1": 0.8,
            "adam_beta2": 0.99,
            "adam_epsilon": 1e-6,
            "weight_decay": 0.1,
            "effective_batch_size": 32,
            "learning_rate": 1e-5,
            "keep_last_checkpoints": 1,
            "overlong_policy": "drop",
            "nproc_per_node": 4,
        }
    )
    args = out["train_args"]
    assert args["max_batch_len"] == 4096 and "max_tokens_per_gpu" not in args
    assert args["random_seed"] == 7 and "seed" not in args
    assert (
        args["adamw_betas"] == (0.8, 0.99) and args["adamw_eps"] == 1e-6 and args["adamw_weight_decay"] == 0.1
    )
    assert args["effective_batch_size"] == 32 and args["learning_rate"] == 1e-5
    assert args["keep_last_checkpoint_only"] is True
    assert args["data_output_dir"] == "/out/data" and args["model_path"] == "/models/m"
    assert out["torch_args"] == {"nproc_per_node": 4, "nnodes": 1, "node_rank": 0, "rdzv_id": 0}


def test_instructlab_max_batch_len_defaults_to_max_seq_len_and_pretraining_config() -> None:
    out = instructlab.translate({**BASE, "max_seq_len": 512, "is_pretraining": True, "block_size": 256})
    assert out["train_args"]["max_batch_len"] == 512
    assert out["train_args"]["pretraining_config"] == {"block_size": 256}


def test_instructlab_rejects_what_it_cannot_honour_all_at_once() -> None:
    with pytest.raises(InvalidInputError) as err:
        instructlab.translate(
            {
                **BASE,
                "lr_scheduler": "linear",
                "max_steps": 10,
                "distributed_strategy": "ddp",
                "keep_last_checkpoints": 3,
            }
        )
    text = str(err.value)
    for name in (
        "lr_scheduler='linear'",
        "max_steps=10",
        "distributed_strategy='ddp'",
        "keep_last_checkpoints=3",
    ):
        assert name in text
    assert "backend='native'" in text


def test_instructlab_unset_defaults_it_cannot_honour_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="training_hub")
    out = instructlab.translate(dict(BASE))
    assert any("overlong_policy" in note for note in out["notes"])
    assert "drops samples longer than max_seq_len" in caplog.text


# mini-trainer -------------------------------------------------------------------------------------------


def test_mini_trainer_renames() -> None:
    params: dict[str, Any] = {
        **BASE,
        "unfreeze_rank_ratio": 0.25,
        "target_patterns": ["q_proj"],
        "warmup_steps": 5,
        "num_epochs": 3,
        "effective_batch_size": 16,
        "use_liger": False,
        "save_samples": 64,
        "overlong_policy": "drop",
    }
    args = mini_trainer.translate(params)["train_args"]
    expected = {
        "num_warmup_steps": 5,
        "osft_target_patterns": ["q_proj"],
        "osft_unfreeze_rank_ratio": 0.25,
        "max_epochs": 3,
        "batch_size": 16,
        "output_dir": "/out",
        "model_name_or_path": "/models/m",
        "use_liger_kernels": False,
        "min_samples_per_checkpoint": 64,
        "osft": True,
        "training_mode": "epoch",
        "data_path": "/out/data/data.jsonl",
        "max_tokens_per_gpu": 2048,
    }
    assert {k: args[k] for k in expected} == expected
    for old in (
        "warmup_steps",
        "target_patterns",
        "unfreeze_rank_ratio",
        "num_epochs",
        "effective_batch_size",
    ):
        assert old not in args


def test_mini_trainer_step_mode_and_data_processing() -> None:
    out = mini_trainer.translate(
        {**BASE, "unfreeze_rank_ratio": 0.5, "max_steps": 20, "data_output_dir": "/fast"},
        processed_data_path="/p.jsonl",
    )
    assert out["train_args"]["training_mode"] == "step" and out["train_args"]["max_steps"] == 20
    assert out["train_args"]["data_path"] == "/p.jsonl"
    assert out["data_processing"]["data_output_path"] == "/fast"
    assert "osft_target_patterns" not in out["train_args"]  # engine picks its default


def test_mini_trainer_refuses_adamw_settings_it_would_drop() -> None:
    with pytest.raises(InvalidInputError) as err:
        mini_trainer.translate({**BASE, "unfreeze_rank_ratio": 0.5, "adam_beta1": 0.8, "weight_decay": 0.01})
    assert "adam_beta1=0.8" in str(err.value) and "weight_decay=0.01" in str(err.value)
    # The values mini-trainer uses anyway are accepted when set explicitly.
    mini_trainer.translate(
        {**BASE, "unfreeze_rank_ratio": 0.5, "adam_beta2": 0.95, "overlong_policy": "drop"}
    )


# unsloth ------------------------------------------------------------------------------------------------


def test_unsloth_lora_and_trl_names() -> None:
    out = unsloth.translate(
        {
            **BASE,
            "lora_r": 8,
            "lora_alpha": 16,
            "lora_dropout": 0.05,
            "target_modules": ["q_proj", "v_proj"],
            "effective_batch_size": 24,
            "max_seq_len": 1024,
            "keep_last_checkpoints": 2,
            "merge_adapter": True,
            "max_grad_norm": 0.5,
        }
    )
    assert out["peft"]["r"] == 8 and out["peft"]["lora_alpha"] == 16 and out["peft"]["lora_dropout"] == 0.05
    assert out["peft"]["target_modules"] == ["q_proj", "v_proj"] and out["peft"]["random_state"] == 42
    assert out["model"] == {
        "model_name": "/models/m",
        "max_seq_length": 1024,
        "load_in_4bit": False,
        "dtype": None,
    }
    cfg = out["sft_config"]
    assert cfg["per_device_train_batch_size"] * cfg["gradient_accumulation_steps"] == 24
    assert cfg["per_device_train_batch_size"] == 8
    assert cfg["max_length"] == 1024 and cfg["packing"] is True  # upstream: sample_packing on
    assert "assistant_only_loss" not in cfg  # upstream: the whole conversation trains
    assert cfg["num_train_epochs"] == 3 and cfg["learning_rate"] == 2e-4  # LoRA defaults
    assert cfg["save_total_limit"] == 2 and cfg["save_strategy"] == "epoch" and cfg["max_grad_norm"] == 0.5
    assert out["save_merged"] is True


def test_unsloth_save_samples_becomes_steps() -> None:
    cfg = unsloth.translate({**BASE, "effective_batch_size": 8, "save_samples": 32})["sft_config"]
    assert cfg["save_strategy"] == "steps" and cfg["save_steps"] == 4


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"max_tokens_per_gpu": 1024}, "max_tokens_per_gpu=1024"),
        ({"nproc_per_node": 2}, "one process"),
        ({"is_pretraining": True}, "is_pretraining=True"),
        ({"overlong_policy": "drop"}, "overlong_policy='drop'"),
        ({"effective_batch_size": 8, "save_samples": 12}, "multiple of"),
        ({"distributed_strategy": "fsdp"}, "distributed_strategy='fsdp'"),
    ],
)
def test_unsloth_rejects_what_it_cannot_honour(extra: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidInputError, match="backend='peft'") as err:
        unsloth.translate({**BASE, **extra})
    assert needle in str(err.value)


def test_micro_batch_divides_effective_batch() -> None:
    assert [unsloth.micro_batch(n) for n in (1, 7, 12, 64, 13)] == [1, 7, 6, 8, 1]


@pytest.mark.unit
def test_unsloth_writes_the_metrics_file_with_the_engines_field_names(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from training_hub.visualization import read_loss_curve

    callback = unsloth.metrics_file_callback(str(tmp_path))
    for step, loss in ((1, 2.5), (2, 2.0)):
        state = SimpleNamespace(global_step=step, max_steps=2, epoch=step / 2, is_world_process_zero=True)
        callback.on_log(None, state, None, logs={"loss": loss, "learning_rate": 1e-4, "grad_norm": 0.5})
    callback.on_log(
        None,
        SimpleNamespace(global_step=2, max_steps=2, epoch=1.0, is_world_process_zero=True),
        None,
        logs={"eval_loss": 2.2},
    )
    rows = read_metrics(tmp_path)
    assert [(r["step"], r.get("loss"), r.get("lr")) for r in rows[:2]] == [(1, 2.5, 1e-4), (2, 2.0, 1e-4)]
    assert rows[2]["eval_loss"] == 2.2
    curve = read_loss_curve(tmp_path)
    assert list(curve.losses) == [2.5, 2.0] and list(curve.eval_losses) == [2.2]


# upstream training_hub 0.11.2's engine keywords -----------------------------------------------------------


def test_instructlab_gets_upstreams_sft_keywords() -> None:
    out = instructlab.translate(
        {
            **BASE,
            "beta1": 0.8,
            "eps": 1e-6,
            "disable_flash_attn": True,
            "accelerate_full_state_at_epoch": False,
            "is_pretraining": True,
            "block_size": 512,
            "document_column_name": "text",
        }
    )["train_args"]
    assert out["adamw_betas"] == (0.8, 0.95) and out["adamw_eps"] == 1e-6
    assert out["disable_flash_attn"] is True and out["accelerate_full_state_at_epoch"] is False
    assert out["pretraining_config"] == {"block_size": 512, "document_column_name": "text"}
    unset = instructlab.translate(dict(BASE))["train_args"]
    assert "disable_flash_attn" not in unset and "accelerate_full_state_at_epoch" not in unset


def test_mini_trainer_leaves_unset_keywords_to_its_own_defaults_as_upstream() -> None:
    args = mini_trainer.translate({**BASE, "unfreeze_rank_ratio": 0.25})["train_args"]
    assert (
        "train_dtype" not in args and "checkpoint_at_epoch" not in args and "lr_scheduler_kwargs" not in args
    )
    args = mini_trainer.translate(
        {
            **BASE,
            "unfreeze_rank_ratio": 0.25,
            "bf16": True,
            "checkpoint_at_epoch": True,
            "lr_scheduler_kwargs": {"min_lr": 1e-7},
            "save_final_checkpoint": False,
        }
    )["train_args"]
    assert args["train_dtype"] == "bfloat16" and args["checkpoint_at_epoch"] is True
    assert args["lr_scheduler_kwargs"] == {"min_lr": 1e-7} and args["save_final_checkpoint"] is False


def test_mini_trainer_processed_dataset_and_unmask_messages(tmp_path: Path) -> None:
    out = mini_trainer.translate({**BASE, "unfreeze_rank_ratio": 0.25, "use_processed_dataset": True})
    assert out["train_args"]["data_path"] == "/data/d.jsonl" and out["data_processing"]["skip"] is True
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    processing = {"data_path": str(data), "data_output_path": str(tmp_path)}
    copy = Path(mini_trainer.unmasked_copy(processing))
    assert json.loads(copy.read_text())["unmask"] is True


def test_upstream_engines_take_hub_callbacks_only() -> None:
    from training_hub import TrainingHubCallback
    from training_hub.backends.engine_limits import hub_callbacks_only

    hub = TrainingHubCallback()
    assert hub_callbacks_only("mini-trainer", [hub]) == [hub]
    with pytest.raises(InvalidInputError, match="TrainingHubCallback instances only"):
        hub_callbacks_only("instructlab-training", [hub, object()])


def test_unsloth_gets_upstreams_lora_keywords() -> None:
    out = unsloth.translate(
        {
            **BASE,
            "micro_batch_size": 2,
            "gradient_accumulation_steps": 4,
            "load_in_8bit": True,
            "logging_steps": 10,
            "sample_packing": False,
            "fp16": True,
            "save_steps": 5,
            "save_total_limit": 3,
            "field_messages": "conversation",
        }
    )
    cfg = out["sft_config"]
    assert (cfg["per_device_train_batch_size"], cfg["gradient_accumulation_steps"]) == (2, 4)
    assert cfg["logging_steps"] == 10 and cfg["packing"] is False and cfg["fp16"] is True and not cfg["bf16"]
    assert (cfg["save_strategy"], cfg["save_steps"], cfg["save_total_limit"]) == ("steps", 5, 3)
    assert out["model"]["load_in_8bit"] is True and out["data"]["keys"]["messages"] == "conversation"
    with pytest.raises(InvalidInputError, match="finetune_vision_layers"):
        unsloth.translate({**BASE, "finetune_vision_layers": True})
