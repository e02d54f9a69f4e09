"""Estimator accuracy: estimated vs measured bytes per component for tiny models on this CPU.

For every (family, method, tokens) row it builds a tiny random model with transformers, runs forward +
backward + AdamW (fp32, CPU, SDPA attention) and measures parameters, gradients, optimizer states and
the tensors autograd saves for backward (:mod:`training_hub.estimator.measure`), then compares them
with :func:`training_hub.estimator.estimate` (``dtype="fp32"``, ``device="cpu"``). Rows with activation
checkpointing on (``ckpt``) count what per-layer recomputation keeps (see ``measure.py``). Target: the
expected estimate within 15% of the measured total on every row.

Usage: ``.venv/bin/python benchmarks/estimator_accuracy.py [--quick] [--out benchmarks/results/estimator_accuracy.json]``
Takes about a minute on 2 cores; not run in CI (``tests/runtime/estimator/test_measure_accuracy.py`` runs a few rows as an integration test).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "runtime"))

from training_hub.estimator import ESTIMATOR_VERSION, MemoryEstimate, estimate  # noqa: E402
from training_hub.estimator.measure import Measurement, measure_training_step  # noqa: E402

TARGET = 0.15
_DIMS: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 344,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 2000,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}
FAMILIES: dict[str, dict[str, Any]] = {
    "llama": {},
    "qwen2": {},
    "qwen3": {"head_dim": 32},
    "gemma": {"head_dim": 32},
    "phi3": {},
    "granite": {},
    "mixtral": {"num_local_experts": 4, "num_experts_per_tok": 2},
    "qwen2_moe": {
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 96,
        "shared_expert_intermediate_size": 192,
    },
}
METHODS = ("sft", "osft", "lora")
TOKENS = (256, 1024, 4096)
COMPONENTS = (
    ("parameters", "parameters"),
    ("gradients", "gradients"),
    ("optimizer_states", "optimizer"),
    ("activations", "activations"),
    ("logits", "logits"),
)


def tiny_config(family: str) -> dict[str, Any]:
    """The benchmark's tiny config of ``family``."""
    return {"model_type": family, **_DIMS, **FAMILIES[family]}


def measure_and_estimate(
    config: dict[str, Any], method: str, tokens: int, checkpointing: bool = False
) -> tuple[Measurement, MemoryEstimate]:
    """One real CPU training step of ``config`` measured, and the estimator's answer for the same step (fp32,
    CPU): the pair every row compares (``tests/runtime/estimator/test_measure_accuracy.py`` asserts on it)."""
    measured = measure_training_step(config, method, tokens, activation_checkpointing=checkpointing)
    est = estimate(
        method,
        model_config=config,
        max_tokens_per_gpu=tokens,
        dtype="fp32",
        device="cpu",
        activation_checkpointing=checkpointing,
    )
    return measured, est


def run_row(family: str, method: str, tokens: int, checkpointing: bool = False) -> dict[str, Any]:
    """Measure and estimate one row."""
    measured, est = measure_and_estimate(tiny_config(family), method, tokens, checkpointing)
    comps = est.breakdown.components()
    row: dict[str, Any] = {
        "family": family,
        "method": method,
        "tokens": tokens,
        "activation_checkpointing": checkpointing,
        "components": {},
    }
    for est_name, meas_name in COMPONENTS:
        e, m = comps[est_name], getattr(measured, meas_name)
        row["components"][est_name] = {"estimated": e, "measured": m, "rel_error": (e - m) / m if m else 0.0}
    total = measured.total
    row.update(
        measured_total=total,
        estimated_low=est.low,
        estimated_expected=est.expected,
        estimated_high=est.high,
        rel_error_expected=(est.expected - total) / total,
        rel_error_low=(est.low - total) / total,
    )
    row["ok"] = abs(row["rel_error_expected"]) <= TARGET
    return row


def rows_for(quick: bool) -> list[tuple[str, str, int, bool]]:
    """The (family, method, tokens, activation checkpointing) rows to run."""
    if quick:
        return [(f, m, 512, c) for f in ("llama", "qwen2_moe") for m in METHODS for c in (False, True)]
    plain = [(f, m, t, False) for f in FAMILIES for m in METHODS for t in TOKENS]
    return plain + [(f, m, 1024, True) for f in FAMILIES for m in METHODS]


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table: per-component error, measured and expected totals, total error."""
    head = (
        "| family | method | tokens | ckpt | params | grads | optim | activations | logits | measured total | "
        "expected | error | ok |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        c = r["components"]
        ckpt = "on" if r.get("activation_checkpointing") else "off"
        lines.append(
            f"| {r['family']} | {r['method']} | {r['tokens']} | {ckpt} | "
            + " | ".join(_pct(c[name]["rel_error"]) for name, _ in COMPONENTS)
            + f" | {r['measured_total'] / 2**20:.2f} MiB | {r['estimated_expected'] / 2**20:.2f} MiB | "
            f"{_pct(r['rel_error_expected'])} | {'yes' if r['ok'] else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON; exit 1 if a row misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Only a few rows.")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "estimator_accuracy.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    warnings.filterwarnings("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    start = time.perf_counter()
    rows = [run_row(f, m, t, c) for f, m, t, c in rows_for(args.quick)]
    elapsed = time.perf_counter() - start
    print(format_table(rows))
    worst = max(abs(r["rel_error_expected"]) for r in rows)
    print(
        f"\n{len(rows)} rows in {elapsed:.1f} s; worst |error| of expected vs measured: {100 * worst:.1f}% "
        f"(target {100 * TARGET:.0f}%)"
    )
    import torch
    import transformers

    payload = {
        "benchmark": "estimator_accuracy",
        "estimator_version": ESTIMATOR_VERSION,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "dims": _DIMS,
        "target_rel_error": TARGET,
        "seconds": round(elapsed, 1),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
