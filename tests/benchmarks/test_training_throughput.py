"""The training throughput benchmark's measuring code, on a very small size."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.lockstep import step_order
from benchmarks.training_throughput import compare_losses, run, step_costs, step_ratios, table, throughput


@pytest.mark.unit
def test_throughput_skips_the_first_step_and_counts_padding() -> None:
    rows = [
        {"step": 1, "tokens": 100, "padded_tokens": 150, "time": 10.0},
        {"step": 2, "tokens": 40, "padded_tokens": 80, "time": 12.0},
        {"step": 3, "tokens": 60, "padded_tokens": 70, "time": 13.0},
    ]
    t = throughput(rows)
    assert t["tokens"] == 100 and t["padded_tokens"] == 150
    assert t["tokens_per_second"] == pytest.approx(100 / 3)
    assert t["computed_tokens_per_second"] == pytest.approx(50.0)
    assert t["steps_per_second"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        throughput(rows[:1])


@pytest.mark.unit
def test_a_step_costs_from_the_release_of_the_step_before_it() -> None:
    # In lockstep a worker waits for its turn between steps: that wait is neither CPU nor wall time of it.
    rows = [
        {
            "step": 1,
            "tokens": 10,
            "padded_tokens": 10,
            "time": 1.0,
            "cpu": 1.0,
            "released": 5.0,
            "released_cpu": 1.01,
        },
        {
            "step": 2,
            "tokens": 20,
            "padded_tokens": 30,
            "time": 6.0,
            "cpu": 1.51,
            "released": 9.0,
            "released_cpu": 1.52,
        },
        {"step": 3, "tokens": 40, "padded_tokens": 40, "time": 11.0, "cpu": 3.52},
    ]
    costs = step_costs(rows)
    assert [c["step"] for c in costs] == [2, 3]
    assert [c["cpu"] for c in costs] == pytest.approx([0.5, 2.0])
    assert [c["wall"] for c in costs] == pytest.approx([1.0, 2.0])
    t = throughput(rows)
    assert t["tokens_per_cpu_second"] == pytest.approx(60 / 2.5) and t["seconds"] == pytest.approx(3.0)
    # Per-step ratios pair the same step of both sides: here the other side took twice the CPU per step.
    slower = [r | {"cpu": r["cpu"] * 2, "released_cpu": r.get("released_cpu", 0) * 2} for r in rows]
    assert step_ratios(rows, slower) == pytest.approx([2.0, 2.0])
    with pytest.raises(ValueError):
        step_ratios(rows, [rows[0], rows[0] | {"step": 9}])


@pytest.mark.unit
def test_lockstep_order_alternates_every_step() -> None:
    assert [step_order(s, 3) for s in (2, 3, 4)] == [[0, 1, 2], [2, 1, 0], [0, 1, 2]]
    assert step_order(2, 3, reverse_first=True) == [2, 1, 0]


@pytest.mark.unit
def test_compare_losses_matches_steps_by_number() -> None:
    a = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}, {"step": 3, "loss": 0.5}]
    b = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.1}]
    res = compare_losses(a, b)
    assert res["steps_compared"] == 2
    assert res["max_abs_diff"] == pytest.approx(0.1)
    assert res["max_rel_diff"] == pytest.approx(0.1 / 1.1)
    assert res["last_loss"] == (1.0, 1.1)


@pytest.mark.integration
def test_native_and_hf_trainer_train_the_same_batches(tmp_path: Path) -> None:
    res = run(tmp_path, steps=4, samples=16, batch=4, hidden=32, layers=1, threads=1, repeats=1, trl=True)
    native, hf = res["native_steps"], res["hf_steps"]
    assert [r["step"] for r in native] == [1, 2, 3, 4] == [r["step"] for r in hf]
    # Same samples per step: the same real tokens; HF computes padding on top.
    assert [r["tokens"] for r in native] == [r["tokens"] for r in hf]
    assert all(r["padded_tokens"] >= r["tokens"] for r in hf)
    assert res["padding_overhead"] > 1.0
    # Same loss curve: identical data and maths, only floating-point order differs.
    assert res["losses"]["steps_compared"] == 4
    assert res["losses"]["max_rel_diff"] < 1e-4
    assert native[-1]["loss"] < native[0]["loss"]
    assert res["speedup_cpu_time"]["pairs"] == 1 and res["speedup_cpu_time"]["median"] > 0
    assert res["speedup_cpu_time"]["verdict"] == "not established"  # one pair never establishes a ratio
    assert res["pairs"][0]["order"] == "ABC" and "loss curves" in table(res)
    # TRL's SFTTrainer, the third side of the same rounds: the same batches (padded by default) and the
    # same loss curve, its own ratio.
    trl = res["trl_steps"]
    assert [r["tokens"] for r in trl] == [r["tokens"] for r in native]
    assert [r["padded_tokens"] for r in trl] == [r["padded_tokens"] for r in hf]
    assert res["losses_vs_trl"]["steps_compared"] == 4 and res["losses_vs_trl"]["max_rel_diff"] < 1e-4
    assert res["speedup_cpu_time_vs_trl"]["pairs"] == 1 and "native vs TRL" in table(res)
    # Lockstep: from step 2 on the sides took turns, one step at a time, never computing at once, in the
    # order native, HF, TRL on even steps and the reverse on odd ones.
    sides = [native, hf, trl]
    for s in (2, 3, 4):
        windows = sorted((side[s - 2]["released"], side[s - 1]["time"], k) for k, side in enumerate(sides))
        assert all(a[1] <= b[0] for a, b in zip(windows, windows[1:], strict=False))
        assert [k for *_, k in windows] == step_order(s, 3)
    assert len(res["pairs"][0]["cpu_step_ratios"]) == 3
