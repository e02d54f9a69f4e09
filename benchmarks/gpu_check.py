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
import os
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

from benchmarks.gpu_check_defects import defect_lines  # noqa: E402
from benchmarks.gpu_check_report import Report, RunRow, read_report, write_report  # noqa: E402
from benchmarks.gpu_check_runs import METHODS, run_native, run_upstream  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gpu_check"

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
    defects = defect_lines(hw, work)
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
