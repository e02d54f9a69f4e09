"""Training throughput on CPU: the native engine (padding-free, token budget) vs HF `Trainer` and TRL.

Same tiny random Llama, same tokenised data (varied lengths: 1-3 chat turns), same effective batch size,
same samples per step in the same order, same AdamW settings and constant learning rate. Each side runs in
its own process (``benchmarks/train_worker.py``) with the same threads, pinned to the same cores: the
native engine, a plain HF `Trainer` on padded batches, and TRL's `SFTTrainer` (padded batches, its faster
configuration on CPU; ``--trl-padding-free`` for its padding-free rows). The sides run in interleaved
rounds (native, HF, TRL; then the reverse order), at least 7. Reported per round: real (non-padding)
tokens per CPU second and per second from step 2 on, the native engine's ratio to each baseline, the
padding each baseline computes, and the loss curves (maximum absolute per-step difference: with identical
batches only floating-point order differs).

Usage: ``.venv/bin/python -m benchmarks.training_throughput [--quick] [--steps N] [--no-trl]``
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.benchlib import (
    MIN_PAIRS,
    bench_cores,
    bench_parser,
    build_tiny_assets,
    format_table,
    interleaved_rounds,
    load_average,
    pair_rows,
    pairs_wanted,
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
    trl: bool = False,
    trl_padding_free: bool = False,
) -> dict[str, Any]:
    """Run the sides in interleaved rounds and compare; returns the result payload."""
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
    # Interleaved rounds (native, HF[, TRL]; then the reverse order, ...), every side pinned to the same
    # cores and threads. The primary figure is CPU time (user + sys of the training process, from the
    # OS) per real token: other load on the machine lengthens the wall clock far more than the CPU time a
    # process needs.
    counter = iter(range(10**6))

    def side(mode: str) -> Any:
        def go() -> dict[str, Any]:
            cfg["work_dir"] = str(workdir / f"run{next(counter)}")
            return run_worker(mode, cfg, workdir, threads)

        return go

    modes = ["native", "hf", *(["trl"] if trl else [])]
    cfg["trl_padding_free"] = trl_padding_free
    load_start = load_average()
    rounds = interleaved_rounds([side(m) for m in modes], repeats)
    figures = [([throughput(r["steps"]) for r in runs], info) for runs, info in rounds]
    res: dict[str, Any] = {
        "config": {k: v for k, v in cfg.items() if k not in ("model_dir", "data_path", "work_dir")}
        | {
            "hidden_size": hidden,
            "num_hidden_layers": layers,
            "samples": samples,
            "threads": threads,
            "cores": bench_cores(threads),
            "sides": modes,
        },
        "pairs": [
            info
            | {
                f"{m}_tokens_per_cpu_second": f["tokens_per_cpu_second"]
                for m, f in zip(modes, fs, strict=True)
            }
            | {f"{m}_tokens_per_second": f["tokens_per_second"] for m, f in zip(modes, fs, strict=True)}
            for fs, info in figures
        ],
        "load_average": {"start": load_start, "end": load_average()},
        "target_speedup": TARGET_SPEEDUP,
        "floor_speedup": FLOOR_SPEEDUP,
    }
    for k, mode in enumerate(modes[1:], start=1):
        suffix = "" if mode == "hf" else f"_vs_{mode}"
        for pair, (fs, _) in zip(res["pairs"], figures, strict=True):
            pair[f"cpu_ratio{suffix}"] = fs[0]["tokens_per_cpu_second"] / fs[k]["tokens_per_cpu_second"]
            pair[f"wall_ratio{suffix}"] = fs[0]["tokens_per_second"] / fs[k]["tokens_per_second"]
        cpu = summarize_ratios([p[f"cpu_ratio{suffix}"] for p in res["pairs"]])
        wall = summarize_ratios([p[f"wall_ratio{suffix}"] for p in res["pairs"]])
        # The median round of this comparison: its figures and loss curves are the ones printed.
        mid = sorted(range(len(rounds)), key=lambda i: res["pairs"][i][f"cpu_ratio{suffix}"])[
            len(rounds) // 2
        ]
        native, other = rounds[mid][0][0], rounds[mid][0][k]
        res |= {
            ("hf_trainer" if mode == "hf" else mode): figures[mid][0][k],
            f"speedup_cpu_time{suffix}": cpu.as_dict(),
            f"speedup_wall{suffix}": wall.as_dict(),
            f"padding_overhead{suffix}": figures[mid][0][k]["padded_tokens"]
            / max(figures[mid][0][k]["tokens"], 1),
            f"meets_target{suffix}": cpu.meets(TARGET_SPEEDUP, FLOOR_SPEEDUP),
            f"losses{suffix}": compare_losses(native["steps"], other["steps"]),
            f"{mode}_steps": other["steps"],
        }
        if mode == "hf":
            res |= {"native": figures[mid][0][0], "native_steps": native["steps"]}
    return res


NAMES = {"native": "native", "hf": "HF", "trl": "TRL"}


def table(res: dict[str, Any]) -> str:
    """The Markdown tables of a result: per pair, then the summary of each comparison's median pair."""
    modes, c = res["config"].get("sides", ["native", "hf"]), res["config"]
    others = modes[1:]
    suffixes = {m: "" if m == "hf" else f"_vs_{m}" for m in others}

    def cells(p: dict[str, Any]) -> list[Any]:
        return [
            *(f"{p[f'{m}_tokens_per_cpu_second']:.0f}" for m in modes),
            *(f"**{p[f'cpu_ratio{suffixes[m]}']:.2f}x**" for m in others),
            *(f"{p[f'{m}_tokens_per_second']:.0f}" for m in modes),
            *(f"{p[f'wall_ratio{suffixes[m]}']:.2f}x" for m in others),
        ]

    headers = [
        "pair",
        "order",
        *(f"{NAMES[m]} tok/CPU-s" for m in modes),
        *(f"CPU ratio vs {NAMES[m]}" for m in others),
        *(f"{NAMES[m]} tok/s" for m in modes),
        *(f"wall ratio vs {NAMES[m]}" for m in others),
        "load 1 min",
    ]
    text = format_table(headers, pair_rows(res["pairs"], [NAMES[m] for m in modes], cells))
    for m in others:
        sfx = suffixes[m]
        cpu_s = summarize_ratios(res[f"speedup_cpu_time{sfx}"]["per_pair"])
        wall_s = summarize_ratios(res[f"speedup_wall{sfx}"]["per_pair"])
        lo = res[f"losses{sfx}"]
        met = "met" if res[f"meets_target{sfx}"] else "NOT met"
        text += (
            f"\n\n**native vs {NAMES[m]}, per CPU second: {cpu_s.text()}** (target median >= "
            f"{res['target_speedup']}x with every pair > {res['floor_speedup']}x over >= {MIN_PAIRS} pairs: "
            f"{met}); wall clock: {wall_s.text()}. {NAMES[m]} computes {res[f'padding_overhead{sfx}']:.2f}x "
            f"the real tokens (padding)\n"
            f"loss curves (median pair): max |diff| {lo['max_abs_diff']:.2e} (max relative "
            f"{lo['max_rel_diff']:.2e}), first {lo['first_loss'][0]:.4f} vs {lo['first_loss'][1]:.4f}, "
            f"last {lo['last_loss'][0]:.4f} vs {lo['last_loss'][1]:.4f}"
        )
    return text + (
        f"\n\nModel hidden {c['hidden_size']}, {c['num_hidden_layers']} layers; batch "
        f"{c['effective_batch_size']}; {c['steps']} steps; {c['threads']} threads pinned to CPUs "
        f"{c['cores']}; load average {res['load_average']['start']} -> {res['load_average']['end']}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write `benchmarks/results/training_throughput.json`."""
    parser = bench_parser(__doc__, "12 steps")
    parser.add_argument("--steps", type=int, default=None, help="Optimizer steps per run (default 40).")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-trl", action="store_true", help="Leave TRL's SFTTrainer out.")
    parser.add_argument(
        "--trl-padding-free",
        action="store_true",
        help="TRL on padding-free rows (slower on CPU than its padded batches, the default: see docs).",
    )
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
            repeats=pairs_wanted(args),
            trl=not args.no_trl,
            trl_padding_free=args.trl_padding_free,
        )
    report("training_throughput", res, table(res), args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
