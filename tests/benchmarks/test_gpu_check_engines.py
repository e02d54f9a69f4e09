"""The GPU check reads each engine's own metrics file: loss curve, peak memory and tokens/s.

The sample files have the shapes the engines write (field names, units, extra rows), taken from their
source: instructlab-training 0.16.2 ``instructlab/training/main_ds.py`` (``metric_logger.info`` in
``train()``, the ``vars(args)`` row first) and ``logger.py`` (file name, ``timestamp``);
rhai-innovation-mini-trainer 0.9.0 ``mini_trainer/train.py`` (``batch_metrics``,
``training_metrics_{node_rank}.jsonl``); the Hugging Face Trainer's ``on_log`` rows as this repository's
unsloth callback writes them; the native engine's ``training_metrics.jsonl``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.gpu_check_engines import PROCESS_PEAK_FILE, fill_row, read_engine_metrics
from benchmarks.gpu_check_report import GIB, RunRow

pytestmark = pytest.mark.unit

TS = "2026-12-06T03:00:00.000000"


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _row(engine: str, estimate: int = 10 * GIB) -> RunRow:
    return RunRow(method="sft", engine=engine, model="m", nproc=1, status="pass", estimate_bytes=estimate)


def test_instructlab_training_rows(tmp_path: Path) -> None:
    args_row = {"model_name_or_path": "/m", "max_batch_len": 8192, "timestamp": TS}  # vars(args), no loss
    steps = [
        {
            "epoch": 0,
            "step": s,
            "rank": 0,
            "overall_throughput": 4.0 + s,
            "lr": 1e-5,
            "cuda_mem_allocated": mem,
            "cuda_malloc_retries": 0,
            "num_loss_counted_tokens": 3000,
            "num_tokens_rank0": 4096,
            "batch_size": 16,
            "num_minibatches": 1,
            "avg_loss": loss,
            "samples_seen": 16 * s,
            "gradnorm": 1.5,
            "total_samples": 256,
            "num_epoch_steps": 16,
            "timestamp": TS,
        }
        for s, loss, mem in ((1, 11.9, 7.5), (2, 11.2, 8.0), (3, 10.4, 8.0))
    ]
    _write(tmp_path / "training_params_and_metrics_global0.jsonl", [args_row, *steps])
    m = read_engine_metrics("instructlab-training", tmp_path)
    assert m.losses == [11.9, 11.2, 10.4]
    assert m.peak_bytes == int(8.0 * GIB)  # GiB (memory_allocated / 1024**3)
    # tokens of the step x samples/s / samples of the step; median after the first step
    assert m.tokens_per_second == pytest.approx(4096 * 6.5 / 16)
    row = fill_row(_row("instructlab-training"), m, gpu=True)
    assert row.status == "pass" and row.loss_falls and row.loss_finite
    assert row.ratio == pytest.approx(0.8)
    assert "allocated after step" in row.detail


def test_mini_trainer_rows(tmp_path: Path) -> None:
    steps = [
        {
            "step": s,
            "epoch": 0,
            "steps_per_epoch": 16,
            "lr": 1e-5,
            "grad_norm": 2.0,
            "loss": loss,
            "avg_loss_backward": loss,
            "num_samples": 16,
            "num_loss_counted_tokens": 3000,
            "batch_num_loss_counted_tokens": 3000,
            "num_total_tokens": 4096,
            "grad_accum": 1,
            "avg_time_per_minibatch": 0.5,
            "time_per_batch": 0.5,
            "tokens_per_second": tps,
            "total_samples_accumulated": 16 * s,
            "total_tokens_accumulated": 4096 * s,
            "samples_per_second": 32.0,
            "peak_memory_usage_GB": gb,
            "val_loss": None,
            "timestamp": TS,
        }
        for s, loss, tps, gb in (
            (1, 12.0, 1000.0, 20.0),
            (2, float("nan"), 8000.0, 21.5),
            (3, 11.0, 8200.0, 21.5),
        )
    ]
    _write(tmp_path / "training_metrics_0.jsonl", steps)
    m = read_engine_metrics("mini-trainer", tmp_path)
    assert m.peak_bytes == int(21.5e9)  # decimal GB (max_memory_allocated / 1e9)
    assert m.tokens_per_second == pytest.approx(8100.0)
    row = fill_row(_row("mini-trainer", estimate=int(18e9)), m, gpu=True)
    assert row.status == "fail"
    assert "loss not finite" in row.detail and "1.19x the estimate" in row.detail


def test_unsloth_rows_with_the_process_peak(tmp_path: Path) -> None:
    rows = [
        {"step": 1, "total_steps": 3, "epoch": 0.3, "loss": 2.5, "grad_norm": 1.0, "lr": 2e-4},
        {"step": 2, "total_steps": 3, "epoch": 0.6, "loss": 2.1, "grad_norm": 0.9, "lr": 1e-4},
        {"step": 3, "total_steps": 3, "epoch": 1.0, "loss": 1.8, "grad_norm": 0.8, "lr": 0.0},
        {
            "step": 3,
            "total_steps": 3,
            "epoch": 1.0,
            "train_runtime": 12.0,
            "train_samples_per_second": 20.0,
            "train_steps_per_second": 0.25,
            "total_flos": 1e12,
            "train_loss": 2.13,
        },
    ]
    _write(tmp_path / "training_metrics.jsonl", rows)
    (tmp_path / PROCESS_PEAK_FILE).write_text(json.dumps({"max_memory_reserved": 6 * GIB}))
    m = read_engine_metrics("unsloth", tmp_path)
    assert m.losses == [2.5, 2.1, 1.8]  # the summary row has train_loss, not loss
    assert m.peak_bytes == 6 * GIB and m.tokens_per_second is None
    row = fill_row(_row("unsloth", estimate=8 * GIB), m, gpu=True)
    assert row.status == "pass" and row.ratio == pytest.approx(0.75)
    assert "no token count" in row.detail


def test_native_rows_and_a_loss_that_does_not_fall(tmp_path: Path) -> None:
    rows = [
        {"step": s, "epoch": 0, "loss": loss, "lr": 1e-3, "tokens_per_second": tps, "peak_memory_bytes": peak}
        for s, loss, tps, peak in ((1, 5.0, 10.0, 100), (2, 5.1, 30.0, 300), (3, 5.2, 50.0, 200))
    ]
    _write(tmp_path / "training_metrics.jsonl", rows)
    m = read_engine_metrics("native", tmp_path)
    assert (m.peak_bytes, m.tokens_per_second) == (300, 40.0)
    row = fill_row(_row("native", estimate=1000), m, gpu=False)
    assert row.ratio is None  # the CPU's RSS is not compared with a GPU estimate
    assert row.status == "fail" and "loss did not fall" in row.detail


def test_a_missing_metrics_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="training_metrics_"):
        read_engine_metrics("mini-trainer", tmp_path)
