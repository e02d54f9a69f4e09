"""Two ``make bench`` runs compared figure by figure (``benchmarks/compare_runs.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.compare_runs import FIGURES, compare, load, main, table

pytestmark = pytest.mark.unit


def _ratios(lo: float, mid: float, hi: float, pairs: int = 11) -> dict[str, Any]:
    return {"min": lo, "median": mid, "max": hi, "per_pair": [lo] + [mid] * (pairs - 2) + [hi]}


def _run(train: float = 1.6, floor_max: float = 1.17, p99: float = 0.2) -> dict[str, Any]:
    """The result files of one run, holding only what the figures read."""
    return {
        "training_throughput": {
            "speedup_cpu_time": _ratios(train - 0.05, train, train + 0.05),
            "meets_target": train >= 1.5,
            "speedup_cpu_time_vs_trl": _ratios(1.8, 1.85, 1.9, pairs=7),
        },
        "data_pipeline": {
            "floor": {
                "multiple": _ratios(1.1, 1.14, floor_max),
                "verdict": {"established": floor_max <= 1.2},
            },
            "speedup_cpu_end_to_end": _ratios(4.9, 5.3, 6.0),
            "meets_instructlab_goal": True,
        },
        "operator_throughput": {
            "target_n": 10000,
            "rows": [
                {"n": 100, "latency_p99_seconds": 9.0, "api_requests_per_run": 9.0},
                {"n": 10000, "latency_p99_seconds": p99, "api_requests_per_run": 3.05},
            ],
            "rss_growth_mib": 30.0,
            "meets_p99_target": p99 < 1.0,
            "meets_requests_target": True,
            "meets_rss_target": True,
        },
        "estimator_accuracy": {"target_rel_error": 0.15, "rows": [{"rel_error_expected": -0.07}]},
        "startup": {"runs": {"cold": [{"total": 3.0}, {"total": 3.1}, {"total": 3.2}]}},
    }


def _verdicts(first: dict[str, Any], second: dict[str, Any]) -> dict[str, bool]:
    return {row["figure"]: row["reproduced"] for row in compare(first, second)}


def test_a_figure_in_pairs_is_reproduced_when_the_second_median_is_within_the_first_spread() -> None:
    same = _verdicts(_run(), _run())
    judged = {fig.name for fig in FIGURES if fig.judged}
    assert {name for name, ok in same.items() if ok} == judged and len(same) == len(FIGURES)
    assert [name for name, ok in same.items() if ok is None] == [FIGURES[-1].name]  # startup: shown only
    moved = _verdicts(_run(train=1.6), _run(train=1.7))  # 1.7 is outside 1.55-1.65
    assert [name for name, ok in moved.items() if ok is False] == [FIGURES[0].name]
    # A move within the first run's spread (1.55-1.65) is reproduced.
    assert _verdicts(_run(train=1.6), _run(train=1.63))[FIGURES[0].name]


def test_a_missed_target_is_not_reproduced_whatever_the_spread() -> None:
    over = _verdicts(_run(), _run(floor_max=1.21))
    assert [name for name, ok in over.items() if ok is False] == [FIGURES[2].name]
    slow = _verdicts(_run(p99=1.5), _run(p99=1.5))
    assert [name for name, ok in slow.items() if ok is False] == [FIGURES[4].name]


def test_main_reads_two_result_directories_and_exits_by_the_verdict(tmp_path: Path, capsys) -> None:
    for name, runs in (("a", _run()), ("b", _run()), ("c", _run(train=1.7))):
        (tmp_path / name).mkdir()
        for file, result in runs.items():
            (tmp_path / name / f"{file}.json").write_text(json.dumps(result))
    assert set(load(tmp_path / "a")) == {fig.file for fig in FIGURES}
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp.json")]) == 0
    assert "| reproduced |" in capsys.readouterr().out
    assert len(json.loads((tmp_path / "cmp.json").read_text())) == len(FIGURES)
    assert main([str(tmp_path / "a"), str(tmp_path / "c")]) == 1
    (tmp_path / "b" / "startup.json").unlink()
    with pytest.raises(SystemExit) as exited:
        main([str(tmp_path / "a"), str(tmp_path / "b")])
    assert exited.value.code == 1 and "startup.json is missing" in capsys.readouterr().err


def test_each_spread_states_the_chance_of_a_miss_by_chance_alone() -> None:
    # The first run's pairs decide it: 11 pairs 1.2%, 7 pairs 7.0%; a value measured once a run has none.
    rows = {row["figure"]: row for row in compare(_run(), _run())}
    assert rows[FIGURES[0].name]["chance_outside"] == pytest.approx(0.0124, abs=1e-4)
    assert rows[FIGURES[1].name]["chance_outside"] == pytest.approx(0.0699, abs=1e-4)
    assert "chance_outside" not in rows[FIGURES[4].name]
    text = table(compare(_run(), _run()), _run(), _run())
    assert "yes (by chance alone: 1.2%)" in text and "yes (by chance alone: 7.0%)" in text
