"""The GPU check's per-method training runs (``python -m benchmarks.gpu_check``): one row per method, model and
engine, trained under torchrun (native) or in-process (the upstream engines), measured against the estimator."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.benchlib import ROOT
from benchmarks.gpu_check_engines import PROCESS_PEAK_FILE, fill_row, read_engine_metrics
from benchmarks.gpu_check_report import RunRow

METHODS = ("sft", "osft", "lora_sft")


def flops_per_token(config: dict[str, Any], method: str) -> float:
    """Model FLOPs per trained token: 6N for full training, 4N for LoRA (no weight gradients of the base);
    recomputation is not counted (MFU counts the model's FLOPs, not the hardware's)."""
    from training_hub.estimator import count_parameters

    n = count_parameters(config)
    return (4.0 if method == "lora_sft" else 6.0) * float(n)


def run_params(method: str, model: Path, data: Path, out: Path, gpu: bool) -> dict[str, Any]:
    """The training parameters of one row."""
    params: dict[str, Any] = {
        "model_path": str(model),
        "data_path": str(data),
        "ckpt_output_dir": str(out),
        "max_seq_len": 256 if gpu else 64,
        "max_tokens_per_gpu": 8192 if gpu else 256,
        "effective_batch_size": 256 if gpu else 16,
        "learning_rate": 2e-4 if method == "lora_sft" else (5e-5 if gpu else 3e-3),
        "warmup_steps": 2,
        "max_steps": 12 if gpu else 4,
        "checkpoint_at_epoch": False,
        "save_samples": 0,
        "seed": 0,
    }
    if method == "osft":
        params["unfreeze_rank_ratio"] = 0.25
    if method == "lora_sft":
        params.update(lora_r=16, lora_alpha=32)
    return params


def _estimate(
    method: str, config: dict[str, Any], params: dict[str, Any], engine: str, gpu: bool, nproc: int
) -> Any:
    from training_hub.estimator import EstimateInputs, estimate_from_inputs

    inputs = EstimateInputs.from_training_params(method, params, config, engine=engine)
    if not gpu:
        inputs = inputs.model_copy(
            update={"dtype": "fp32", "device": "cpu", "activation_checkpointing": False}
        )
    return estimate_from_inputs(inputs, nproc, gpus_per_node=nproc)


def run_native(
    method: str,
    name: str,
    config: dict[str, Any],
    model: Path,
    data: Path,
    work: Path,
    gpu: bool,
    nproc: int,
    peak_tflops: float | None,
) -> RunRow:
    """Train one row with the native engine under torchrun and measure it."""
    from training_hub.backends.launch import TrainingProcessError, engine_command, run_command, write_params

    engine = "peft" if method == "lora_sft" else "native"
    out = work / "runs" / f"{method}-{engine}-{name}-{nproc}"
    shutil.rmtree(out, ignore_errors=True)
    params = run_params(method, model, data, out, gpu)
    est = _estimate(method, config, params, engine, gpu, nproc)
    row = RunRow(
        method=method,
        engine=engine,
        model=name,
        nproc=nproc,
        status="pass",
        tokens_per_gpu=params["max_tokens_per_gpu"],
        estimate_bytes=est.expected,
        activation_checkpointing=est.assumptions.activation_checkpointing,
    )
    start = time.time()
    argv = engine_command(method, write_params(method, params, out), {"nproc_per_node": nproc})
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    try:
        run_command(argv, log_file=out / "launch.log", env=env, output=io.StringIO())
    except TrainingProcessError as exc:
        row.status, row.detail = "fail", f"exit {exc.exit_code}: {exc.log_tail.strip().splitlines()[-1:]}"
        row.seconds = time.time() - start
        return row
    row.seconds = time.time() - start
    fill_row(row, read_engine_metrics(engine, out), gpu)
    if peak_tflops and row.tokens_per_second:
        row.mfu = row.tokens_per_second * flops_per_token(config, method) / (peak_tflops * 1e12)
    return row


def run_upstream(
    method: str,
    backend: str,
    name: str,
    config: dict[str, Any],
    model: Path,
    data: Path,
    work: Path,
    peak_tflops: float | None,
) -> RunRow:
    """Train one row with an upstream engine through the library API on one GPU and measure it from the
    engine's own metrics file (:mod:`benchmarks.gpu_check_engines`)."""
    out = work / "runs" / f"{method}-{backend}-{name}"
    shutil.rmtree(out, ignore_errors=True)
    params = run_params(method, model, data, out, True)
    if backend == "instructlab-training":
        params.pop("max_steps")  # trains whole epochs
        params["num_epochs"] = 1
    if backend == "unsloth":
        params.pop("max_tokens_per_gpu")
    est = _estimate(method, config, params, backend, True, 1)
    # unsloth trains in this process: its peak is recorded here (the others start torchrun children,
    # whose metrics files carry their memory)
    code = (
        "import json, pathlib; import training_hub as th; "
        f"p=json.loads({json.dumps(json.dumps(params))}); "
        f"th.{method}(backend={backend!r}, nproc_per_node=1, **p)\n"
        "import torch\n"
        "if torch.cuda.is_initialized():\n"
        f"    pathlib.Path(p['ckpt_output_dir'], {PROCESS_PEAK_FILE!r}).write_text("
        "json.dumps({'max_memory_reserved': torch.cuda.max_memory_reserved()}))\n"
    )
    start = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT / "runtime")},
    )
    row = RunRow(
        method=method,
        engine=backend,
        model=name,
        nproc=1,
        status="pass",
        seconds=time.time() - start,
        tokens_per_gpu=params.get("max_tokens_per_gpu", 0),
        estimate_bytes=est.expected,
        activation_checkpointing=est.assumptions.activation_checkpointing,
    )
    if proc.returncode:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:]
        row.status, row.detail = "fail", f"exit {proc.returncode}: {tail}"
        return row
    try:
        metrics = read_engine_metrics(backend, out)
    except FileNotFoundError as exc:
        row.status, row.detail = "fail", f"ran, but {exc}"
        return row
    fill_row(row, metrics, True)
    if peak_tflops and row.tokens_per_second:
        row.mfu = row.tokens_per_second * flops_per_token(config, method) / (peak_tflops * 1e12)
    return row
