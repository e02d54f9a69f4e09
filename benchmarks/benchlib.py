"""Shared helpers of the benchmarks: machine facts, tables, JSON results, local fixtures, the bench venv.

Every benchmark compares candidates side by side in one run on one machine and reports ratios; absolute
times vary between machines. Nothing here downloads anything: models and tokenizers are built locally
with :mod:`training_hub.tiny`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.ratios import DEFAULT_PAIRS

T = TypeVar("T")

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
        "load_average": load_average(),
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


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (rounded), or None where the OS has none."""
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


def interleaved_rounds(
    sides: Sequence[Callable[[], T]],
    rounds: int,
    *,
    on_round: Callable[[int], None] | None = None,
) -> list[tuple[list[T], dict[str, Any]]]:
    """Run ``rounds`` back-to-back rounds of every side, the order reversed every other round.

    Round 0 runs the sides in the given order, round 1 in reverse (ABC, CBA, ABC, ...), so every two
    sides alternate which goes first: a steady drift in the machine's load and any advantage of running
    later (warm page cache, CPU frequency) cancel out of each pairwise ratio. Each round records the load
    average before and after it.

    Returns:
        ``[([result of each side, in the order of sides], {"pair", "order", "load_before", "load_after"}), ...]``
        (``pair`` is the round number; ``order`` names the sides as they ran, ``A`` the first side).
    """
    names = [chr(ord("A") + i) for i in range(len(sides))]
    out: list[tuple[list[T], dict[str, Any]]] = []
    for i in range(rounds):
        load_before = load_average()
        order = list(range(len(sides))) if i % 2 == 0 else list(range(len(sides)))[::-1]
        results: dict[int, T] = {k: sides[k]() for k in order}
        info = {
            "pair": i,
            "order": "".join(names[k] for k in order),
            "load_before": load_before,
            "load_after": load_average(),
        }
        out.append(([results[k] for k in range(len(sides))], info))
        if on_round is not None:
            on_round(i)
    return out


def interleaved_pairs(
    first: Callable[[], T],
    second: Callable[[], T],
    pairs: int,
    *,
    on_pair: Callable[[int], None] | None = None,
) -> list[tuple[T, T, dict[str, Any]]]:
    """Run ``pairs`` back-to-back pairs of two measurements, alternating which goes first (AB, BA, ...).

    :func:`interleaved_rounds` of two sides.

    Returns:
        ``[(first_result, second_result, {"pair", "order", "load_before", "load_after"}), ...]``.
    """
    return [(a, b, info) for (a, b), info in interleaved_rounds([first, second], pairs, on_round=on_pair)]


def pair_rows(
    pairs: Sequence[dict[str, Any]], sides: Sequence[str], cells: Callable[[dict[str, Any]], list[Any]]
) -> list[list[Any]]:
    """Rows of a per-pair table: the pair's number, which side ran first, ``cells(pair)``, the load.

    Args:
        pairs: Per-pair records carrying the ``pair``/``order``/``load_*`` keys of :func:`interleaved_rounds`.
        sides: The sides' names in the order of the measured functions (``order`` letter A is ``sides[0]``).
        cells: The measured cells of one pair.
    """

    def load(p: dict[str, Any]) -> str:
        before, after = p.get("load_before"), p.get("load_after")
        return f"{before[0] if before else '-'} -> {after[0] if after else '-'}"

    return [
        [p["pair"] + 1, f"{sides[ord(p['order'][0]) - ord('A')]} first", *cells(p), load(p)] for p in pairs
    ]


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads) so far, as the OS accounts them.

    ``CLOCK_PROCESS_CPUTIME_ID`` (nanosecond resolution; ``os.times()`` counts 10 ms clock ticks, 4% of a
    0.25 s measurement).
    """
    return time.process_time()


def bench_cores(n: int) -> list[int]:
    """The first ``n`` CPUs this process may run on: both sides of a comparison are pinned to these."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(n))
    return allowed[: max(1, min(n, len(allowed)))]


def pin_to(cores: Sequence[int]) -> None:
    """Pin this process (and the threads it starts later) to ``cores`` (no-op where the OS cannot)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(cores))


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
    module_args: Sequence[str],
    result_path: Path,
    env: dict[str, str],
    what: str,
    cores: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Run ``python -m <module_args>`` from the repository root and return the JSON it wrote to ``result_path``.

    Args:
        module_args: The module and its arguments.
        result_path: Where the worker writes its JSON.
        env: The worker's environment (see :func:`subprocess_env`).
        what: Names the worker in errors.
        cores: Pin the worker to these CPUs from its start (:func:`bench_cores`); None: not pinned.

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
        preexec_fn=(lambda: pin_to(cores)) if cores is not None else None,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(result_path.read_text())
    return out


def bench_parser(doc: str | None, quick: str) -> argparse.ArgumentParser:
    """The command line every paired benchmark shares: ``--quick``, ``--repeats``, ``--out-dir``.

    Args:
        doc: The benchmark module's docstring (its first line describes the command).
        quick: What ``--quick`` makes smaller.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=f"{quick} (2 pairs: states nothing).")
    parser.add_argument(
        "--repeats", type=int, default=None, help=f"Interleaved pairs (default {DEFAULT_PAIRS})."
    )
    parser.add_argument(
        "--out-dir", default=None, help="Where the JSON result goes (default benchmarks/results)."
    )
    return parser


def pairs_wanted(args: argparse.Namespace) -> int:
    """The number of interleaved pairs ``args`` (of :func:`bench_parser`) ask for."""
    return int(args.repeats or (2 if args.quick else DEFAULT_PAIRS))


def main_guard(fn: Any) -> None:
    """Run `fn()` and exit with its return code (benchmarks' `__main__`)."""
    sys.exit(int(fn() or 0))
