"""The GPU check's report: its model (validated when written and when read back), JSON and Markdown.

One :class:`RunRow` per (method, engine, processes): peak memory against the estimate, throughput, model
FLOP utilisation, and whether the loss fell and stayed finite. One :class:`DefectLine` per defect of the
GPU path that only a GPU can show (``pass``, ``fail`` or ``skip`` with the reason).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GIB = 1024**3
#: Peak memory may exceed the estimate by this factor before the row fails (the planner's headroom is
#: 10%; the estimator's ``high`` adds 30% of the dynamic components).
RATIO_LIMIT = 1.15

Status = Literal["pass", "fail", "skip"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunRow(_Strict):
    """One training run of the check."""

    method: str = Field(description="sft, osft or lora_sft.")
    engine: str = Field(description="native, instructlab-training, mini-trainer or unsloth.")
    model: str = Field(description="Name of the config of real shape (random init).")
    nproc: int = Field(ge=1, description="Processes (GPUs) under torchrun.")
    status: Status
    detail: str = ""
    steps: int = 0
    tokens_per_gpu: int = 0
    peak_reserved_bytes: int | None = None
    estimate_bytes: int | None = None
    ratio: float | None = Field(None, description="peak reserved / expected estimate.")
    tokens_per_second: float | None = None
    mfu: float | None = Field(None, description="Model FLOP utilisation against the device's bf16 peak.")
    first_loss: float | None = None
    last_loss: float | None = None
    loss_falls: bool | None = None
    loss_finite: bool | None = None
    activation_checkpointing: bool | None = None
    seconds: float = 0.0


class DefectLine(_Strict):
    """One defect of the GPU path, as this machine shows it."""

    name: str
    status: Status
    detail: str


class Report(_Strict):
    """The whole report."""

    device: str
    cuda: bool
    gpus: int
    bf16_peak_tflops: float | None
    mode: Literal["gpu", "cpu"]
    seconds: float
    runs: list[RunRow]
    defects: list[DefectLine]
    environment: dict[str, str] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No run and no defect line failed."""
        return all(r.status != "fail" for r in self.runs) and all(d.status != "fail" for d in self.defects)


def row_status(row: RunRow) -> RunRow:
    """Set ``status`` from the measurements: the loss fell and stayed finite, memory within the estimate."""
    problems: list[str] = []
    if row.loss_finite is False:
        problems.append("loss not finite")
    if row.loss_falls is False:
        problems.append("loss did not fall")
    if row.ratio is not None and row.ratio > RATIO_LIMIT:
        problems.append(f"peak {row.ratio:.2f}x the estimate (limit {RATIO_LIMIT})")
    if problems:
        row.status = "fail"
        row.detail = "; ".join(filter(None, [row.detail, *problems]))
    return row


def _fmt(value: float | int | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def to_markdown(report: Report) -> str:
    """The report as Markdown tables."""
    lines = [
        f"# GPU check: {report.device}",
        "",
        f"Mode: {report.mode}; GPUs: {report.gpus}; bf16 peak: "
        f"{_fmt(report.bf16_peak_tflops, '{:.0f}')} TFLOP/s; took {report.seconds:.0f} s; "
        f"result: {'PASS' if report.ok else 'FAIL'}",
        "",
        "| method | engine | model | procs | status | peak GiB | estimate GiB | ratio | tokens/s | MFU | "
        "loss first -> last | ckpt | detail |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report.runs:
        peak = None if r.peak_reserved_bytes is None else r.peak_reserved_bytes / GIB
        est = None if r.estimate_bytes is None else r.estimate_bytes / GIB
        loss = f"{_fmt(r.first_loss, '{:.3f}')} -> {_fmt(r.last_loss, '{:.3f}')}"
        lines.append(
            f"| {r.method} | {r.engine} | {r.model} | {r.nproc} | {r.status} | {_fmt(peak, '{:.2f}')} | "
            f"{_fmt(est, '{:.2f}')} | {_fmt(r.ratio, '{:.2f}')} | {_fmt(r.tokens_per_second, '{:.0f}')} | "
            f"{_fmt(r.mfu, '{:.1%}')} | {loss} | {_fmt(r.activation_checkpointing, '{}')} | {r.detail} |"
        )
    lines += ["", "| defect | status | detail |", "|---|---|---|"]
    lines += [f"| {d.name} | {d.status} | {d.detail} |" for d in report.defects]
    return "\n".join(lines) + "\n"


def write_report(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """Write ``gpu_check.json`` and ``gpu_check.md`` into ``out_dir``; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "gpu_check.json"
    md_path = out_dir / "gpu_check.md"
    json_path.write_text(report.model_dump_json(indent=1) + "\n")
    md_path.write_text(to_markdown(report))
    return json_path, md_path


def read_report(path: Path) -> Report:
    """Read a report back, validating it."""
    return Report.model_validate(json.loads(path.read_text()))
