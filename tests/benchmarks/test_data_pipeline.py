"""The data pipeline benchmark's measuring code and its equality proof against instructlab-training.

The integration test creates the separate `.venv-bench` through `benchmarks/setup_bench_env.sh` when it
is missing (about a minute, from the local wheel cache) and runs the whole comparison on a small size:
token ids and labels of every shared sample must be identical on both sides.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.chat_data import EOS_TERMINATED_TEMPLATE, chat_records
from benchmarks.data_pipeline import run
from benchmarks.data_pipeline_floor import (
    FLOOR_GOAL,
    MIN_CHUNK_PAIRS,
    chunk_pair_order,
    chunk_verdict,
    write_chunks,
)
from benchmarks.data_pipeline_ilab import compare_samples
from benchmarks.data_pipeline_report import table
from benchmarks.ratios import summarize_ratios


class _FakeDataset:
    def __init__(self, samples: list[tuple[list[int], list[int]]]) -> None:
        self._samples = [(np.asarray(a), np.asarray(b)) for a, b in samples]

    def __len__(self) -> int:
        return len(self._samples)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self._samples[i]


@pytest.mark.unit
def test_compare_samples_detects_id_label_and_count_differences() -> None:
    ours = _FakeDataset([([1, 2, 3], [-100, 2, 3]), ([4, 5], [-100, 5])])
    same = {"input_ids": [[1, 2, 3], [4, 5]], "labels": [[-100, 2, 3], [-100, 5]]}
    assert compare_samples(ours, same)["equal"]
    assert compare_samples(ours, same)["num_trained_tokens_compared"] == 3

    other_label = {"input_ids": [[1, 2, 3], [4, 5]], "labels": [[-100, -100, 3], [-100, 5]]}
    res = compare_samples(ours, other_label)
    assert not res["equal"] and res["label_mismatches"] == [0] and res["id_mismatches"] == []
    assert res["first_difference"]["sample"] == 0

    other_ids = {"input_ids": [[1, 2, 3], [4, 6]], "labels": [[-100, 2, 3], [-100, 5]]}
    assert compare_samples(ours, other_ids)["id_mismatches"] == [1]

    fewer = {"input_ids": [[1, 2, 3]], "labels": [[-100, 2, 3]]}
    assert not compare_samples(ours, fewer)["equal"]


@pytest.mark.unit
def test_chat_records_are_deterministic_and_well_formed() -> None:
    a, b = chat_records(50, seed=3), chat_records(50, seed=3)
    assert a == b and a != chat_records(50, seed=4)
    for rec in a:
        roles = [m["role"] for m in rec["messages"]]
        assert "assistant" in roles and roles[-1] == "assistant"
        assert all(m["content"].strip() for m in rec["messages"])
        assert "unmask" not in rec  # instructlab trains only content under unmask; see data_pipeline.py


@pytest.mark.unit
def test_eos_terminated_template_trains_assistant_content_and_eos(tmp_path: Path) -> None:
    """Under the comparison template our labels are exactly assistant content + EOS (instructlab's rule)."""
    from benchmarks.benchlib import build_tiny_assets
    from benchmarks.chat_data import write_chat_dataset
    from training_hub.data import prepare_dataset
    from training_hub.engine.model_setup import load_tokenizer

    tok_dir, _ = build_tiny_assets(tmp_path, template=EOS_TERMINATED_TEMPLATE)
    tok = load_tokenizer(str(tok_dir))
    data = write_chat_dataset(tmp_path / "d.jsonl", 8, seed=5)
    ds, _ = prepare_dataset(data, tok, max_seq_len=4096)
    for i, rec in enumerate(chat_records(8, seed=5)):
        ids, labels = ds.sample(i)
        expected: list[int] = []
        for m in rec["messages"]:
            if m["role"] == "assistant":
                expected += tok.encode(m["content"], add_special_tokens=False) + [tok.eos_token_id]
        assert [int(x) for x in labels if x != -100] == expected
        assert int(ids[0]) == tok.bos_token_id


@pytest.mark.unit
def test_chunks_hold_every_line_once_in_order_and_the_sides_alternate(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    lines = [f'{{"n": {i}}}\n' for i in range(10)]
    data.write_text("".join(lines))
    files = write_chunks(data, 4, tmp_path / "chunks")
    assert [len(f.read_text().splitlines()) for f in files] == [4, 4, 2]
    assert "".join(f.read_text() for f in files) == "".join(lines)
    assert [chunk_pair_order(i)[0] for i in range(4)] == ["ours", "floor", "ours", "floor"]
    # Inside a pair the order alternates from one run to the next, and the next pair starts the other way.
    assert [chunk_pair_order(1, r)[0] for r in range(3)] == ["floor", "ours", "floor"]
    assert [chunk_pair_order(2, r)[0] for r in range(3)] == ["ours", "floor", "ours"]


@pytest.mark.unit
def test_the_floor_goal_is_established_only_by_the_whole_spread_of_enough_chunk_pairs() -> None:
    within = summarize_ratios([1.05, 1.10, 1.15] * 6, reference=FLOOR_GOAL)
    assert chunk_verdict(within)["established"]
    # One chunk pair over the goal: the median and the 10th-90th percentile band are within it, the
    # verdict is not.
    one_over = summarize_ratios([1.05, 1.10, 1.15] * 6 + [1.25], reference=FLOOR_GOAL)
    v = chunk_verdict(one_over)
    assert not v["established"] and v["median_within_goal"] and v["band_within_goal"]
    assert v["band_p10_p90"][1] < 1.2
    few = summarize_ratios([1.05] * (MIN_CHUNK_PAIRS - 1), reference=FLOOR_GOAL)
    assert not chunk_verdict(few)["established"] and not chunk_verdict(few)["enough_pairs"]


@pytest.mark.integration
def test_benchmark_runs_and_matches_instructlab_on_shared_sample(tmp_path: Path) -> None:
    res = run(samples=40, repeats=1, workdir=tmp_path, equality_samples=48, pair_runs=2, chunk_repeats=3)
    eq = res["equality"]
    assert eq["equal"], eq
    assert eq["num_compared"] == 48 and eq["num_trained_tokens_compared"] > 0
    assert res["instructlab_kept_all"]
    assert all(v > 0 for v in res["samples_per_second"].values())
    assert "identical token ids and labels" in table(res)
    floor = res["floor"]
    assert floor["chunks"] == 1 and len(floor["pairs"]) == 2  # 40 samples: one chunk, two passes
    assert [q["order"] for q in floor["pairs"]] == ["AB", "BA"]
    assert all(q["ours_cpu"] > 0 and q["floor_cpu"] > 0 for q in floor["pairs"])
    assert "not established" in table(res)  # two pairs never establish anything
    # A pair against instructlab-training runs each side twice and compares the medians of the runs.
    (pair,) = res["instructlab_pairs"]
    assert len(pair["ours_cpu_runs"]) == len(pair["instructlab_cpu_runs"]) == 2
    assert pair["ours"]["end_to_end_cpu_seconds"] == pytest.approx(sum(pair["ours_cpu_runs"]) / 2)
    assert res["speedup_cpu_end_to_end"]["per_pair"] == [
        pair["ilab1"]["end_to_end_cpu_seconds"] / pair["ours"]["end_to_end_cpu_seconds"]
    ]
    assert all(len(q["ours_cpu_runs"]) == 3 for q in floor["pairs"])
