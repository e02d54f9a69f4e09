"""Every parameter takes effect or is a clear error; schedules and checkpoint directories behave."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from training_hub.engine.checkpoint import (
    COMPLETE_MARKER,
    atomic_dir,
    latest_checkpoint,
    list_checkpoints,
    prune,
)
from training_hub.engine.config import resolve_config
from training_hub.engine.optim import lr_lambda
from training_hub.errors import InvalidInputError

BASE = {"model_path": "m", "data_path": "d.jsonl", "ckpt_output_dir": "out"}


@pytest.mark.unit
@pytest.mark.parametrize(
    ("algorithm", "extra", "message"),
    [
        ("sft", {"use_liger": True}, "use_liger=True needs a CUDA GPU"),
        ("lora_sft", {"load_in_4bit": True}, "needs the unsloth backend"),
        ("sft", {"bf16": True}, "bf16=True needs a CUDA GPU"),
        ("osft", {"unfreeze_rank_ratio": 0.5, "distributed_strategy": "fsdp"}, "use 'ddp' for osft"),
        ("sft", {"learning_rate": -1}, "learning_rate"),
        ("sft", {"no_such_param": 1}, "no_such_param"),
        ("osft", {}, "unfreeze_rank_ratio"),
        ("ppo", {}, "unknown algorithm"),
        ("sft", {"block_size": 4096, "max_seq_len": 512}, "block_size"),
    ],
)
def test_unusable_settings_are_invalid_input(algorithm: str, extra: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        resolve_config(algorithm, {**BASE, **extra})


@pytest.mark.unit
def test_defaults_resolve_on_cpu() -> None:
    cfg = resolve_config("sft", {**BASE, "max_seq_len": 256}, world_size=2)
    assert cfg.device_type == "cpu" and cfg.bf16 is False and cfg.strategy == "ddp"
    assert cfg.max_tokens_per_gpu == 256  # defaults to max_seq_len
    assert cfg.data_output_dir == Path("out") / "data"
    assert cfg.params.max_grad_norm == 1.0
    cfg = resolve_config("sft", {**BASE, "data_output_dir": "dd", "max_tokens_per_gpu": None})
    assert cfg.data_output_dir == Path("dd") and cfg.max_tokens_per_gpu == 2048


@pytest.mark.unit
def test_lr_schedules() -> None:
    assert [lr_lambda(s, 2, 10, "constant") for s in range(4)] == [0.5, 1.0, 1.0, 1.0]
    assert lr_lambda(2, 2, 10, "linear") == 1.0 and lr_lambda(10, 2, 10, "linear") == 0.0
    assert lr_lambda(6, 2, 10, "cosine") == pytest.approx(0.5)
    assert math.isclose(lr_lambda(10, 2, 10, "cosine"), 0.0, abs_tol=1e-12)


@pytest.mark.unit
def test_atomic_checkpoints_markers_and_pruning(tmp_path: Path) -> None:
    parent = tmp_path / "full_state"
    for n in (10, 20, 30):
        with atomic_dir(parent / f"samples_{n}") as tmp:
            (tmp / "x").write_text(str(n))
    with pytest.raises(RuntimeError), atomic_dir(parent / "samples_40") as tmp:
        (tmp / "x").write_text("half")
        raise RuntimeError("crash while writing")
    assert not (parent / "samples_40").exists() and not (parent / ".tmp-samples_40").exists()
    (parent / "samples_50").mkdir()  # no COMPLETE marker: never used
    assert latest_checkpoint(parent) == parent / "samples_30"
    assert all((p / COMPLETE_MARKER).is_file() for _, p in list_checkpoints(parent))
    removed = prune(parent, keep_last=2)
    assert removed == [parent / "samples_10"]
    assert [n for n, _ in list_checkpoints(parent)] == [20, 30]
    with atomic_dir(parent / "samples_30") as tmp:  # replacing an existing checkpoint
        (tmp / "x").write_text("new")
    assert (parent / "samples_30" / "x").read_text() == "new"


@pytest.mark.integration
def test_cli_exit_code_3_on_invalid_input(tmp_path: Path, tiny_model_dir: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": 5}\n')
    params = {
        **BASE,
        "model_path": str(tiny_model_dir),
        "data_path": str(bad),
        "ckpt_output_dir": str(tmp_path / "o"),
    }
    (tmp_path / "p.json").write_text(json.dumps(params))
    cmd = [
        sys.executable,
        "-m",
        "training_hub.engine",
        "--algorithm",
        "sft",
        "--params",
        str(tmp_path / "p.json"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3
    assert f"{bad}:2" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "training_metrics.jsonl").exists()


def test_a_restored_schedule_sets_the_next_learning_rate_from_the_new_schedule() -> None:
    import torch

    from training_hub.engine.optim import build_optimizer, build_scheduler, load_scheduler_state, lr_lambda
    from training_hub.params import SFTParams

    values = {"learning_rate": 1e-3, "adam_beta1": 0.9, "adam_beta2": 0.95, "adam_epsilon": 1e-8}
    values |= {"weight_decay": 0.0, "warmup_steps": 1, "lr_scheduler": "linear"}
    p = SFTParams(**BASE, **values)  # the engine reads the typed parameters

    def schedule(total: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        opt = build_optimizer([torch.nn.Parameter(torch.ones(2))], p)
        return opt, build_scheduler(opt, p, total)

    opt, sched = schedule(4)
    for _ in range(4):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.0  # the end of a 4-step decay
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()

    opt8, sched8 = schedule(8)  # resumed with more steps
    opt8.load_state_dict(saved_opt)
    load_scheduler_state(sched8, saved_sched)
    expected = 1e-3 * lr_lambda(4, 1, 8, "linear")
    assert sched8.last_epoch == 4 and expected > 0
    assert opt8.param_groups[0]["lr"] == pytest.approx(expected)
    assert sched8.get_last_lr() == [pytest.approx(expected)]

    opt4, sched4 = schedule(4)  # same schedule: the saved value
    opt4.load_state_dict(saved_opt)
    load_scheduler_state(sched4, saved_sched)
    assert opt4.param_groups[0]["lr"] == 0.0
