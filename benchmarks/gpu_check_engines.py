"""What each engine's metrics file says about a GPU check run: the loss curve, peak memory and tokens/s.

Every engine writes its own file into ``ckpt_output_dir`` with its own field names and units; this module
reads each into one :class:`EngineMetrics`, and :func:`fill_row` turns that into the report's row the same
way for every engine. The shapes, per engine (the files and versions read):

* ``native`` / ``peft`` (this repository, ``runtime/training_hub/engine/trainer.py``):
  ``training_metrics.jsonl``, one row per optimizer step with ``loss``, ``tokens_per_second`` and
  ``peak_memory_bytes`` (``torch.cuda.max_memory_reserved()`` on a GPU, the process RSS on the CPU).
* ``instructlab-training`` (instructlab-training 0.16.2, ``instructlab/training/main_ds.py``, the
  ``metric_logger.info`` call in ``train()``; file name from ``instructlab/training/logger.py``
  ``AsyncStructuredHandler``: ``training_params_and_metrics_global{rank}.jsonl``): per step ``avg_loss``,
  ``cuda_mem_allocated`` (``torch.cuda.memory_allocated() / 1024**3`` after the optimizer step: GiB,
  *allocated now*, not a peak), ``overall_throughput`` (samples/s of the step), ``batch_size`` (samples of
  the step) and ``num_tokens_rank0`` (tokens of the step); the first row is the run's arguments (no loss).
* ``mini-trainer`` (rhai-innovation-mini-trainer 0.9.0, ``mini_trainer/train.py``, ``batch_metrics`` logged
  to ``training_metrics_{node_rank}.jsonl``): per step ``loss``, ``tokens_per_second`` and
  ``peak_memory_usage_GB`` (``torch.cuda.max_memory_allocated() / 1e9``: decimal GB, allocated peak).
* ``unsloth`` (this repository's ``training_hub.backends.unsloth.metrics_file_callback``: the Hugging
  Face Trainer's ``on_log`` rows in ``training_metrics.jsonl``): ``loss`` per logging step; the last row is
  the Trainer's summary (``train_runtime``, ``train_loss``; ``num_input_tokens_seen`` only when the Trainer
  counts tokens). No memory: the check records the training process's own
  ``torch.cuda.max_memory_reserved()`` in ``gpu_check_peak.json`` (unsloth trains in that process).

Allocated memory is below reserved memory (the caching allocator's blocks), so a ratio from an allocated
figure is a lower bound of the reserved ratio; the row's detail says which figure it is.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.gpu_check_report import RunRow, row_status

#: Written by the check's training process for engines that train in it (unsloth).
PROCESS_PEAK_FILE = "gpu_check_peak.json"


@dataclass
class EngineMetrics:
    """One run's measurements, from its engine's metrics file.

    Attributes:
        losses: Training loss per logged step, in order.
        peak_bytes: Peak GPU memory in bytes (None when the engine reports none).
        peak_kind: What ``peak_bytes`` is (``reserved peak``, ``allocated peak``, ``allocated after step``).
        tokens_per_second: Median tokens/s over the steps after the first (None when not reported).
        notes: What the file lacked.
    """

    losses: list[float] = field(default_factory=list)
    peak_bytes: int | None = None
    peak_kind: str = ""
    tokens_per_second: float | None = None
    notes: list[str] = field(default_factory=list)


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _steady(values: list[float]) -> float | None:
    """The median after the first step (which includes compilation and warm-up)."""
    if not values:
        return None
    return statistics.median(values[1:] or values)


def _first(out: Path, pattern: str) -> Path:
    files = sorted(out.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no {pattern} in {out}")
    return files[0]


def _native(out: Path) -> EngineMetrics:
    rows = [r for r in _rows(out / "training_metrics.jsonl") if "loss" in r]
    peaks = [int(r["peak_memory_bytes"]) for r in rows if r.get("peak_memory_bytes") is not None]
    return EngineMetrics(
        losses=[float(r["loss"]) for r in rows],
        peak_bytes=max(peaks) if peaks else None,
        peak_kind="reserved peak",
        tokens_per_second=_steady([float(r["tokens_per_second"]) for r in rows if "tokens_per_second" in r]),
    )


def _instructlab(out: Path) -> EngineMetrics:
    rows = [r for r in _rows(_first(out, "training_params_and_metrics_global*.jsonl")) if "avg_loss" in r]
    mem = [float(r["cuda_mem_allocated"]) for r in rows if r.get("cuda_mem_allocated") is not None]
    tps = [
        float(r["num_tokens_rank0"]) * float(r["overall_throughput"]) / float(r["batch_size"])
        for r in rows
        if r.get("overall_throughput") and r.get("batch_size") and r.get("num_tokens_rank0") is not None
    ]
    return EngineMetrics(
        losses=[float(r["avg_loss"]) for r in rows],
        peak_bytes=int(max(mem) * 1024**3) if mem else None,
        peak_kind="allocated after step (instructlab-training logs no peak)",
        tokens_per_second=_steady(tps),
    )


def _mini_trainer(out: Path) -> EngineMetrics:
    rows = [r for r in _rows(_first(out, "training_metrics_*.jsonl")) if "loss" in r]
    peaks = [float(r["peak_memory_usage_GB"]) for r in rows if r.get("peak_memory_usage_GB") is not None]
    return EngineMetrics(
        losses=[float(r["loss"]) for r in rows],
        peak_bytes=int(max(peaks) * 1e9) if peaks else None,
        peak_kind="allocated peak",
        tokens_per_second=_steady([float(r["tokens_per_second"]) for r in rows if "tokens_per_second" in r]),
    )


def _unsloth(out: Path) -> EngineMetrics:
    rows = _rows(out / "training_metrics.jsonl")
    steps = [r for r in rows if "loss" in r]
    metrics = EngineMetrics(losses=[float(r["loss"]) for r in steps])
    summary = next((r for r in reversed(rows) if "train_runtime" in r), None)
    tokens = next((r["num_input_tokens_seen"] for r in reversed(rows) if "num_input_tokens_seen" in r), None)
    if summary and tokens and float(summary["train_runtime"]) > 0:
        metrics.tokens_per_second = float(tokens) / float(summary["train_runtime"])
    else:
        metrics.notes.append("no token count in the Trainer's logs")
    peak = out / PROCESS_PEAK_FILE
    if peak.is_file():
        metrics.peak_bytes = int(json.loads(peak.read_text())["max_memory_reserved"])
        metrics.peak_kind = "reserved peak of the training process"
    else:
        metrics.notes.append(f"no {PROCESS_PEAK_FILE}")
    return metrics


_READERS = {
    "native": _native,
    "peft": _native,
    "instructlab-training": _instructlab,
    "mini-trainer": _mini_trainer,
    "unsloth": _unsloth,
}


def read_engine_metrics(engine: str, out: Path) -> EngineMetrics:
    """Read ``engine``'s metrics file in ``out`` (its ``ckpt_output_dir``).

    Raises:
        KeyError: For an engine this check does not know.
        FileNotFoundError: When the engine wrote no metrics file.
    """
    return _READERS[engine](out)


def fill_row(row: RunRow, metrics: EngineMetrics, gpu: bool) -> RunRow:
    """Put the measurements into ``row`` (memory ratio against ``row.estimate_bytes`` on a GPU) and set its
    status (:func:`~benchmarks.gpu_check_report.row_status`)."""
    losses = metrics.losses
    if not losses:
        row.status = "fail"
        row.detail = "; ".join(filter(None, [row.detail, "no loss in the metrics file"]))
        return row
    row.steps = len(losses)
    row.first_loss, row.last_loss = losses[0], losses[-1]
    row.loss_finite = all(math.isfinite(v) for v in losses)
    row.loss_falls = losses[-1] < losses[0]
    row.peak_reserved_bytes = metrics.peak_bytes
    if gpu and metrics.peak_bytes and row.estimate_bytes:
        row.ratio = metrics.peak_bytes / row.estimate_bytes
    row.tokens_per_second = metrics.tokens_per_second
    notes = list(metrics.notes)
    if metrics.peak_bytes is not None and metrics.peak_kind and metrics.peak_kind != "reserved peak":
        notes.append(f"memory: {metrics.peak_kind}")
    if not gpu:
        notes.append("CPU: peak is the process RSS, not compared with the estimate")
    row.detail = "; ".join(filter(None, [row.detail, *notes]))
    return row_status(row)
