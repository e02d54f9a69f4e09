"""DPO training in the native engine: 2-process CPU learning, checkpoints, resume, LoRA-DPO, precomputed
reference log-probs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.tiny_training import read_metrics, run_torchrun
from training_hub.engine.checkpoint import latest_checkpoint

pytestmark = pytest.mark.integration


STEPS = 16


def dpo_params(model: Path, data: Path, out: Path, **overrides: Any) -> dict[str, Any]:
    """64 pairs, 8 per step, 2 epochs (16 steps), a full state every 32 pairs."""
    params: dict[str, Any] = {
        "model_path": str(model),
        "data_path": str(data),
        "ckpt_output_dir": str(out),
        "effective_batch_size": 8,
        "learning_rate": 1e-3,
        "num_epochs": 2,
        "max_seq_len": 64,
        "max_tokens_per_gpu": 160,
        "save_samples": 32,
        "beta": 0.1,
        "seed": 3,
    }
    params.update(overrides)
    return params


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, preference_data: Path):
    work = tmp_path_factory.mktemp("dpo2")
    out = work / "ckpt"
    proc = run_torchrun(
        "dpo",
        dpo_params(tiny_model_dir, preference_data, out),
        work,
        env={"TRAINING_HUB_SAMPLE_LOG": str(work / "samples")},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return work, out, proc


def test_two_processes_learn_the_preferences(two_process_run) -> None:
    work, out, proc = two_process_run
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert [r["samples_seen"] for r in rows] == [8 * s for s in range(1, STEPS + 1)]
    first = rows[0]
    # Step 1: the policy is the reference, so every reward is 0 and the loss is log 2.
    assert first["loss"] == pytest.approx(0.693147, abs=1e-5)
    assert first["rewards/margins"] == pytest.approx(0.0, abs=1e-6) and first["rewards/accuracies"] == 0.0
    last = rows[-4:]
    accuracy = sum(r["rewards/accuracies"] for r in last) / len(last)
    assert accuracy >= 0.85, [r["rewards/accuracies"] for r in rows]
    margins = [r["rewards/margins"] for r in rows]
    assert sum(margins[-4:]) / 4 > 0.3 and sum(margins[-4:]) > sum(margins[4:8]) > 0, margins
    assert sum(r["loss"] for r in last) / len(last) < 0.6
    summary = json.loads((work / "summary.json").read_text())
    assert summary["algorithm"] == "dpo" and summary["world_size"] == 2 and summary["steps"] == STEPS
    assert "[training_hub] step 16/16" in proc.stdout


def test_checkpoints_as_for_sft(two_process_run, tiny_model_dir: Path) -> None:
    import torch
    from safetensors.torch import load_file

    _, out, _ = two_process_run
    assert sorted(p.name for p in (out / "hf_format").iterdir()) == [
        "final",
        "samples_128",
        "samples_32",
        "samples_64",
        "samples_96",
    ]
    assert latest_checkpoint(out / "full_state") == out / "full_state" / "samples_128"
    state = json.loads((out / "full_state" / "samples_128" / "trainer_state.json").read_text())
    assert state["algorithm"] == "dpo" and state["num_dataset_samples"] == 64 and state["step"] == STEPS
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(out / "hf_format" / "final" / "model.safetensors"))
    assert not torch.equal(before["lm_head.weight"], after["lm_head.weight"])


def test_resume_after_sigkill_continues_like_the_uninterrupted_run(
    two_process_run, tmp_path: Path, tiny_model_dir: Path, preference_data: Path
) -> None:
    _, ref_out, _ = two_process_run
    run = tmp_path / "run"
    params = dpo_params(tiny_model_dir, preference_data, run / "ckpt")
    killed = run_torchrun("dpo", params, run, env={"TRAINING_HUB_FAULT_KILL_AFTER_STEP": "6"})
    assert killed.returncode != 0
    assert latest_checkpoint(run / "ckpt" / "full_state") == run / "ckpt" / "full_state" / "samples_32"
    resumed = run_torchrun("dpo", params, run)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resuming from" in resumed.stdout
    got, want = read_metrics(run / "ckpt"), read_metrics(ref_out)
    assert [r["step"] for r in got] == list(range(1, STEPS + 1))
    for a, b in zip(got, want, strict=True):  # the reference is still the starting weights after resume
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-9)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5)
        assert a["rewards/margins"] == pytest.approx(b["rewards/margins"], rel=1e-3, abs=1e-5)


def test_lora_dpo_trains_the_adapter_against_the_base(
    tmp_path: Path, tiny_model_dir: Path, preference_chat_data: Path
) -> None:
    import training_hub

    out = tmp_path / "lora"
    params = dpo_params(tiny_model_dir, preference_chat_data, out, use_lora=True, lora_r=8, lora_alpha=32)
    params.update(learning_rate=2e-2, lr_scheduler="constant", beta=0.5, num_epochs=3)
    params.update(save_samples=0, checkpoint_at_epoch=False)
    summary = training_hub.dpo(**params)
    rows = read_metrics(out)
    assert rows[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-6)  # adapter starts at zero: policy = base
    last = rows[-4:]
    assert sum(r["rewards/margins"] for r in last) / 4 > 0.5, [r["rewards/margins"] for r in rows]
    assert sum(r["rewards/accuracies"] for r in last) / 4 >= 0.65, [r["rewards/accuracies"] for r in rows]
    final = Path(summary["output_model_path"])
    assert (final / "adapter_config.json").is_file() and not (final / "model.safetensors").exists()


def test_precomputed_reference_log_probs_give_the_same_run(
    tmp_path: Path, tiny_model_dir: Path, preference_data: Path
) -> None:
    import training_hub

    def run(name: str, **extra: Any) -> list[dict[str, Any]]:
        params = dpo_params(tiny_model_dir, preference_data, tmp_path / name, **extra)
        params.update(max_steps=4, save_samples=0, checkpoint_at_epoch=False, loss_type="ipo")
        training_hub.dpo(**params)
        return read_metrics(tmp_path / name)

    live, pre = run("live"), run("pre", precompute_ref_log_probs=True)
    for a, b in zip(live, pre, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-6)
        assert a["rewards/chosen"] == pytest.approx(b["rewards/chosen"], rel=1e-4, abs=1e-6)


def test_plot_loss_draws_the_loss_and_the_reward_margin(two_process_run, tmp_path: Path) -> None:
    from training_hub import plot_loss
    from training_hub.visualization import read_loss_curve

    _, out, _ = two_process_run
    assert Path(plot_loss(out, output_path=tmp_path / "loss.png")).stat().st_size > 0
    margins = read_loss_curve(out, metric_keys=["rewards/margins"])
    assert margins.steps == list(range(1, STEPS + 1)) and margins.losses[-1] > margins.losses[0]
    assert Path(plot_loss(out, metric_keys=["rewards/margins"], output_path=tmp_path / "m.png")).is_file()


def test_fsdp_with_a_sharded_reference_matches_ddp(
    two_process_run, tmp_path: Path, tiny_model_dir: Path, preference_data: Path
) -> None:
    """FSDP shards the policy and the reference (collective reference forwards); on CPU over gloo the run
    equals the DDP run step for step, checkpoints included. (Launched without the test harness's rank-0
    logits probe, which FSDP cannot serve.)"""
    import os
    import subprocess

    _, ddp_out, _ = two_process_run
    out = tmp_path / "fsdp"
    out.mkdir()
    params = dpo_params(tiny_model_dir, preference_data, out / "ckpt", distributed_strategy="fsdp")
    (out / "params.json").write_text(json.dumps(params))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]
    cmd += ["-m", "training_hub.engine", "--algorithm", "dpo", "--params", str(out / "params.json")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ddp, fsdp = read_metrics(ddp_out), read_metrics(out / "ckpt")
    assert [r["step"] for r in fsdp] == list(range(1, STEPS + 1))
    for a, b in zip(ddp, fsdp, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5)
        assert a["rewards/margins"] == pytest.approx(b["rewards/margins"], rel=1e-3, abs=1e-5)
    assert (out / "ckpt" / "hf_format" / "final" / "model.safetensors").is_file()
