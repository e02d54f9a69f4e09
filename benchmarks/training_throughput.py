"""Training throughput on CPU: the native engine (padding-free, token budget) vs a plain HF `Trainer`.

Same tiny random Llama, same tokenised data (varied lengths: 1-3 chat turns), same effective batch size,
same samples per step in the same order, same AdamW settings and constant learning rate. Each side runs in
its own process (``benchmarks/train_worker.py``) with the same threads. Reported: real (non-padding)
tokens per second from step 2 on, the ratio, padding overhead of the HF batches, and the two loss curves
(maximum and mean absolute per-step difference: with identical batches only floating-point order differs).

Usage: ``.venv/bin/python -m benchmarks.training_throughput [--quick] [--steps N]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.benchlib import (
    build_tiny_assets,
    format_table,
    median,
    report,
    run_json_worker,
    subprocess_env,
)
from benchmarks.chat_data import write_chat_dataset

TARGET_SPEEDUP = 1.5


def run_worker(mode: str, cfg: dict[str, Any], workdir: Path, threads: int) -> dict[str, Any]:
    """Run one training worker process and return its result."""
    cfg_path = workdir / f"{mode}-config.json"
    result = workdir / f"{mode}-result.json"
    cfg_path.write_text(json.dumps(cfg))
    env = subprocess_env(OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return run_json_worker(
        ["benchmarks.train_worker", "--mode", mode, "--config", str(cfg_path), "--result", str(result)],
        result,
        env,
        f"{mode} training worker",
    )


def throughput(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Real tokens/s, padded tokens/s and steps/s from the end of step 1 to the end of the last step."""
    if len(rows) < 2:
        raise ValueError("need at least 2 steps to measure throughput")
    dt = rows[-1]["time"] - rows[0]["time"]
    real = sum(r["tokens"] for r in rows[1:])
    padded = sum(r["padded_tokens"] for r in rows[1:])
    out: dict[str, float] = {}
    if "cpu" in rows[0]:
        # CPU time of the process (all its threads): less sensitive to other load than wall-clock time.
        out["tokens_per_cpu_second"] = real / max(rows[-1]["cpu"] - rows[0]["cpu"], 1e-9)
    return out | {
        "tokens_per_second": real / dt,
        "computed_tokens_per_second": padded / dt,
        "steps_per_second": (len(rows) - 1) / dt,
        "seconds": dt,
        "tokens": real,
        "padded_tokens": padded,
    }


def compare_losses(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-step loss differences of two runs (steps matched by number)."""
    la = {r["step"]: r["loss"] for r in a if r.get("loss") is not None}
    lb = {r["step"]: r["loss"] for r in b if r.get("loss") is not None}
    common = sorted(set(la) & set(lb))
    diffs = [abs(la[s] - lb[s]) for s in common]
    rel = [abs(la[s] - lb[s]) / max(abs(lb[s]), 1e-12) for s in common]
    return {
        "steps_compared": len(common),
        "max_abs_diff": max(diffs) if diffs else None,
        "mean_abs_diff": sum(diffs) / len(diffs) if diffs else None,
        "max_rel_diff": max(rel) if rel else None,
        "first_loss": (la.get(common[0]), lb.get(common[0])) if common else None,
        "last_loss": (la.get(common[-1]), lb.get(common[-1])) if common else None,
    }


def run(
    workdir: Path,
    *,
    steps: int,
    samples: int,
    batch: int,
    hidden: int,
    layers: int,
    threads: int,
    repeats: int = 1,
    max_seq_len: int = 1024,
) -> dict[str, Any]:
    """Run both sides and compare; returns the result payload."""
    _, model_dir = build_tiny_assets(
        workdir / f"assets-h{hidden}-l{layers}",
        hidden_size=hidden,
        num_hidden_layers=layers,
        intermediate_size=hidden * 2 + hidden // 2,
    )
    data = write_chat_dataset(workdir / "train.jsonl", samples, seed=3)
    cfg = {
        "model_dir": str(model_dir),
        "data_path": str(data),
        "work_dir": str(workdir),
        "effective_batch_size": batch,
        "max_tokens_per_gpu": max_seq_len * 4,
        "max_seq_len": max_seq_len,
        "learning_rate": 1e-3,
        "steps": steps,
        "seed": 7,
    }
    # Interleaved pairs (native, HF, native, HF, ...): the speedup is the median of the per-pair ratios,
    # so load that drifts during the run affects both sides of a pair alike.
    pairs = []
    for r in range(repeats):
        cfg["work_dir"] = str(workdir / f"run{r}")
        native = run_worker("native", cfg, workdir, threads)
        hf = run_worker("hf", cfg, workdir, threads)
        pairs.append((native, hf, throughput(native["steps"]), throughput(hf["steps"])))
    ratios = [tn["tokens_per_second"] / th["tokens_per_second"] for _, _, tn, th in pairs]
    cpu_ratios = [tn["tokens_per_cpu_second"] / th["tokens_per_cpu_second"] for _, _, tn, th in pairs]
    speedup = median(ratios)
    native, hf, tn, th = sorted(pairs, key=lambda p: p[2]["tokens_per_second"] / p[3]["tokens_per_second"])[
        len(pairs) // 2
    ]
    losses = compare_losses(native["steps"], hf["steps"])
    return {
        "config": {k: v for k, v in cfg.items() if k not in ("model_dir", "data_path", "work_dir")}
        | {"hidden_size": hidden, "num_hidden_layers": layers, "samples": samples, "threads": threads},
        "native": tn,
        "hf_trainer": th,
        "speedup": speedup,
        "speedup_per_pair": ratios,
        "speedup_cpu_time": median(cpu_ratios),
        "speedup_cpu_time_per_pair": cpu_ratios,
        "padding_overhead": th["padded_tokens"] / max(th["tokens"], 1),
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": speedup >= TARGET_SPEEDUP,
        "losses": losses,
        "native_steps": native["steps"],
        "hf_steps": hf["steps"],
    }


def table(res: dict[str, Any]) -> str:
    """The Markdown table of a result."""
    n, h, lo = res["native"], res["hf_trainer"], res["losses"]
    rows = [
        [
            "native (padding-free)",
            f"{n['tokens_per_second']:.0f}",
            f"{n['computed_tokens_per_second']:.0f}",
            f"{n['steps_per_second']:.2f}",
            f"{res['speedup']:.2f}x",
        ],
        [
            "HF Trainer (padded)",
            f"{h['tokens_per_second']:.0f}",
            f"{h['computed_tokens_per_second']:.0f}",
            f"{h['steps_per_second']:.2f}",
            "1.00x",
        ],
    ]
    c = res["config"]
    return (
        format_table(["trainer", "real tokens/s", "computed tokens/s", "steps/s", "relative"], rows)
        + f"\n\nspeedup {res['speedup']:.2f}x (target {TARGET_SPEEDUP}x; per CPU second "
        f"{res['speedup_cpu_time']:.2f}x); HF computes "
        f"{res['padding_overhead']:.2f}x the real tokens (padding); model hidden {c['hidden_size']}, "
        f"{c['num_hidden_layers']} layers; batch {c['effective_batch_size']}; {lo['steps_compared']} steps; "
        f"median of {len(res['speedup_per_pair'])} interleaved pairs\n"
        f"loss curves: max |diff| {lo['max_abs_diff']:.2e} (max relative {lo['max_rel_diff']:.2e}), "
        f"first {lo['first_loss'][0]:.4f} vs {lo['first_loss'][1]:.4f}, "
        f"last {lo['last_loss'][0]:.4f} vs {lo['last_loss'][1]:.4f}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write `benchmarks/results/training_throughput.json`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer steps.")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=None, help="Interleaved native/HF pairs.")
    parser.add_argument("--out-dir", default=None)
    args = parser.parse_args(argv)
    steps = args.steps or (12 if args.quick else 40)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        res = run(
            Path(tmp),
            steps=steps,
            samples=steps * args.batch,
            batch=args.batch,
            hidden=args.hidden,
            layers=args.layers,
            threads=args.threads,
            repeats=args.repeats or (1 if args.quick else 3),
        )
    report("training_throughput", res, table(res), args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
