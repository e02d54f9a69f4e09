"""The training engine under faults: a rank that dies or hangs, preemption and resume, an interrupted
checkpoint write. Two CPU ranks (gloo), the tiny model and data of ``tests/conftest.py``.

Complements ``tests/runtime/test_engine_resume.py`` (SIGKILL + exact resume, SIGTERM -> exit 143).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.tiny_training import read_metrics, tiny_engine_params, wait_for_steps
from training_hub.engine.checkpoint import COMPLETE_MARKER, latest_checkpoint

pytestmark = pytest.mark.integration

#: Seconds a collective may wait for a peer before the engine gives up (the engine's default is 1800).
DIST_TIMEOUT = "20"


def long_params(model: Path, data: Path, out: Path, **extra: Any) -> dict[str, Any]:
    """A run long enough to be interrupted (200 epochs, no periodic checkpoints)."""
    settings: dict[str, Any] = {"num_epochs": 200, "save_samples": 0, "checkpoint_at_epoch": False}
    return tiny_engine_params(model, data, out, **(settings | extra))


def engine_cmd(params_file: Path) -> list[str]:
    return [sys.executable, "-m", "training_hub.engine", "--algorithm", "sft", "--params", str(params_file)]


def torchrun_cmd(params_file: Path, port: int | None = None) -> list[str]:
    rdzv = ["--standalone"] if port is None else ["--master-addr=127.0.0.1", f"--master-port={port}"]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        *rdzv,
        *engine_cmd(params_file)[1:],
    ]


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {**os.environ, "OMP_NUM_THREADS": "1", "TRAINING_HUB_DIST_TIMEOUT": DIST_TIMEOUT, **(env or {})}
    return subprocess.Popen(
        cmd, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def stop_group(proc: subprocess.Popen[str]) -> None:
    """Kill what a test started (its own process group), also when the test failed."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGCONT)
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.communicate(timeout=10)


def _children(pid: int) -> list[int]:
    """Descendants of a process (Linux /proc), depth first."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                out += [int(child), *_children(int(child))]
    return out


def worker_with_rank(launcher_pid: int, rank: int) -> int:
    """Pid of the engine process with ``RANK=<rank>`` under a torchrun launcher."""
    for pid in _children(launcher_pid):
        with contextlib.suppress(OSError):
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            if f"RANK={rank}".encode() in environ and b"training_hub.engine" in cmdline:
                return pid
    raise AssertionError(f"no worker with RANK={rank}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_killed_rank_makes_the_survivor_fail_fast_with_a_retryable_code(
    tmp_path: Path, tiny_model_dir: Path, messages_data: Path
):
    # Two bare ranks (no torchrun agent to clean up): the survivor must notice on its own.
    out = tmp_path / "ckpt"
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(long_params(tiny_model_dir, messages_data, out)))
    port = str(free_port())
    procs = []
    for rank in (0, 1):
        env = {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2"}
        env |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "LOCAL_WORLD_SIZE": "2"}
        procs.append(start(engine_cmd(params_file), env))
    try:
        wait_for_steps(procs[0], out, 3)
        procs[1].kill()  # SIGKILL mid-training
        _, stderr = procs[0].communicate(timeout=int(DIST_TIMEOUT) * 4)
        assert procs[0].returncode == 4, stderr[-3000:]  # InfrastructureError: retried by the launcher
        errors = [line for line in stderr.splitlines() if line.startswith("training_hub: error:")]
        assert len(errors) == 1 and "peer" in errors[0].lower(), stderr[-3000:]
        assert "Traceback" not in stderr
    finally:
        for p in procs:
            stop_group(p)


def test_a_hung_rank_times_out_instead_of_hanging_the_job(
    tmp_path: Path, tiny_model_dir: Path, messages_data: Path
):
    # A rank that stops responding (SIGSTOP: alive, so torchrun's agent sees nothing wrong) must not hang
    # the others: the collective timeout fails rank 0, torchrun tears the job down, exit non-zero.
    out = tmp_path / "ckpt"
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(long_params(tiny_model_dir, messages_data, out)))
    proc = start(torchrun_cmd(params_file))
    try:
        wait_for_steps(proc, out, 3)
        os.kill(worker_with_rank(proc.pid, 1), signal.SIGSTOP)
        _, stderr = proc.communicate(timeout=int(DIST_TIMEOUT) * 2 + 120)
        assert proc.returncode != 0
        assert "training_hub: error:" in stderr and "timed out" in stderr.lower(), stderr[-4000:]
    finally:
        stop_group(proc)


def test_preempted_run_saves_and_the_retried_run_resumes_there(
    tmp_path: Path, tiny_model_dir: Path, messages_data: Path
):
    out = tmp_path / "ckpt"
    params_file = tmp_path / "params.json"
    params_file.write_text(
        json.dumps(long_params(tiny_model_dir, messages_data, out, max_steps=20, enable_jit_checkpoint=True))
    )
    proc = start(torchrun_cmd(params_file))
    try:
        wait_for_steps(proc, out, 4)
        proc.send_signal(signal.SIGTERM)  # torchrun forwards it to both ranks, as a pod deletion does
        _, stderr = proc.communicate(timeout=180)
    finally:
        stop_group(proc)
    assert proc.returncode != 0, "a preempted run is not a success"
    assert "preempted by SIGTERM" in stderr, stderr[-3000:]
    saved = latest_checkpoint(out / "full_state")
    assert saved is not None
    state = json.loads((saved / "trainer_state.json").read_text())
    preempted_step = state["step"]
    assert [r["step"] for r in read_metrics(out)] == list(range(1, preempted_step + 1))

    retry = start(torchrun_cmd(params_file))  # the retried pod: same command, same output directory
    try:
        stdout, stderr = retry.communicate(timeout=300)
    finally:
        stop_group(retry)
    assert retry.returncode == 0, stderr[-3000:]
    assert "resuming from" in stdout and saved.name in stdout
    steps = [r["step"] for r in read_metrics(out)]
    assert steps == list(range(1, 21)), "every step exactly once across the preemption"


def test_a_checkpoint_interrupted_while_written_is_never_used(
    tmp_path: Path, tiny_model_dir: Path, messages_data: Path
):
    out = tmp_path / "ckpt"
    params_file = tmp_path / "params.json"
    params = long_params(tiny_model_dir, messages_data, out, max_steps=12, save_samples=64)
    params_file.write_text(json.dumps(params))
    # Killed (SIGKILL) inside the 4th commit (hf 64, state 64, hf 128, *state 128*): files written, no COMPLETE.
    crashed = start(engine_cmd(params_file), {"TRAINING_HUB_FAULT_KILL_IN_CHECKPOINT": "4"})
    try:
        crashed.communicate(timeout=300)
    finally:
        stop_group(crashed)
    assert crashed.returncode == -signal.SIGKILL
    partial = [p for p in (out / "full_state").iterdir() if p.name.startswith(".tmp-")]
    partial += [p for p in (out / "hf_format").iterdir() if p.name.startswith(".tmp-")]
    assert partial and all(not (p / COMPLETE_MARKER).exists() for p in partial)
    assert any((p / "model.pt").exists() or (p / "config.json").exists() for p in partial), "was mid-write"
    complete = latest_checkpoint(out / "full_state")
    assert complete is not None and (complete / COMPLETE_MARKER).exists()

    resumed = start(engine_cmd(params_file))
    try:
        stdout, stderr = resumed.communicate(timeout=300)
    finally:
        stop_group(resumed)
    assert resumed.returncode == 0, stderr[-3000:]
    assert f"resuming from {complete}" in stdout or complete.name in stdout
    assert [r["step"] for r in read_metrics(out)] == list(range(1, 13))
    leftovers = [
        p.name for d in ("full_state", "hf_format") for p in (out / d).iterdir() if p.name.startswith(".tmp-")
    ]
    assert leftovers == [], "stale temporaries are removed"
