"""The data pipeline benchmark's report (``python -m benchmarks.data_pipeline``): the Markdown table of a result."""

from __future__ import annotations

from typing import Any

from benchmarks.benchlib import format_table, pair_rows
from benchmarks.data_pipeline_floor import FLOOR_GOAL, MIN_CHUNK_PAIRS
from benchmarks.data_pipeline_ilab import INSTRUCTLAB_GOAL, TARGET_SPEEDUP
from benchmarks.ratios import summarize_ratios


def table(res: dict[str, Any]) -> str:
    """The Markdown table of a result."""
    s = res["samples_per_second"]
    base = s["ours_end_to_end"]
    rows = [
        ["ours, 1 thread", f"{s['ours_end_to_end']:.0f}", f"{s['ours_core']:.0f}", "1.00x"],
        [
            "ours, Rust encoder on all cores (default)",
            f"{s['ours_end_to_end_parallel']:.0f}",
            f"{s['ours_core_parallel']:.0f}",
            f"{s['ours_end_to_end_parallel'] / base:.2f}x",
        ],
        [
            "instructlab-training, 1 proc",
            f"{s['instructlab_end_to_end_1proc']:.0f}",
            f"{s['instructlab_core_1proc']:.0f}",
            f"{s['instructlab_end_to_end_1proc'] / base:.2f}x",
        ],
        [
            "instructlab-training, 2 procs",
            f"{s['instructlab_end_to_end_2proc']:.0f}",
            f"{s['instructlab_core_2proc']:.0f}",
            f"{s['instructlab_end_to_end_2proc'] / base:.2f}x",
        ],
    ]
    eq = res["equality"]
    fl = res["floor"]
    floor_rows = pair_rows(
        fl["pairs"],
        ["ours", "floor"],
        lambda p: [
            p["chunk"] + 1,
            f"{1000 * p['ours_cpu']:.1f}",
            f"{1000 * p['floor_cpu']:.1f}",
            f"**{p['ours_cpu'] / p['floor_cpu']:.3f}x**",
            " ".join(f"{1000 * c:.1f}" for c in p["ours_cpu_runs"]),
            " ".join(f"{1000 * c:.1f}" for c in p["floor_cpu_runs"]),
            f"{1000 * p['ours_wall']:.1f}",
            f"{1000 * p['floor_wall']:.1f}",
            f"{1000 * p['tokenizer_call_cpu']:.1f}",
        ],
    )
    ilab_rows = [
        [
            r + 1,
            f"{'ours' if q['order'] == 'AB' else 'instructlab'} first",
            f"{q['ours']['end_to_end_cpu_seconds']:.3f}",
            f"{q['ilab1']['end_to_end_cpu_seconds']:.3f}",
            f"**{q['ilab1']['end_to_end_cpu_seconds'] / q['ours']['end_to_end_cpu_seconds']:.2f}x**",
            f"{q['ilab1']['core_cpu_seconds'] / q['ours']['core_cpu_seconds']:.2f}x",
            " ".join(f"{c:.3f}" for c in q["ours_cpu_runs"]),
            " ".join(f"{c:.3f}" for c in q["instructlab_cpu_runs"]),
        ]
        for r, q in enumerate(res["instructlab_pairs"])
    ]
    floor_sum = summarize_ratios(fl["multiple"]["per_pair"], reference=FLOOR_GOAL)
    single = summarize_ratios(fl["single_run"]["per_pair"], reference=FLOOR_GOAL)
    verdict = fl["verdict"]
    band = verdict["band_p10_p90"]
    cpu_e2e = summarize_ratios(res["speedup_cpu_end_to_end"]["per_pair"])
    cpu_core = summarize_ratios(res["speedup_cpu_core"]["per_pair"])
    wall_e2e = summarize_ratios(res["speedup_wall_end_to_end"]["per_pair"])
    paired = (
        f"\n\n**Against the floor** (the Rust tokenizer's own `encode_batch_fast` of the same rendered texts, "
        f"its encodings freed; CPU seconds of the process, one core, the encoder on one thread; chunks of "
        f"{fl['chunk_samples']} samples, {fl['passes']} passes; in each chunk pair {fl['repeats']} runs of each "
        f"side, the sides alternating which runs first, the pair's figure of a side the median of its runs; "
        f"ms):\n\n"
        + format_table(
            [
                "pair",
                "order",
                "chunk",
                "ours CPU",
                "floor CPU",
                "multiple",
                "ours CPU, each run",
                "floor CPU, each run",
                "ours wall",
                "floor wall",
                "tokenizer(texts) CPU",
                "load 1 min",
            ],
            floor_rows,
        )
        + f"\n\nours / floor per chunk pair: **median {floor_sum.median:.3f}x (min {floor_sum.min:.3f}x, max "
        f"{floor_sum.max:.3f}x, {len(floor_sum.ratios)} pairs)**; 10th-90th percentile "
        f"{band[0]:.3f}x-{band[1]:.3f}x; over all chunks {fl['whole']['multiple']:.3f}x "
        f"({fl['whole']['ours_cpu']:.3f} / {fl['whole']['floor_cpu']:.3f} CPU s; other threads "
        f"{1000 * fl['whole']['other_threads_cpu']:.1f} ms); first call (cold, not in the pairs) "
        f"{fl['cold']['multiple']:.2f}x; per call, whatever its size, "
        f"{1000 * fl['per_call_cpu']:.2f} ms (a one-sample file, its floor subtracted). Goal <= {FLOOR_GOAL}x "
        f"for every chunk pair over >= {MIN_CHUNK_PAIRS}: "
        + ("**established**" if verdict["established"] else "**not established**")
        + (
            ""
            if verdict["established"]
            else f" (fewer than {MIN_CHUNK_PAIRS} pairs)"
            if not verdict["enough_pairs"]
            else f" (median {'within' if verdict['median_within_goal'] else 'above'} the goal, "
            f"10th-90th percentile band {'within' if verdict['band_within_goal'] else 'not within'} it)"
        )
        + f". The first run of each pair alone (pairs of one run, as earlier rounds measured): median "
        f"{single.median:.3f}x, max {single.max:.3f}x, {sum(r > FLOOR_GOAL for r in single.ratios)} of "
        f"{len(single.ratios)} above {FLOOR_GOAL}x. The machine's noise on one identical call: the floor's "
        f"slowest run over its fastest in a pair, median {fl['floor_noise']['median']:.3f}x, max "
        f"{fl['floor_noise']['max']:.3f}x"
        + f"; load average {fl['load_average']['start']} -> {fl['load_average']['end']}"
        + f"\n\n**Against instructlab-training** (1 process each, end to end, CPU seconds; in each pair "
        f"{res['pair_runs']} run(s) of each side back to back, the pair's figure of a side the median of its "
        "runs):\n\n"
        + format_table(
            [
                "pair",
                "order",
                "ours CPU s",
                "instructlab CPU s",
                "speedup",
                "core speedup",
                "ours' runs",
                "instructlab's runs",
            ],
            ilab_rows,
        )
        + f"\n\nend to end per CPU second: **{cpu_e2e.text()}** (goal >= {INSTRUCTLAB_GOAL:.0f}x, every pair "
        f"> 1: {'met' if res['meets_instructlab_goal'] else 'NOT met'}); core {cpu_core.text()}; wall clock "
        f"{wall_e2e.text()}; load average {res['load_average']['start']} -> {res['load_average']['end']}"
    )
    return (
        format_table(["pipeline", "samples/s end to end", "samples/s core", "relative (end to end)"], rows)
        + f"\n\nspeedup vs instructlab (1 proc): end to end {res['speedup_end_to_end_1proc']:.1f}x, "
        f"core {res['speedup_core_1proc']:.1f}x (target {TARGET_SPEEDUP:.0f}x); all cores vs 2 procs: "
        f"end to end {res['speedup_parallel_vs_2proc']['end_to_end']:.1f}x, "
        f"core {res['speedup_parallel_vs_2proc']['core']:.1f}x; "
        f"{res['samples']} samples, {res['num_tokens']} tokens\n"
        f"equality on {eq['num_compared']} shared samples ({eq['num_tokens_compared']} tokens, "
        f"{eq['num_trained_tokens_compared']} trained): "
        + ("identical token ids and labels" if eq["equal"] else f"DIFFERENT ({eq})")
        + paired
    )
