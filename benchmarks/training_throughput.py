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
    MIN_PAIRS,
    bench_cores,
    build_tiny_assets,
    format_table,
    interleaved_pairs,
    load_average,
    report,
    run_json_worker,
    subprocess_env,
    summarize_ratios,
)
from benchmarks.chat_data import write_chat_dataset

TARGET_SPEEDUP = 1.5
#: Every pair must beat this for the target to count as met.
FLOOR_SPEEDUP = 1.2


def run_worker(mode: str, cfg: dict[str, Any], workdir: Path, threads: int) -> dict[str, Any]:
    """Run one training worker process, pinned to :func:`bench_cores` with ``threads`` threads."""
    cfg_path = workdir / f"{mode}-config.json"
    result = workdir / f"{mode}-result.json"
    cfg_path.write_text(json.dumps(cfg))
    env = subprocess_env(OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return run_json_worker(
        ["benchmarks.train_worker", "--mode", mode, "--config", str(cfg_path), "--result", str(result)],
        result,
        env,
        f"{mode} training worker",
        cores=bench_cores(threads),
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
    # Interleaved pairs (native first, then HF first, ...), both pinned to the same cores and threads. The
    # primary figure is CPU time (user + sys of the training process, from the OS) per real token: other
    # load on the machine lengthens the wall clock far more than the CPU time a process needs.
    counter = iter(range(10**6))

    def side(mode: str) -> Any:
        def go() -> dict[str, Any]:
            cfg["work_dir"] = str(workdir / f"run{next(counter)}")
            return run_worker(mode, cfg, workdir, threads)

        return go

    load_start = load_average()
    runs = interleaved_pairs(side("native"), side("hf"), repeats)
    pairs = [(n, h, throughput(n["steps"]), throughput(h["steps"]), info) for n, h, info in runs]
    cpu = summarize_ratios(
        [tn["tokens_per_cpu_second"] / th["tokens_per_cpu_second"] for _, _, tn, th, _ in pairs]
    )
    wall = summarize_ratios([tn["tokens_per_second"] / th["tokens_per_second"] for _, _, tn, th, _ in pairs])
    native, hf, tn, th, _ = sorted(
        pairs, key=lambda p: p[2]["tokens_per_cpu_second"] / p[3]["tokens_per_cpu_second"]
    )[len(pairs) // 2]
    losses = compare_losses(native["steps"], hf["steps"])
    return {
        "config": {k: v for k, v in cfg.items() if k not in ("model_dir", "data_path", "work_dir")}
        | {
            "hidden_size": hidden,
            "num_hidden_layers": layers,
            "samples": samples,
            "threads": threads,
            "cores": bench_cores(threads),
        },
        "native": tn,
        "hf_trainer": th,
        "speedup_cpu_time": cpu.as_dict(),
        "speedup_wall": wall.as_dict(),
        "pairs": [
            {
                **info,
                "native_tokens_per_cpu_second": a["tokens_per_cpu_second"],
                "hf_tokens_per_cpu_second": b["tokens_per_cpu_second"],
                "native_tokens_per_second": a["tokens_per_second"],
                "hf_tokens_per_second": b["tokens_per_second"],
                "cpu_ratio": a["tokens_per_cpu_second"] / b["tokens_per_cpu_second"],
                "wall_ratio": a["tokens_per_second"] / b["tokens_per_second"],
            }
            for _, _, a, b, info in pairs
        ],
        "load_average": {"start": load_start, "end": load_average()},
        "padding_overhead": th["padded_tokens"] / max(th["tokens"], 1),
        "target_speedup": TARGET_SPEEDUP,
        "floor_speedup": FLOOR_SPEEDUP,
        "meets_target": cpu.meets(TARGET_SPEEDUP, FLOOR_SPEEDUP),
        "losses": losses,
        "native_steps": native["steps"],
        "hf_steps": hf["steps"],
    }


def table(res: dict[str, Any]) -> str:
    """The Markdown tables of a result: per pair, then the summary of the median pair."""
    cpu, wall, lo, c = res["speedup_cpu_time"], res["speedup_wall"], res["losses"], res["config"]
    pair_rows = [
        [
            p["pair"] + 1,
            "native first" if p["order"] == "AB" else "HF first",
            f"{p['native_tokens_per_cpu_second']:.0f}",
            f"{p['hf_tokens_per_cpu_second']:.0f}",
            f"**{p['cpu_ratio']:.2f}x**",
            f"{p['native_tokens_per_second']:.0f}",
            f"{p['hf_tokens_per_second']:.0f}",
            f"{p['wall_ratio']:.2f}x",
            f"{p['load_before'][0] if p['load_before'] else '-'} -> {p['load_after'][0] if p['load_after'] else '-'}",
        ]
        for p in res["pairs"]
    ]
    headers = [
        "pair",
        "order",
        "native tok/CPU-s",
        "HF tok/CPU-s",
        "CPU ratio",
        "native tok/s",
        "HF tok/s",
        "wall ratio",
        "load 1 min",
    ]
    cpu_s = summarize_ratios(cpu["per_pair"])
    wall_s = summarize_ratios(wall["per_pair"])
    met = "met" if res["meets_target"] else "NOT met"
    return (
        format_table(headers, pair_rows)
        + f"\n\n**per CPU second: {cpu_s.text()}** (target median >= {res['target_speedup']}x with every "
        f"pair > {res['floor_speedup']}x over >= {MIN_PAIRS} pairs: {met}); wall clock: {wall_s.text()}. "
        f"HF computes {res['padding_overhead']:.2f}x the real tokens (padding). Model hidden "
        f"{c['hidden_size']}, {c['num_hidden_layers']} layers; batch {c['effective_batch_size']}; "
        f"{lo['steps_compared']} steps; {c['threads']} threads pinned to CPUs {c['cores']}; load average "
        f"{res['load_average']['start']} -> {res['load_average']['end']}\n"
        f"loss curves (median pair): max |diff| {lo['max_abs_diff']:.2e} (max relative {lo['max_rel_diff']:.2e}), "
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
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=None, help=f"Interleaved pairs (default {MIN_PAIRS}).")
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
            repeats=args.repeats or (2 if args.quick else MIN_PAIRS),
        )
    report("training_throughput", res, table(res), args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
