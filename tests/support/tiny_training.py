"""Training the tiny test model on the tiny chat data (shared by the runtime and reliability tests; the model
and data come from the session fixtures in ``tests/conftest.py``): engine parameters, a 2-process torchrun
launch as the API layer does it, and the metrics rows it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def tiny_engine_params(model: Path, data: Path, out: Path, **overrides: Any) -> dict[str, Any]:
    """Parameters of ``python -m training_hub.engine``: small sequences, a batch of 16, seed 3.

    Args:
        model: The tiny model's directory.
        data: A chat JSONL file.
        out: ``ckpt_output_dir``.
        **overrides: Parameters to set or replace (epochs, steps, checkpointing...).
    """
    params: dict[str, Any] = {
        "model_path": str(model),
        "data_path": str(data),
        "ckpt_output_dir": str(out),
        "effective_batch_size": 16,
        "learning_rate": 3e-3,
        "max_seq_len": 64,
        "max_tokens_per_gpu": 160,
        "seed": 3,
    }
    params.update(overrides)
    return params


def run_torchrun(
    algorithm: str, params: dict[str, Any], workdir: Path, env: dict[str, str] | None = None, nproc: int = 2
) -> subprocess.CompletedProcess[str]:
    """Launch `torchrun -m training_hub.engine` exactly as the API layer does."""
    workdir.mkdir(parents=True, exist_ok=True)
    params_file = workdir / f"{algorithm}-params.json"
    params_file.write_text(json.dumps(params))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        "--standalone",
        "-m",
        "training_hub.engine",
        "--algorithm",
        algorithm,
        "--params",
        str(params_file),
        "--callback",
        "training_hub.engine.callbacks:LogitsProbe",
        "--summary",
        str(workdir / "summary.json"),
    ]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "TRAINING_HUB_LOGITS_PROBE_DIR": str(workdir / "probe")}
    full_env.update(env or {})
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=600)


def base_params(algorithm: str, model: Path, data: Path, out: Path) -> dict[str, Any]:
    """Two epochs, at most 24 steps, a full state every 128 samples; per-algorithm settings."""
    params = tiny_engine_params(
        model, data, out, num_epochs=2, max_steps=24, warmup_steps=2, save_samples=128
    )
    if algorithm == "osft":
        params["unfreeze_rank_ratio"] = 0.5
    if algorithm == "lora_sft":
        params.update(learning_rate=1e-2, lora_r=16, lora_alpha=32, merge_adapter=True)
    return params


def read_metrics(out: Path) -> list[dict[str, Any]]:
    """The rows of ``training_metrics.jsonl`` in ``out``."""
    return [json.loads(line) for line in (out / "training_metrics.jsonl").read_text().splitlines()]


def wait_for_steps(proc: subprocess.Popen[str], out: Path, steps: int, timeout: float = 180.0) -> None:
    """Wait until the engine process ``proc``, still running, has written ``steps`` rows into ``out``.

    Raises:
        AssertionError: The process ended first (the end of its stderr in the message), or ``timeout``
            seconds passed.
    """
    metrics = out / "training_metrics.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stderr = proc.communicate()[1] or ""
            raise AssertionError(f"training ended early ({proc.returncode}): {stderr[-3000:]}")
        if metrics.exists() and len(metrics.read_text().splitlines()) >= steps:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {steps} steps within {timeout}s")
