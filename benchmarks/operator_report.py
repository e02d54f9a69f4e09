"""The operator benchmark's report: the Markdown table of a result (:func:`table`), the pairs against a
baseline, the operator's logged problems and, probed, its memory censuses and tracemalloc findings."""

from __future__ import annotations

from typing import Any

from benchmarks.benchlib import format_table
from benchmarks.operator_measure import FLOOR_REQUESTS
from benchmarks.operator_summary import TARGET_P99_S, TARGET_REQUESTS_PER_RUN, TARGET_RSS_GROWTH_MIB


def table(res: dict[str, Any]) -> str:
    """The Markdown table of a result."""
    rows = []
    for r in res["rows"]:
        launched = max(r["jobs_created"], 1)
        top = ", ".join(
            f"{k} {v / launched:.2f}" for k, v in r["api_requests_by_kind"].items() if v / launched >= 0.05
        )
        done = "" if r["complete"] else " (timeout)"
        low = "" if r["complete"] else ">= "  # runs without a job yet are not in the percentiles
        rows.append(
            [
                f"{r['n']}" + (f" (baseline {r['baseline']})" if r.get("baseline") else ""),
                f"{r['jobs_created']}/{r['runs_created']}"
                + ("" if r["runs_created"] >= r["n"] else f" ({r['n']} asked, budget)"),
                f"{r['apply_to_all_jobs_seconds']:.1f}{done}",
                f"{r['jobs_per_second']:.1f}",
                f"{r['create_seconds'] or 0:.1f}",
                f"{low}{r['latency_p50_seconds']:.2f}",
                f"{low}{r['latency_p99_seconds']:.2f}",
                f"{r['api_requests_per_run']:.1f} ({top})",
                f"{r['rss_idle_bytes'] / 2**20:.0f} -> {r['rss_after_bytes'] / 2**20:.0f}",
                f"{r['rss_growth_per_run_bytes'] / 1024:.1f}",
                ", ".join(f"{m['launched']}: {m['rss_bytes'] / 2**20:.0f}" for m in r["rss_at_launched"]),
                f"{r['operator_cpu_ms_per_run']:.1f}",
            ]
        )
    head = [
        "N",
        "jobs",
        "first create -> last job s",
        "jobs/s",
        "create s",
        "p50 s",
        "p99 s",
        "API requests / launched run",
        "RSS MiB",
        "RSS KiB / launched run",
        "RSS MiB at launched runs",
        "operator CPU ms / run",
    ]
    big = res["rows"][-1]
    above = ", ".join(
        f"{k} {v:.2f}" for k, v in big["api_requests_above_floor_per_run"].items() if v >= 0.005
    )
    return (
        format_table(head, rows)
        + (
            f"\n\nAt N={res['target_n']}: p99 {big['latency_p99_seconds']:.2f} s (target < {TARGET_P99_S} s: "
            f"{'met' if res['meets_p99_target'] else 'NOT met'}); {big['api_requests_per_run']:.2f} API requests "
            f"per run (target <= {TARGET_REQUESTS_PER_RUN:g}: {'met' if res['meets_requests_target'] else 'NOT met'}; "
            f"floor {' + '.join(FLOOR_REQUESTS)}; above it: {above or 'nothing'}); RSS growth "
            f"{res['rss_growth_mib']:.1f} MiB (target < {TARGET_RSS_GROWTH_MIB:g} MiB: "
            f"{'met' if res['meets_rss_target'] else 'NOT met'}); load average after {big['load_average_after']}. "
            f"RSS growth per launched run at the largest N / at the smallest: "
            f"{'n/a' if res['rss_growth_per_run_ratio'] is None else format(res['rss_growth_per_run_ratio'], '.2f')}"
            f"; RSS growth ~ N^k with k = "
            f"{'n/a' if res.get('rss_growth_exponent') is None else format(res['rss_growth_exponent'], '.2f')}"
            f" (sublinear: {res['rss_growth_sublinear']})"
        )
        + _comparison_text(res)
        + _probe_text(res)
    )


def _comparison_text(res: dict[str, Any]) -> str:
    """The interleaved pairs against a baseline (empty without one)."""
    comp = res.get("comparison") or {}
    if not comp:
        return ""
    lines = [f"\n\nRSS growth MiB, baseline {comp['baseline']} vs this tree, interleaved pairs:"]
    for p in comp["pairs"]:
        a, b = p["growth_mib"]
        lines.append(
            f"    pair {p['pair']} (N={p['n']}, order {p['order']}, load {p['load_before']} -> {p['load_after']}): "
            f"{a:.1f} -> {b:.1f}" + (f" ({b / a:.2f}x)" if a > 0 else "")
        )
    summary = comp.get("rss_growth_ratio")
    if summary:
        lines.append(
            f"    ratio this tree / baseline: median {summary['median']:.2f}x (min {summary['min']:.2f}x, max "
            f"{summary['max']:.2f}x, {summary['pairs']} pairs; {summary['verdict']} vs 1)"
        )
    return "\n".join(lines)


def _probe_text(res: dict[str, Any]) -> str:
    """The operator's logged problems and the tracemalloc findings of a probed run (empty otherwise)."""
    out = []
    for r in res["rows"]:
        problems = r.get("operator_log_problems") or {}
        if problems.get("count"):
            out.append(
                f"\n\nN={r['n']}: the operator logged {problems['count']} warning/error lines; the last:"
            )
            out += [f"    {line}" for line in problems["last"]]
        out += _census_text(r)
        probe = r.get("tracemalloc") or {}
        if not probe:
            continue
        traced = ", ".join(f"{k}: {v:.1f}" for k, v in probe["traced_mib"].items())
        out.append(
            f"\n\nN={r['n']}: traced Python MiB at launched runs {traced}; growth between "
            f"{probe['between'][0]} and {probe['between'][1]} (launched runs; end: once quiet), by file:"
        )
        out += [f"    {line}" for line in probe["growth_files"][:10]]
        out.append("by line:")
        out += [f"    {line}" for line in probe["growth_sites"]]
    return "\n".join(out)


def _census_text(row: dict[str, Any]) -> list[str]:
    """One line per census of a probed row (MiB), then the tracked object types that grew most."""
    points = row.get("census") or []
    if not points:
        return []
    out = [
        f"\n\nN={row['n']}: the operator's memory at launched runs (MiB; census of benchmarks/memory_census.py):"
    ]
    for p in points:
        maps = p["rss_by_mapping"]
        sized = [v["mib"] for v in p["runner"].values() if v["mib"] is not None]
        counted = max((v["count"] for v in p["runner"].values()), default=0)
        runner = f"{sum(sized):.1f}" if sized else f"{counted} runs (not sized)"
        kopf = ", ".join(f"{m['count']} objects {m['mib']:.1f}" for m in p["kopf_memories"]) or "not counted"
        trim = p.get("trim")
        out.append(
            f"    {p['label']}: RSS {p['rss']:.1f} (heap {maps.get('heap', 0):.1f}, anon {maps.get('anon', 0):.1f}, "
            f"file {maps.get('file', 0):.1f}); malloc arenas {p['malloc_arenas']:.1f} (in use "
            f"{p['malloc_in_use']:.1f}, free {p['malloc_free']:.1f}), mmapped {p['malloc_mmapped']:.1f}; "
            f"pymalloc arenas {p['pymalloc_arenas']:.1f} (blocks in use {p['pymalloc_in_use']:.1f}, peak "
            f"{p['pymalloc_peak']:.0f}); runner maps {runner}; kopf memories {kopf}; tracked objects "
            f"{p['tracked_objects']}; "
            f"threads {p['threads']}, tasks {p['asyncio_tasks']}, events queued {p['events_queued']}"
            + (f"; traced {p['traced']:.1f}" if "traced" in p else "")
            + (
                f"; malloc_trim(0): RSS {trim['rss_before']:.1f} -> {trim['rss_after']:.1f} in {trim['ms']:.1f} ms"
                if trim
                else ""
            )
        )
    counted = [p for p in points if p["objects_by_type"]]
    if counted:
        first, last = counted[0]["objects_by_type"], counted[-1]["objects_by_type"]
        base = first if len(counted) > 1 else {}
        grown = sorted(((last[k] - base.get(k, 0), k) for k in last), reverse=True)[:12]
        out.append(
            (
                "    tracked objects that grew most (first -> last full census): "
                if base
                else "    tracked objects at the end, most numerous: "
            )
            + ", ".join(f"{k} {d:+d}" if base else f"{k} {d}" for d, k in grown if d > 0)
        )
    return out
