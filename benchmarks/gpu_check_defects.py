"""The GPU check's defect lines (``python -m benchmarks.gpu_check``): one named pass/fail/skip line per defect of
the GPU path that only a GPU shows (exit codes through torchrun, dtypes and attention, CUDA contexts, Triton,
FSDP mixed precision, the NCCL watchdog), and what ``backend='auto'`` picks."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.benchlib import ROOT
from benchmarks.gpu_check_report import DefectLine
from benchmarks.gpu_check_runs import METHODS


def defect_exit_codes(work: Path) -> DefectLine:
    """Bad input under torchrun comes back as exit code 3, not torchrun's 1."""
    from training_hub.backends.launch import TrainingProcessError, engine_command, run_command

    d = work / "defect-exit"
    d.mkdir(parents=True, exist_ok=True)
    (d / "params.json").write_text("[]")
    try:
        run_command(
            engine_command("sft", d / "params.json", {"nproc_per_node": 1}),
            log_file=d / "launch.log",
            output=io.StringIO(),
        )
    except TrainingProcessError as exc:
        ok = exc.exit_code == 3
        return DefectLine(
            name="exit_codes_through_torchrun",
            status="pass" if ok else "fail",
            detail=f"torchrun exited {exc.launcher_returncode}; the run reports {exc.exit_code} (want 3)",
        )
    return DefectLine(name="exit_codes_through_torchrun", status="fail", detail="bad input did not fail")


def defect_precision(hw: Any) -> list[DefectLine]:
    """dtype/attention choice on this GPU; bf16 asked without emulation."""
    from training_hub.engine.precision import choose_precision

    p = choose_precision(hw, None, None)
    want_flash = hw.flash_attn_usable and hw.bf16
    ok = (p.attention == "flash_attention_2") == want_flash and p.bf16 == hw.bf16
    return [
        DefectLine(
            name="dtype_and_attention",
            status="pass" if ok else "fail",
            detail=f"{hw.describe()}: bf16={p.bf16}, attention={p.attention}",
        )
    ]


def defect_no_context_on_gpu0(hw: Any) -> DefectLine:
    """The probe on LOCAL_RANK=N-1 creates no CUDA context on GPU 0 (checked with nvidia-smi)."""
    name = "no_cuda_context_before_set_device"
    if hw.device_count < 2 or shutil.which("nvidia-smi") is None:
        return DefectLine(name=name, status="skip", detail="needs 2+ GPUs and nvidia-smi")
    code = (
        "import os,subprocess,time; from training_hub.hardware import probe_hardware; probe_hardware(); "
        "import torch; torch.ones(1, device='cuda'); "
        "out=subprocess.run(['nvidia-smi','--query-compute-apps=pid,gpu_bus_id','--format=csv,noheader'],"
        "capture_output=True,text=True).stdout; "
        "bus=subprocess.run(['nvidia-smi','--query-gpu=index,pci.bus_id','--format=csv,noheader'],"
        "capture_output=True,text=True).stdout; print(os.getpid()); print(out); print(bus)"
    )
    env = {**os.environ, "LOCAL_RANK": str(hw.device_count - 1), "PYTHONPATH": str(ROOT / "runtime")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    lines = proc.stdout.splitlines()
    if proc.returncode or not lines:
        return DefectLine(name=name, status="fail", detail=proc.stderr[-300:])
    pid = lines[0].strip()
    gpu0 = next((ln.split(",")[1].strip() for ln in lines if ln.startswith("0,")), "")
    on0 = any(ln.startswith(pid + ",") and gpu0 and gpu0 in ln for ln in lines[1:])
    return DefectLine(
        name=name,
        status="fail" if on0 else "pass",
        detail="context found on GPU 0" if on0 else f"rank {hw.device_count - 1} touched only its GPU",
    )


def defect_triton() -> DefectLine:
    """Triton compiles its launcher (needs gcc and Python headers in the image)."""
    name = "triton_compiles_a_kernel"
    try:
        import triton  # noqa: F401
    except ImportError:
        return DefectLine(name=name, status="skip", detail="triton not installed")
    code = (
        "import torch, triton, triton.language as tl\n"
        "@triton.jit\n"
        "def k(x, n: tl.constexpr):\n"
        "    i = tl.arange(0, n)\n"
        "    tl.store(x + i, tl.load(x + i) + 1)\n"
        "t = torch.zeros(16, device='cuda'); k[(1,)](t, 16); torch.cuda.synchronize(); assert t.sum() == 16\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    return DefectLine(
        name=name,
        status="pass" if proc.returncode == 0 else "fail",
        detail="compiled and ran" if proc.returncode == 0 else proc.stderr.strip()[-300:],
    )


def defect_torchrun_worker(
    script: str, name: str, nproc: int, check: Any, work: Path, timeout: int = 180
) -> DefectLine:
    """Run a worker under torchrun with ``nproc`` GPUs and judge its output with ``check``."""
    d = work / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'runtime'}:{ROOT}",
        "TRAINING_HUB_EXIT_CODE_DIR": str(d / "codes"),
    }
    argv = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={nproc}",
        "--standalone",
        str(ROOT / "benchmarks" / script),
        str(d / "out.json"),
        "--cuda",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    status, detail = check(proc, d)
    return DefectLine(name=name, status=status, detail=detail)


def _fsdp_check(proc: Any, d: Path) -> tuple[str, str]:
    if proc.returncode != 0:
        return "fail", proc.stderr.strip()[-300:]
    r = json.loads((d / "out.json").read_text())
    ok = r["policy"] < 0.4 * r["autocast_only"]
    return (
        "pass" if ok else "fail"
    ), f"bf16 bytes kept after forward: {r['policy']} with the policy, {r['autocast_only']} without"


def _nccl_check(proc: Any, d: Path) -> tuple[str, str]:
    from training_hub.pod.exit_codes import recorded_exit_code

    code = recorded_exit_code(str(d / "codes"), proc.returncode)
    return ("pass" if code == 4 else "fail"), f"torchrun {proc.returncode}; ranks recorded {code} (want 4)"


def defect_auto(hw: Any) -> DefectLine:
    """What ``backend='auto'`` picks here for each method, and why."""
    from training_hub.algorithms.builtin import register_builtin
    from training_hub.backends.selection import select_backend

    register_builtin()
    base = {"model_path": "m", "data_path": "d", "ckpt_output_dir": "o", "unfreeze_rank_ratio": 0.25}
    parts = []
    for method in METHODS:
        params = {k: v for k, v in base.items() if method == "osft" or k != "unfreeze_rank_ratio"}
        choice = select_backend(method, params, hw)
        parts.append(f"{method}: {choice.name} ({choice.reason})")
    return DefectLine(name="auto_backend_choice", status="pass", detail="; ".join(parts))


def defect_lines(hw: Any, work: Path) -> list[DefectLine]:
    """Every defect line for the hardware ``hw`` (the GPU-only ones skipped without CUDA), scratch under ``work``."""
    defects = [defect_exit_codes(work), defect_auto(hw)]
    gpu = hw.cuda
    if gpu:
        defects += defect_precision(hw)
        defects.append(defect_no_context_on_gpu0(hw))
        defects.append(defect_triton())
        if hw.device_count >= 2:
            defects.append(
                defect_torchrun_worker(
                    "gpu_check_fsdp_worker.py", "fsdp_mixed_precision", 2, _fsdp_check, work
                )
            )
            defects.append(
                defect_torchrun_worker(
                    "gpu_check_nccl_worker.py", "nccl_watchdog_exit_code", 2, _nccl_check, work
                )
            )
        else:
            for name in ("fsdp_mixed_precision", "nccl_watchdog_exit_code"):
                defects.append(DefectLine(name=name, status="skip", detail="needs 2+ GPUs"))
    else:
        defects.append(
            DefectLine(
                name="gpu_only_lines",
                status="skip",
                detail="dtype_and_attention, no_cuda_context_before_set_device, "
                "triton_compiles_a_kernel, fsdp_mixed_precision, nccl_watchdog_exit_code need CUDA",
            )
        )
    return defects
