"""The operator benchmark's result (:func:`summarize`): its targets judged on this tree's largest row,
whether RSS grows sublinearly with N, and the interleaved pairs against a baseline."""

from __future__ import annotations

import math
from typing import Any

from benchmarks.ratios import summarize_ratios

TARGET_P99_S = 1.0
TARGET_N = 10_000
TARGET_REQUESTS_PER_RUN = 4.0
TARGET_RSS_GROWTH_MIB = 50.0


def summarize(
    sizes: list[int], rows: list[dict[str, Any]], paired: list[dict[str, Any]], baseline: str | None
) -> dict[str, Any]:
    """The result of :func:`benchmarks.operator_throughput.run`: the rows, the targets judged on the last row (this tree's), whether RSS
    grows sublinearly with N (this tree's rows of different sizes), and the pairs against a baseline."""
    # Sublinear memory: RSS growth ~ N^k with k < 1 (the growth per launched run falls as N grows).
    # This tree's rows of different sizes only (with a baseline, the last pair's).
    own = list({r["n"]: r for r in rows if r.get("code") is None}.values())
    per_run = [r["rss_growth_per_run_bytes"] for r in own]
    sublinear, ratio, exponent = None, None, None
    if len(own) >= 2 and per_run[0] > 0:
        ratio = per_run[-1] / per_run[0]
        first, last = own[0], own[-1]
        grown = [r["rss_after_bytes"] - r["rss_idle_bytes"] for r in (first, last)]
        if grown[0] > 0 and grown[1] > 0 and last["jobs_created"] != first["jobs_created"]:
            exponent = math.log(grown[1] / grown[0]) / math.log(
                last["jobs_created"] / max(first["jobs_created"], 1)
            )
        sublinear = ratio < 1.0 and (exponent is None or exponent < 1.0)
    big = rows[-1]  # the targets are stated at the largest N (10,000 in a full run; this tree's row)
    growth_mib = rss_growth_mib(big)
    comparison: dict[str, Any] = {}
    if paired:
        ratios = [
            b / a for a, b in (p["growth_mib"] for p in paired if p["n"] == sizes[-1]) if a > 0 and b > 0
        ]
        comparison = {
            "baseline": baseline,
            "pairs": paired,
            "rss_growth_ratio": summarize_ratios(ratios).as_dict() if ratios else None,
        }
    return {
        "comparison": comparison,
        "sizes": sizes,
        "rows": rows,
        "target_p99_seconds": TARGET_P99_S,
        "target_n": big["runs_created"],
        "meets_p99_target": bool(big["complete"] and big["latency_p99_seconds"] < TARGET_P99_S),
        "target_requests_per_run": TARGET_REQUESTS_PER_RUN,
        "meets_requests_target": bool(
            big["complete"] and big["api_requests_per_run"] <= TARGET_REQUESTS_PER_RUN
        ),
        "rss_growth_mib": growth_mib,
        "target_rss_growth_mib": TARGET_RSS_GROWTH_MIB,
        "meets_rss_target": bool(big["complete"] and growth_mib < TARGET_RSS_GROWTH_MIB),
        "rss_growth_sublinear": sublinear,
        "rss_growth_per_run_ratio": ratio,
        "rss_growth_exponent": exponent,
    }


def rss_growth_mib(row: dict[str, Any]) -> float:
    """RSS growth of a row from idle to the end, MiB."""
    return float(row["rss_after_bytes"] - row["rss_idle_bytes"]) / 2**20
