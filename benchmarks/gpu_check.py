"""The prepared GPU check: ``python -m benchmarks.gpu_check`` (or ``make gpu-check``) on a CUDA box.

One command, no downloads: models are built from configs of real shapes (Qwen2.5-0.5B, Llama-3.2-1B) with
random weights and a locally trained tokenizer; data is synthetic. For each method (sft, osft, lora_sft)
and engine (native; the upstream engines ``backend='auto'`` would pick, when installed) it trains a few
steps under torchrun and reports peak reserved memory against the estimator's expected value (ratio),
tokens/s, model FLOP utilisation against the GPU's bf16 peak, and whether the loss fell and stayed finite;
then torchrun on 2+ GPUs under NCCL when present, and one named line per defect of the GPU path that only
a GPU shows. Writes ``gpu_check.json`` and ``gpu_check.md`` (default ``benchmarks/results/gpu_check/``).

Without CUDA it exits with a message and code 2; ``--allow-cpu`` runs a tiny config through the same
planning, training and report code (CI does, and validates the report). Exit code 1 when a row or a
defect line fails. See ``docs/estimator.md`` and ``docs/benchmarks.md``.

Needs, besides Python 3.12 and the box's CUDA torch: this repository (``runtime/`` on ``PYTHONPATH``, which
this module sets up), pydantic, transformers, tokenizers, safetensors, peft, numpy, pyyaml (and their
dependencies: huggingface_hub, packaging, regex, tqdm, filelock, fsspec). ``docs/benchmarks.md`` lists
how to carry them as wheels.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "runtime") not in sys.path:
    sys.path.insert(0, str(ROOT / "runtime"))
# the training processes (torchrun children) import training_hub from this checkout too: no install needed
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT / "runtime"), str(ROOT), os.environ.get("PYTHONPATH", "")) if p
)

from benchmarks.gpu_check_engines import PROCESS_PEAK_FILE, fill_row, read_engine_metrics  # noqa: E402
from benchmarks.gpu_check_report import DefectLine, Report, RunRow, read_report, write_report  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gpu_check"
METHODS = ("sft", "osft", "lora_sft")

#: Configs of real shapes (random init). Vocabulary sizes are the real ones, so logits cost what they do.
GPU_MODELS: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b-shape": {
        "model_type": "qwen2",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": True,
    },
    "llama-3.2-1b-shape": {
        "model_type": "llama",
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "max_position_embeddings": 131072,
        "tie_word_embeddings": True,
    },
}
CPU_MODEL: dict[str, Any] = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 640,
    "max_position_embeddings": 2048,
}
#: Dense bf16 peak of common GPUs, TFLOP/s (vendor data sheets, no sparsity).
BF16_PEAK_TFLOPS: dict[str, float] = {
    "H200": 989.4,
    "H100 PCIE": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.4,
    "GH200": 989.4,
    "B200": 2250.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L40": 181.0,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
    "A40": 150.0,
}


def bf16_peak_tflops(device_name: str) -> float | None:
    """The bf16 peak of a device by its name (longest matching key), or None."""
    name = device_name.upper()
    for key in sorted(BF16_PEAK_TFLOPS, key=len, reverse=True):
        if key in name:
            return BF16_PEAK_TFLOPS[key]
    return None


def flops_per_token(config: dict[str, Any], method: str) -> float:
    """Model FLOPs per trained token: 6N for full training, 4N for LoRA (no weight gradients of the base);
    recomputation is not counted (MFU counts the model's FLOPs, not the hardware's)."""
    from training_hub.estimator import count_parameters

    n = count_parameters(config)
    return (4.0 if method == "lora_sft" else 6.0) * float(n)


# ------------------------------------------------------------------------------------------ fixtures
def build_model(directory: Path, config: dict[str, Any], tokenizer_dir: Path) -> Path:
    """Save a randomly initialised model of ``config`` with the local tokenizer (once per directory)."""
    if (directory / "config.json").is_file():
        return directory
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    values = dict(config)
    cfg = AutoConfig.for_model(values.pop("model_type"), **values)
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id = (
        tok.pad_token_id,
        tok.bos_token_id,
        tok.eos_token_id,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory))
    tok.save_pretrained(str(directory))
    return directory


def prepare(work: Path, gpu: bool) -> tuple[Path, dict[str, Path]]:
    """Tokenizer, data and models under ``work`` (reused when present)."""
    from training_hub.tiny import build_tokenizer, write_synthetic_dataset

    tokenizer = work / "tokenizer"
    if not (tokenizer / "tokenizer.json").is_file():
        build_tokenizer(tokenizer)
    data = work / "data.jsonl"
    if not data.is_file():
        write_synthetic_dataset(data, n=6000 if gpu else 256)
    models = GPU_MODELS if gpu else {"tiny-llama": CPU_MODEL}
    dirs = {name: build_model(work / "models" / name, cfg, tokenizer) for name, cfg in models.items()}
    return data, dirs


# -------------------------------------------------------------------------------------------- runs
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


# ----------------------------------------------------------------------------------------- defects
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


# -------------------------------------------------------------------------------------------- main
def run_check(out_dir: Path, work: Path, allow_cpu: bool, methods: tuple[str, ...] = METHODS) -> Report:
    """Run the check and write the report (see the module docstring)."""
    from training_hub.hardware import Hardware, probe_hardware

    start = time.time()
    try:
        hw = probe_hardware(0, select_device=False)  # the ranks train on these GPUs: no context here
    except ImportError:
        hw = Hardware(cuda=False)
    gpu = hw.cuda
    peak = bf16_peak_tflops(hw.name) if gpu else None
    data, models = prepare(work, gpu)
    configs = GPU_MODELS if gpu else {"tiny-llama": CPU_MODEL}
    runs: list[RunRow] = []
    first = next(iter(models))
    for method in methods:
        for name, directory in models.items():
            if name != first and method != "sft":
                continue  # the bigger model with SFT only: the check stays under 8 minutes
            runs.append(run_native(method, name, configs[name], directory, data, work, gpu, 1, peak))
    multi = min(hw.device_count, 8) if gpu else 2
    if multi >= 2:
        runs.append(run_native("sft", first, configs[first], models[first], data, work, gpu, multi, peak))
    if gpu:
        from training_hub.backends.selection import ENGINE_MODULES, hardware_blockers
        from training_hub.hardware import module_importable

        upstream = {"sft": "instructlab-training", "osft": "mini-trainer", "lora_sft": "unsloth"}
        for method in methods:
            backend = upstream[method]
            if module_importable(ENGINE_MODULES[backend]) and not hardware_blockers(backend, hw, {}):
                runs.append(
                    run_upstream(method, backend, first, configs[first], models[first], data, work, peak)
                )
    defects = [defect_exit_codes(work), defect_auto(hw)]
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
    import torch

    report = Report(
        device=hw.describe() if gpu else "CPU (--allow-cpu: tiny config)",
        cuda=gpu,
        gpus=hw.device_count,
        bf16_peak_tflops=peak,
        mode="gpu" if gpu else "cpu",
        seconds=time.time() - start,
        runs=runs,
        defects=defects,
        environment={
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "cuda": str(torch.version.cuda),
            "allow_cpu": str(allow_cpu),
        },
    )
    json_path, _ = write_report(report, out_dir)
    read_report(json_path)  # the report validates as written
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--allow-cpu", action="store_true", help="without CUDA, run a tiny config on the CPU")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report directory")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "training-hub-gpu-check",
        help="scratch directory for models, data and runs (several GB on a GPU; reused between runs)",
    )
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="comma-separated subset of sft,osft,lora_sft"
    )
    args = parser.parse_args(argv)
    methods = tuple(m for m in args.methods.split(",") if m)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    try:
        import torch
    except ImportError:
        print("gpu_check: torch is not installed; install the CUDA build of torch first", file=sys.stderr)
        return 2
    if not torch.cuda.is_available() and not args.allow_cpu:
        print(
            "gpu_check: no CUDA GPU is visible (torch.cuda.is_available() is False); this check needs one. "
            "Run with --allow-cpu to exercise the same planning and report code on a tiny CPU config.",
            file=sys.stderr,
        )
        return 2
    report = run_check(args.out, args.work, args.allow_cpu, methods)
    print((args.out / "gpu_check.md").read_text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
