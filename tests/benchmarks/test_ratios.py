"""The paired-comparison statistics every benchmark states its figures with (``benchmarks/benchlib.py``)."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest

from benchmarks.benchlib import (
    bench_cores,
    cpu_seconds,
    interleaved_pairs,
    interleaved_rounds,
    pair_rows,
)
from benchmarks.ratios import MIN_PAIRS, NOT_ESTABLISHED, outside_spread_chance, summarize_ratios


@pytest.mark.unit
def test_summary_states_min_median_max_of_the_pairs() -> None:
    s = summarize_ratios([1.7, 1.3, 1.9, 1.6, 1.5, 1.8, 1.4])
    assert (s.min, s.median, s.max) == (1.3, 1.6, 1.9)
    assert s.verdict == "above"
    assert s.meets(1.5, 1.2) and not s.meets(1.65, 1.2) and not s.meets(1.5, 1.3)
    d = s.as_dict()
    assert d["pairs"] == 7 and d["per_pair"][0] == 1.7 and d["verdict"] == "above"
    assert s.text() == "median 1.60x (min 1.30x, max 1.90x, 7 pairs)"


@pytest.mark.unit
def test_a_spread_that_crosses_the_reference_is_not_established() -> None:
    # The median says "faster", one pair says "slower": that is not a result.
    s = summarize_ratios([2.3, 0.97, 1.1, 1.4, 1.2, 1.3, 1.5])
    assert s.median > 1.0 and s.verdict == NOT_ESTABLISHED
    # meets() judges a target and a floor of its own, the verdict only the reference.
    assert s.meets(1.2, 0.9) and not s.meets(1.2, 1.0)
    assert "not established vs 1" in s.text()
    assert summarize_ratios([0.5, 0.6, 0.7, 0.55, 0.65, 0.52, 0.58]).verdict == "below"
    # A pair exactly at the reference does not establish a difference either.
    assert summarize_ratios([1.0, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7]).verdict == NOT_ESTABLISHED


@pytest.mark.unit
def test_fewer_than_seven_pairs_never_establish_or_meet() -> None:
    few = summarize_ratios([2.0] * (MIN_PAIRS - 1))
    assert few.verdict == NOT_ESTABLISHED
    assert not few.meets(1.5, 1.2) and not few.at_most(3.0)
    assert summarize_ratios([2.0] * MIN_PAIRS).meets(1.5, 1.2)


@pytest.mark.unit
def test_lower_is_better_ratio_against_a_goal() -> None:
    # Our pipeline's CPU time as a multiple of the tokenizer's own batch encode (the floor): goal <= 1.2x.
    s = summarize_ratios([1.10, 1.15, 1.12, 1.30, 1.11, 1.14, 1.13], reference=1.2)
    assert s.at_most(1.2) and s.verdict == NOT_ESTABLISHED  # median under the goal, one pair over it
    assert summarize_ratios([1.05] * 7, reference=1.2).verdict == "below"


@pytest.mark.unit
@pytest.mark.parametrize("bad", [[], [0.0], [-1.0], [float("inf")], [float("nan")]])
def test_bad_ratios_are_rejected(bad: list[float]) -> None:
    with pytest.raises(ValueError):
        summarize_ratios(bad)


@pytest.mark.unit
def test_pairs_alternate_their_order_and_record_the_load() -> None:
    calls: list[str] = []

    def first() -> str:
        calls.append("a")
        return "a"

    def second() -> str:
        calls.append("b")
        return "b"

    runs = interleaved_pairs(first, second, 4)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    # Results come back as (first, second) whatever order they ran in.
    assert [(a, b) for a, b, _ in runs] == [("a", "b")] * 4
    assert [info["order"] for _, _, info in runs] == ["AB", "BA", "AB", "BA"]
    assert all(len(info["load_before"]) == 3 and len(info["load_after"]) == 3 for _, _, info in runs)


@pytest.mark.unit
def test_rounds_of_three_reverse_their_order_so_every_two_sides_alternate() -> None:
    calls: list[str] = []

    def side(name: str) -> Any:
        def go() -> str:
            calls.append(name)
            return name

        return go

    runs = interleaved_rounds([side("a"), side("b"), side("c")], 3)
    assert calls == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert [res for res, _ in runs] == [["a", "b", "c"]] * 3
    assert [info["order"] for _, info in runs] == ["ABC", "CBA", "ABC"]
    assert [info["pair"] for _, info in runs] == [0, 1, 2]


@pytest.mark.unit
def test_pair_rows_name_the_side_that_ran_first_and_the_load() -> None:
    pairs = [
        {"pair": 0, "order": "ABC", "load_before": [1.5, 1, 1], "load_after": [2.0, 1, 1], "x": 1},
        {"pair": 1, "order": "CBA", "load_before": None, "load_after": [3.0, 1, 1], "x": 2},
    ]
    rows = pair_rows(pairs, ["native", "HF", "TRL"], lambda p: [p["x"] * 10])
    assert rows == [[1, "native first", 10, "1.5 -> 2.0"], [2, "TRL first", 20, "- -> 3.0"]]


@pytest.mark.unit
def test_cpu_seconds_counts_work_not_sleep() -> None:
    import time

    c0 = cpu_seconds()
    time.sleep(0.2)
    slept = cpu_seconds() - c0
    c1 = cpu_seconds()
    x = 0
    while cpu_seconds() - c1 < 0.05:
        x += 1
    assert slept < 0.05 and cpu_seconds() - c1 >= 0.05
    assert bench_cores(1) == [sorted(os.sched_getaffinity(0))[0]]
    assert len(bench_cores(10_000)) == len(os.sched_getaffinity(0))


@pytest.mark.unit
@pytest.mark.parametrize("pairs", [3, 4, 5, 6, 7])
def test_the_chance_of_a_median_outside_the_first_spread_counts_every_split_of_the_ranks(pairs: int) -> None:
    # Every way the 2n ranks of two runs' ratios can fall to the first run is equally likely when nothing
    # changed: count those where the second run's median lies outside the first run's min..max.
    outside = total = 0
    for first in itertools.combinations(range(2 * pairs), pairs):
        second = sorted(set(range(2 * pairs)) - set(first))
        middle = (second[(pairs - 1) // 2] + second[pairs // 2]) / 2
        outside += not min(first) <= middle <= max(first)
        total += 1
    if pairs % 2:
        assert outside_spread_chance(pairs) == pytest.approx(outside / total)
    else:  # the median of an even count is the mean of two ratios: the formula bounds it from above
        assert outside / total <= outside_spread_chance(pairs)
    assert outside_spread_chance(7) == pytest.approx(0.0699, abs=1e-4)
    assert outside_spread_chance(11) == pytest.approx(0.0124, abs=1e-4)
    with pytest.raises(ValueError, match="at least 2"):
        outside_spread_chance(1)
