"""Training throughput on CPU: the native engine (padding-free, token budget) vs HF `Trainer` and TRL.

Same tiny random Llama, same tokenised data (varied lengths: 1-3 chat turns), same effective batch size,
same samples per step in the same order, same AdamW settings and constant learning rate. Each side runs in
its own process (``benchmarks/train_worker.py``) with the same threads, pinned to the same cores: the
native engine, a plain HF `Trainer` on padded batches, and TRL's `SFTTrainer` (padded batches, its faster
configuration on CPU; ``--trl-padding-free`` for its padding-free rows). A round is one lockstep run
(:mod:`benchmarks.lockstep`): the three processes take turns step by step (native, HF, TRL; then the
reverse order), at least 7 rounds. Reported per round: the median over steps 2..N of the per-step ratio
of real (non-padding) tokens per CPU second, native / baseline (the primary figure: the same samples,
measured a fraction of a second apart); the same ratio over the whole round (sums of the steps); wall
clock as the median per-step ratio; the padding each baseline computes, and the loss curves (maximum
absolute per-step difference: with identical batches only floating-point order differs).

Usage: ``.venv/bin/python -m benchmarks.training_throughput [--quick] [--steps N] [--no-trl]``
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.benchlib import (
    bench_cores,
    bench_parser,
    build_tiny_assets,
    format_table,
    load_average,
    median,
    pair_rows,
    pairs_wanted,
    report,
    subprocess_env,
)
from benchmarks.chat_data import write_chat_dataset
from benchmarks.lockstep import Worker, run_lockstep
from benchmarks.ratios import MIN_PAIRS, summarize_ratios

TARGET_SPEEDUP = 1.5
#: Every pair must beat this for the target to count as met.
FLOOR_SPEEDUP = 1.2


def step_costs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per step from step 2 on: its real and padded tokens, CPU seconds and wall seconds.

    A step's cost runs from the release of the step before it (``released``/``released_cpu``, written by
    :class:`benchmarks.lockstep.StepGate`; without them, the end of the step before) to its own end, so
    the time a worker waits for its turn in lockstep is not counted. Step 1 is left out (one-off warm-up).
    """
    if len(rows) < 2:
        raise ValueError("need at least 2 steps to measure throughput")
    out = []
    for prev, row in zip(rows, rows[1:], strict=False):
        out.append(
            {
                "step": row["step"],
                "tokens": row["tokens"],
                "padded_tokens": row["padded_tokens"],
                "cpu": row["cpu"] - prev.get("released_cpu", prev["cpu"]) if "cpu" in row else None,
                "wall": row["time"] - prev.get("released", prev["time"]),
            }
        )
    return out


def throughput(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Real tokens/s, padded tokens/s and steps/s over steps 2..N (:func:`step_costs`), and per CPU second."""
    costs = step_costs(rows)
    dt = sum(c["wall"] for c in costs)
    real = sum(c["tokens"] for c in costs)
    padded = sum(c["padded_tokens"] for c in costs)
    out: dict[str, float] = {}
    if costs[0]["cpu"] is not None:
        # CPU time of the process (all its threads): less sensitive to other load than wall-clock time.
        out["tokens_per_cpu_second"] = real / max(sum(c["cpu"] for c in costs), 1e-9)
    return out | {
        "tokens_per_second": real / dt,
        "computed_tokens_per_second": padded / dt,
        "steps_per_second": len(costs) / dt,
        "seconds": dt,
        "tokens": real,
        "padded_tokens": padded,
    }


def step_ratios(native: list[dict[str, Any]], other: list[dict[str, Any]], key: str = "cpu") -> list[float]:
    """Per step (2..N, matched by number): native real tokens per ``key`` second / the other side's.

    Both sides train the same samples at step *s*, so this is the speedup on one batch; in lockstep the
    two measurements ran a fraction of a second apart.
    """
    theirs = {c["step"]: c for c in step_costs(other)}
    out = []
    for c in step_costs(native):
        o = theirs.get(c["step"])
        if o is not None:
            out.append((c["tokens"] / max(c[key], 1e-9)) / (o["tokens"] / max(o[key], 1e-9)))
    if not out:
        raise ValueError("the two runs have no step in common")
    return out


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
    # Rounds of one lockstep run each (benchmarks/lockstep.py): every side in its own process, all pinned
    # to the same cores with the same threads, taking turns step by step (order reversed every other
    # step, and every other round starts the other way). The primary figure is CPU time (user + sys of the
    # training process, from the OS) per real token, step by step; a round's ratio is the median of its
    # per-step ratios (steps 2..N).
    modes = ["native", "hf", *(["trl"] if trl else [])]
    cfg["trl_padding_free"] = trl_padding_free
    env = subprocess_env(OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    names = "".join(chr(ord("A") + i) for i in range(len(modes)))
    load_start = load_average()
    rounds: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []
    for i in range(repeats):
        workers = []
        for mode in modes:
            run_dir = workdir / f"round{i}-{mode}"
            run_dir.mkdir(parents=True, exist_ok=True)
            cfg_path = run_dir / "config.json"
            cfg_path.write_text(json.dumps(cfg | {"work_dir": str(run_dir)}))
            result = run_dir / "result.json"
            args = [
                "benchmarks.train_worker",
                "--mode",
                mode,
                "--config",
                str(cfg_path),
                "--result",
                str(result),
            ]
            workers.append(Worker(f"{mode} training worker", args, result))
        load_before = load_average()
        runs = run_lockstep(workers, env, bench_cores(threads), reverse_first=i % 2 == 1)
        order = names if i % 2 == 0 else names[::-1]
        rounds.append(
            (runs, {"pair": i, "order": order, "load_before": load_before, "load_after": load_average()})
        )
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
        for pair, (fs, _), (runs, _) in zip(res["pairs"], figures, rounds, strict=True):
            per_step = step_ratios(runs[0]["steps"], runs[k]["steps"])
            pair[f"cpu_step_ratios{suffix}"] = per_step
            pair[f"cpu_ratio{suffix}"] = median(per_step)
            pair[f"cpu_ratio_total{suffix}"] = fs[0]["tokens_per_cpu_second"] / fs[k]["tokens_per_cpu_second"]
            pair[f"wall_ratio{suffix}"] = median(step_ratios(runs[0]["steps"], runs[k]["steps"], "wall"))
        cpu = summarize_ratios([p[f"cpu_ratio{suffix}"] for p in res["pairs"]])
        total = summarize_ratios([p[f"cpu_ratio_total{suffix}"] for p in res["pairs"]])
        wall = summarize_ratios([p[f"wall_ratio{suffix}"] for p in res["pairs"]])
        # The median round of this comparison: its figures and loss curves are the ones printed.
        mid = sorted(range(len(rounds)), key=lambda i: res["pairs"][i][f"cpu_ratio{suffix}"])[
            len(rounds) // 2
        ]
        native, other = rounds[mid][0][0], rounds[mid][0][k]
        res |= {
            ("hf_trainer" if mode == "hf" else mode): figures[mid][0][k],
            f"speedup_cpu_time{suffix}": cpu.as_dict(),
            f"speedup_cpu_time_total{suffix}": total.as_dict(),
            f"meets_target_total{suffix}": total.meets(TARGET_SPEEDUP, FLOOR_SPEEDUP),
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
            *(f"{p[f'cpu_ratio_total{suffixes[m]}']:.2f}x" for m in others),
            *(f"{p[f'{m}_tokens_per_second']:.0f}" for m in modes),
            *(f"{p[f'wall_ratio{suffixes[m]}']:.2f}x" for m in others),
        ]

    headers = [
        "pair",
        "order",
        *(f"{NAMES[m]} tok/CPU-s" for m in modes),
        *(f"CPU ratio vs {NAMES[m]} (median of steps)" for m in others),
        *(f"CPU ratio vs {NAMES[m]} (whole round)" for m in others),
        *(f"{NAMES[m]} tok/s" for m in modes),
        *(f"wall ratio vs {NAMES[m]} (median of steps)" for m in others),
        "load 1 min",
    ]
    text = format_table(headers, pair_rows(res["pairs"], [NAMES[m] for m in modes], cells))
    for m in others:
        sfx = suffixes[m]
        cpu_s = summarize_ratios(res[f"speedup_cpu_time{sfx}"]["per_pair"])
        total_s = summarize_ratios(res[f"speedup_cpu_time_total{sfx}"]["per_pair"])
        total_met = "met" if res[f"meets_target_total{sfx}"] else "NOT met"
        wall_s = summarize_ratios(res[f"speedup_wall{sfx}"]["per_pair"])
        lo = res[f"losses{sfx}"]
        met = "met" if res[f"meets_target{sfx}"] else "NOT met"
        text += (
            f"\n\n**native vs {NAMES[m]}, per CPU second (a round: median of its per-step ratios): "
            f"{cpu_s.text()}** (target median >= {res['target_speedup']}x with every round > "
            f"{res['floor_speedup']}x over >= {MIN_PAIRS} rounds: {met}); per CPU second over whole rounds: "
            f"{total_s.text()} (target: {total_met}); wall clock (median of steps): {wall_s.text()}. "
            f"{NAMES[m]} computes {res[f'padding_overhead{sfx}']:.2f}x the real tokens (padding)\n"
            f"loss curves (median pair): max |diff| {lo['max_abs_diff']:.2e} (max relative "
            f"{lo['max_rel_diff']:.2e}), first {lo['first_loss'][0]:.4f} vs {lo['first_loss'][1]:.4f}, "
            f"last {lo['last_loss'][0]:.4f} vs {lo['last_loss'][1]:.4f}"
        )
    return text + (
        f"\n\nModel hidden {c['hidden_size']}, {c['num_hidden_layers']} layers; batch "
        f"{c['effective_batch_size']}; {c['steps']} steps in lockstep; {c['threads']} threads pinned to CPUs "
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
