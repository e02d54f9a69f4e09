"""Resume after SIGKILL continues exactly (steps, samples, data order), and SIGTERM checkpoints (exit 143)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.tiny_training import base_params, read_metrics, run_torchrun
from training_hub.engine.checkpoint import COMPLETE_MARKER, latest_checkpoint

pytestmark = pytest.mark.integration


def sample_log(prefix: Path) -> dict[int, list[int]]:
    """Samples trained per step, union over ranks; a re-run step must repeat the same samples."""
    per_step: dict[int, list[int]] = {}
    for rank_file in sorted(prefix.parent.glob(prefix.name + ".rank*")):
        seen: dict[tuple[int, int], list[int]] = {}
        for line in rank_file.read_text().splitlines():
            row = json.loads(line)
            key = (row["step"], row["rank"])
            assert seen.setdefault(key, row["samples"]) == row["samples"], "a repeated step saw other samples"
        for (step, _), samples in seen.items():
            per_step.setdefault(step, []).extend(samples)
    return {k: sorted(v) for k, v in per_step.items()}


def test_resume_after_sigkill_matches_an_uninterrupted_run(
    tmp_path: Path, tiny_model_dir: Path, messages_data: Path
):
    def params(out: Path) -> dict:
        p = base_params("sft", tiny_model_dir, messages_data, out)
        p.update(max_steps=20, save_samples=96)  # full states at steps 6, 12, 18 (+16 epoch end, 20 final)
        return p

    ref = tmp_path / "ref"
    proc = run_torchrun(
        "sft", params(ref / "ckpt"), ref, env={"TRAINING_HUB_SAMPLE_LOG": str(ref / "samples")}
    )
    assert proc.returncode == 0, proc.stderr[-4000:]

    run = tmp_path / "run"
    env = {"TRAINING_HUB_SAMPLE_LOG": str(run / "samples"), "TRAINING_HUB_FAULT_KILL_AFTER_STEP": "9"}
    killed = run_torchrun("sft", params(run / "ckpt"), run, env=env)
    assert killed.returncode != 0
    ckpt = run / "ckpt"
    assert latest_checkpoint(ckpt / "full_state") == ckpt / "full_state" / "samples_96"
    assert [r["step"] for r in read_metrics(ckpt)] == list(
        range(1, 10)
    )  # steps 7..9 ran after the checkpoint
    # A half-written checkpoint (no COMPLETE marker) must be ignored on restart.
    fake = ckpt / "full_state" / "samples_999999"
    fake.mkdir()
    (fake / "trainer_state.json").write_text("{}")
    assert not (fake / COMPLETE_MARKER).exists()

    env.pop("TRAINING_HUB_FAULT_KILL_AFTER_STEP")
    resumed = run_torchrun("sft", params(ckpt), run, env=env)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resuming from" in resumed.stdout and "samples_96" in resumed.stdout

    got, want = read_metrics(ckpt), read_metrics(ref / "ckpt")
    assert [(r["step"], r["samples_seen"], r["epoch"]) for r in got] == [
        (r["step"], r["samples_seen"], r["epoch"]) for r in want
    ]
    assert [r["step"] for r in got] == list(range(1, 21))
    # Same data order, optimizer and scheduler state: the losses and learning rates continue identically.
    for a, b in zip(got, want, strict=True):
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-9)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5)
    assert sample_log(run / "samples") == sample_log(ref / "samples")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from"].endswith("samples_96") and summary["samples_seen"] == 320


def test_sigterm_saves_full_state_and_exits_143(tmp_path: Path, tiny_model_dir: Path, messages_data: Path):
    out = tmp_path / "ckpt"
    p = base_params("sft", tiny_model_dir, messages_data, out)
    p.update(num_epochs=200, max_steps=None, save_samples=0, checkpoint_at_epoch=False)
    p["enable_jit_checkpoint"] = True  # upstream's default is off
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(p))
    cmd = [sys.executable, "-m", "training_hub.engine", "--algorithm", "sft", "--params", str(params_file)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "training_metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be preempted"
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-3000:]
    assert "preempted by SIGTERM" in stderr
    last = read_metrics(out)[-1]
    state_dir = latest_checkpoint(out / "full_state")
    assert state_dir is not None and state_dir.name == f"samples_{last['samples_seen']}"
    state = json.loads((state_dir / "trainer_state.json").read_text())
    assert state["step"] == last["step"] < last["total_steps"]


def test_resume_with_more_steps_follows_the_new_schedule(
    tmp_path: Path, tiny_model_dir: Path, messages_data: Path
):
    """A run that ended (learning rate decayed to 0) resumed with a larger max_steps: the first resumed
    step uses the new schedule's learning rate, not the ended run's 0."""

    def params(out: Path, steps: int) -> dict:
        p = base_params("sft", tiny_model_dir, messages_data, out)
        p.update(max_steps=steps, save_samples=0)
        return p

    ref = tmp_path / "ref"
    assert run_torchrun("sft", params(ref / "ckpt", 8), ref, nproc=1).returncode == 0
    run = tmp_path / "run"
    first = run_torchrun("sft", params(run / "ckpt", 4), run, nproc=1)
    assert first.returncode == 0, first.stderr[-3000:]
    assert read_metrics(run / "ckpt")[-1]["step"] == 4
    more = run_torchrun("sft", params(run / "ckpt", 8), run, nproc=1)
    assert more.returncode == 0, more.stderr[-3000:]
    assert "resuming from" in more.stdout

    got, want = read_metrics(run / "ckpt"), read_metrics(ref / "ckpt")
    assert [r["step"] for r in got] == list(range(1, 9))
    assert got[4]["lr"] > 0
    for a, b in zip(got[4:], want[4:], strict=True):  # steps 5-8 are on the 8-step schedule
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-9)
