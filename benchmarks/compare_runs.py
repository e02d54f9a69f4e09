"""Does a second ``make bench`` reproduce the first? Every headline figure of two result directories side by side.

Usage: ``.venv/bin/python -m benchmarks.compare_runs FIRST_DIR SECOND_DIR [--out FILE]`` (each directory
holds the ``*.json`` a ``make bench`` wrote: ``benchmarks/results`` or a copy of it).

A figure measured in pairs (the training throughput against HF and TRL, the data pipeline against its
floor and against instructlab-training) states its spread: the min..max of its pairs. It is *reproduced*
when the second run's median lies within the first run's spread and both runs meet its target. A figure
measured once per run (the operator at N = 10,000: p99, API requests per run, RSS growth; the estimator's
worst error) has no spread of its own: it is reproduced when both runs meet its target. The cold start
(three repeats, no target) is shown beside them and not judged. Exit code 1 if a judged figure is not
reproduced or a file is missing. Beside each spread the comparison states the chance that the second median
falls outside it by chance alone (:func:`benchmarks.ratios.outside_spread_chance` of the first run's pairs).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.benchlib import format_table
from benchmarks.ratios import outside_spread_chance

Result = dict[str, Any]


@dataclass(frozen=True)
class Figure:
    """One headline figure: where it is, its value, its spread (figures measured in pairs) and its target.

    Attributes:
        name: What the figure is.
        file: The result file (``<file>.json``).
        value: The headline value of a result.
        spread: The min..max of a result's pairs; None for a figure measured once per run.
        pairs: How many pairs (or repeats) a result's spread is over; None for a figure without a spread.
        meets: Whether a result meets the figure's target.
        target: The target, in words.
        judged: Whether the figure is a claim the comparison judges (False: shown only).
    """

    name: str
    file: str
    value: Callable[[Result], float]
    spread: Callable[[Result], tuple[float, float]] | None
    meets: Callable[[Result], bool]
    target: str
    judged: bool = True
    pairs: Callable[[Result], int] | None = None


def _ratio(key: str) -> dict[str, Any]:
    """The median, the min..max and the pairs of a :class:`benchmarks.ratios.RatioSummary` under ``key``."""
    return {
        "value": lambda r: float(r[key]["median"]),
        "spread": lambda r: (float(r[key]["min"]), float(r[key]["max"])),
        "pairs": lambda r: len(r[key]["per_pair"]),
    }


def _floor(r: Result) -> Result:
    return dict(r["floor"]["multiple"])


def _operator_row(r: Result) -> Result:
    return dict(next(row for row in r["rows"] if row["n"] == r["target_n"]))


def _cold_totals(r: Result) -> list[float]:
    return [float(run["total"]) for run in r["runs"]["cold"]]


def _worst_estimate(r: Result) -> float:
    return max(abs(float(row["rel_error_expected"])) for row in r["rows"])


#: The headline figures, in the order of docs/benchmarks.md.
FIGURES: tuple[Figure, ...] = (
    Figure(
        "training: native / HF Trainer (padded), per CPU second",
        "training_throughput",
        **_ratio("speedup_cpu_time"),
        meets=lambda r: bool(r["meets_target"]),
        target=">= 1.5x median, min > 1.2x",
    ),
    Figure(
        "training: native / TRL SFTTrainer, per CPU second",
        "training_throughput",
        **_ratio("speedup_cpu_time_vs_trl"),
        meets=lambda r: float(r["speedup_cpu_time_vs_trl"]["min"]) > 1.0,
        target="every pair > 1x (reported)",
    ),
    Figure(
        "data pipeline / tokenizer floor, per chunk pair",
        "data_pipeline",
        value=lambda r: float(_floor(r)["median"]),
        spread=lambda r: (float(_floor(r)["min"]), float(_floor(r)["max"])),
        pairs=lambda r: len(_floor(r)["per_pair"]),
        meets=lambda r: bool(r["floor"]["verdict"]["established"]),
        target="<= 1.2x in every chunk pair",
    ),
    Figure(
        "data pipeline: instructlab-training / ours, per CPU second",
        "data_pipeline",
        **_ratio("speedup_cpu_end_to_end"),
        meets=lambda r: bool(r["meets_instructlab_goal"]),
        target=">= 5x median, every pair > 1x",
    ),
    *(
        Figure(name, file, value, None, meets, target)
        for name, file, value, meets, target in (
            (
                "operator at N = 10,000: apply-to-job p99 (s)",
                "operator_throughput",
                lambda r: float(_operator_row(r)["latency_p99_seconds"]),
                lambda r: bool(r["meets_p99_target"]),
                "< 1 s",
            ),
            (
                "operator at N = 10,000: API requests per run",
                "operator_throughput",
                lambda r: float(_operator_row(r)["api_requests_per_run"]),
                lambda r: bool(r["meets_requests_target"]),
                "<= 4",
            ),
            (
                "operator: RSS growth 0 -> 10,000 runs (MiB)",
                "operator_throughput",
                lambda r: float(r["rss_growth_mib"]),
                lambda r: bool(r["meets_rss_target"]),
                "< 50 MiB",
            ),
            (
                "estimator: worst error of expected vs measured (fraction, absolute)",
                "estimator_accuracy",
                _worst_estimate,
                lambda r: _worst_estimate(r) <= float(r["target_rel_error"]),
                "<= 15%",
            ),
        )
    ),
    Figure(
        "startup: process start to first optimizer step, cold (s)",
        "startup",
        value=lambda r: statistics.median(_cold_totals(r)),
        spread=lambda r: (min(_cold_totals(r)), max(_cold_totals(r))),
        pairs=lambda r: len(_cold_totals(r)),
        meets=lambda r: True,
        target="(none: shown, not judged)",
        judged=False,
    ),
)


def compare(first: dict[str, Result], second: dict[str, Result]) -> list[dict[str, Any]]:
    """Each figure of the two runs (results by file name): values, spreads, targets and the verdict."""
    out = []
    for fig in FIGURES:
        a, b = first[fig.file], second[fig.file]
        va, vb = fig.value(a), fig.value(b)
        row: dict[str, Any] = {"figure": fig.name, "target": fig.target, "first": va, "second": vb}
        row["meets_target"] = [fig.meets(a), fig.meets(b)]
        if fig.spread is not None:
            sa, sb = fig.spread(a), fig.spread(b)
            row["spread"] = [list(sa), list(sb)]
            row["within_spread"] = sa[0] <= vb <= sa[1]
            if fig.pairs is not None:
                row["chance_outside"] = outside_spread_chance(fig.pairs(a))
            row["reproduced"] = row["within_spread"] and all(row["meets_target"])
        else:
            row["reproduced"] = all(row["meets_target"])
        if not fig.judged:
            row["reproduced"] = None
        out.append(row)
    return out


def load(directory: Path) -> dict[str, Result]:
    """The result files of one run, by name.

    Raises:
        FileNotFoundError: If a figure's file is missing.
    """
    names = {fig.file for fig in FIGURES}
    return {name: json.loads((directory / f"{name}.json").read_text(encoding="utf-8")) for name in names}


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) >= 1 else f"{x:.3f}"


def _chance(row: dict[str, Any]) -> str:
    chance = row.get("chance_outside")
    if chance is None:
        return ""
    return f" (by chance alone: {'< 0.1' if chance < 0.001 else f'{100 * chance:.1f}'}%)"


def table(rows: list[dict[str, Any]], first: dict[str, Result], second: dict[str, Result]) -> str:
    """The Markdown comparison: one line per figure, then the dates and loads of the two runs."""
    lines = []
    for row in rows:
        spread = row.get("spread")
        cells = [
            row["figure"],
            row["target"],
            _num(row["first"]) + (f" ({_num(spread[0][0])}-{_num(spread[0][1])})" if spread else ""),
            _num(row["second"]) + (f" ({_num(spread[1][0])}-{_num(spread[1][1])})" if spread else ""),
            (("yes" if row["within_spread"] else "**no**") + _chance(row)) if spread else "(one value a run)",
            " / ".join("met" if m else "**not met**" for m in row["meets_target"])
            if row["reproduced"] is not None
            else "-",
            "(not judged)" if row["reproduced"] is None else "**yes**" if row["reproduced"] else "**NO**",
        ]
        lines.append(cells)
    head = [
        "figure",
        "target",
        "first run (pairs' min-max)",
        "second run (pairs' min-max)",
        "second median within the first's spread",
        "target (first / second)",
        "reproduced",
    ]
    when = "; ".join(
        f"{label}: {', '.join(sorted({str(r['machine']['date']) for r in run.values() if isinstance(r.get('machine'), dict)}))}"
        for label, run in (("first run", first), ("second run", second))
    )
    return format_table(head, lines) + f"\n\nResults dated {when}."


def main(argv: list[str] | None = None) -> int:
    """Compare two result directories; print the table; exit 1 unless every figure is reproduced."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="Also write the comparison as JSON.")
    args = parser.parse_args(argv)
    try:
        first, second = load(args.first), load(args.second)
    except FileNotFoundError as exc:
        parser.exit(1, f"compare_runs: {exc.filename} is missing: run `make bench` first\n")
    rows = compare(first, second)
    print(table(rows, first, second))
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["reproduced"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
