"""Shared helpers of the benchmarks: machine facts, tables, JSON results, local fixtures, the bench venv.

Every benchmark compares candidates side by side in one run on one machine and reports ratios; absolute
times vary between machines. Nothing here downloads anything: models and tokenizers are built locally
with :mod:`training_hub.tiny`.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
SETUP_BENCH_ENV = ROOT / "benchmarks" / "setup_bench_env.sh"


def machine_info() -> dict[str, Any]:
    """Facts about this machine and the library versions that matter for the numbers."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load_average": _load_average(),
    }
    for dist in ("torch", "transformers", "tokenizers", "numpy", "kopf", "kubernetes"):
        try:
            from importlib.metadata import version

            info[dist] = version(dist)
        except Exception:
            info[dist] = None
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (cells formatted with `str`)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_result(name: str, payload: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write `<out_dir>/<name>.json` (with the machine facts added) and return its path."""
    out = Path(out_dir or RESULTS_DIR)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    body = {"benchmark": name, "machine": machine_info(), **payload}
    path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def report(name: str, payload: dict[str, Any], table_text: str, out_dir: str | None = None) -> Path:
    """Print a benchmark's table, write its JSON (:func:`write_result`) and say where."""
    print(table_text)
    path = write_result(name, payload, Path(out_dir) if out_dir else None)
    print(f"wrote {path}")
    return path


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) with linear interpolation; 0.0 for an empty sequence."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def build_tiny_assets(
    workdir: Path,
    *,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    intermediate_size: int = 128,
    template: str | None = None,
) -> tuple[Path, Path]:
    """Build (once per directory) a local tokenizer and a tiny random Llama next to it.

    Args:
        workdir: Directory for `tokenizer/` and `model/`.
        hidden_size: Model width.
        num_hidden_layers: Decoder layers.
        intermediate_size: MLP width.
        template: A chat template replacing the tiny tokenizer's default.

    Returns:
        `(tokenizer_dir, model_dir)`; the model directory also holds the tokenizer.
    """
    from training_hub import tiny

    tok_dir = workdir / "tokenizer"
    model_dir = workdir / "model"
    if not (model_dir / "config.json").is_file():
        tiny.build_tokenizer(tok_dir)
        if template is not None:
            cfg_path = tok_dir / "tokenizer_config.json"
            cfg = json.loads(cfg_path.read_text())
            cfg["chat_template"] = template
            cfg_path.write_text(json.dumps(cfg, indent=2))
            jinja = tok_dir / "chat_template.jinja"
            if jinja.exists():
                jinja.write_text(template)
        tiny.build_tiny_model(
            model_dir,
            seed=0,
            tokenizer_dir=tok_dir,
            hidden_size=hidden_size,
            num_hidden_layers=num_hidden_layers,
            intermediate_size=intermediate_size,
        )
    return tok_dir, model_dir


def bench_python(*, create: bool = True) -> Path | None:
    """The python of the separate `.venv-bench` (with instructlab-training), created on demand.

    Args:
        create: Run `benchmarks/setup_bench_env.sh` (idempotent, about a minute the first time).

    Returns:
        The interpreter path, or None if the venv does not exist and `create` is False.

    Raises:
        RuntimeError: If the setup script fails.
    """
    default = Path(os.environ.get("BENCH_VENV", ROOT / ".venv-bench")) / "bin" / "python"
    if not create:
        return default if default.is_file() else None
    proc = subprocess.run(["bash", str(SETUP_BENCH_ENV)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        noise = "is ignored: it is neither a file nor a directory"
        err = "\n".join(line for line in proc.stderr.splitlines() if noise not in line)
        raise RuntimeError(f"benchmarks/setup_bench_env.sh failed ({proc.returncode}):\n{err[-3000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for measured child processes: one OpenMP thread, no tokenizers parallelism noise."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), str(ROOT / "runtime"), env.get("PYTHONPATH", "")) if p
    )
    env.update(extra)
    return env


def run_json_worker(
    module_args: Sequence[str], result_path: Path, env: dict[str, str], what: str
) -> dict[str, Any]:
    """Run ``python -m <module_args>`` from the repository root and return the JSON it wrote to ``result_path``.

    Raises:
        RuntimeError: If the worker exits non-zero (with the tail of its stderr).
    """
    proc = subprocess.run(
        [sys.executable, "-m", *module_args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(result_path.read_text())
    return out


def main_guard(fn: Any) -> None:
    """Run `fn()` and exit with its return code (benchmarks' `__main__`)."""
    sys.exit(int(fn() or 0))
