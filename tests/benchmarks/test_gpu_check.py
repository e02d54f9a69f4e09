"""``python -m benchmarks.gpu_check --allow-cpu``: the GPU check's planning, training and report code on a
tiny CPU config, run as a person would run it; its report validates and says what it measured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gpu_check import CPU_MODEL, bf16_peak_tflops
from benchmarks.gpu_check_report import RunRow, read_report, row_status
from benchmarks.gpu_check_runs import flops_per_token

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_allow_cpu_runs_and_writes_a_valid_report(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--allow-cpu", "--out", str(tmp_path)]
        + ["--work", str(tmp_path / "work")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = read_report(tmp_path / "gpu_check.json")
    assert report.mode == "cpu" and not report.cuda and report.ok
    methods = {(r.method, r.nproc) for r in report.runs}
    assert {("sft", 1), ("osft", 1), ("lora_sft", 1), ("sft", 2)} <= methods
    for row in report.runs:
        assert row.status == "pass" and row.loss_finite and row.loss_falls
        assert row.estimate_bytes and row.peak_reserved_bytes and row.tokens_per_second
    names = {d.name: d for d in report.defects}
    assert names["exit_codes_through_torchrun"].status == "pass"
    assert "sft: native" in names["auto_backend_choice"].detail
    assert "| exit_codes_through_torchrun | pass |" in (tmp_path / "gpu_check.md").read_text()


@pytest.mark.integration
def test_without_cuda_it_refuses_unless_allowed(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no CUDA GPU" in proc.stderr and "--allow-cpu" in proc.stderr
    assert not (tmp_path / "gpu_check.json").exists()


@pytest.mark.unit
def test_rows_fail_on_memory_over_the_estimate_or_a_bad_loss() -> None:
    base = {"method": "sft", "engine": "native", "model": "m", "nproc": 1, "status": "pass"}
    assert row_status(RunRow(**base, ratio=1.05, loss_falls=True, loss_finite=True)).status == "pass"
    over = row_status(RunRow(**base, ratio=1.4, loss_falls=True, loss_finite=True))
    assert over.status == "fail" and "1.40x" in over.detail
    assert row_status(RunRow(**base, loss_falls=True, loss_finite=False)).status == "fail"


@pytest.mark.unit
def test_mfu_inputs() -> None:
    assert bf16_peak_tflops("NVIDIA H100 80GB HBM3") == pytest.approx(989.4)
    assert bf16_peak_tflops("NVIDIA H100 PCIe") == pytest.approx(756.0)
    assert bf16_peak_tflops("NVIDIA H200") == pytest.approx(989.4)
    assert bf16_peak_tflops("Some GPU") is None
    assert flops_per_token(CPU_MODEL, "sft") == pytest.approx(1.5 * flops_per_token(CPU_MODEL, "lora_sft"))
