"""The native engine's metrics file (``engine/metrics_file.py``): appended per step, cut back on resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training_hub.engine.metrics_file import METRICS_FILE, append_metrics, truncate_metrics


@pytest.mark.unit
def test_a_resumed_run_keeps_the_rows_up_to_its_checkpoint_step(tmp_path: Path) -> None:
    path = tmp_path / METRICS_FILE
    assert truncate_metrics(path, 3) is None  # no file yet: nothing to keep
    for step in (1, 2, 3, 4):
        append_metrics(path, {"step": step, "loss": 1.0 / step})
    with path.open("a") as fh:
        fh.write("{half a line\n")  # a write cut short by the preemption
    last = truncate_metrics(path, 2)
    assert last == {"step": 2, "loss": 0.5}
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]
    assert not list(tmp_path.glob(".*.tmp"))
    append_metrics(path, {"step": 3, "loss": 0.3})
    assert json.loads(path.read_text().splitlines()[-1]) == {"step": 3, "loss": 0.3}
