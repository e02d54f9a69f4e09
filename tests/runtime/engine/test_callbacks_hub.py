"""Upstream's callback contract in the native engine: the nine hooks at the same points, on every rank when
asked, across the torchrun boundary by class source (CPU, tiny model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.tiny_training import read_metrics, tiny_engine_params
from training_hub import TrainingHubCallback, TrainingHubContext, sft

pytestmark = pytest.mark.integration


class Recorder(TrainingHubCallback):
    """Records every hook with the context it got."""

    def __init__(self) -> None:
        self.events: list[tuple[str, TrainingHubContext]] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            return lambda context: object.__getattribute__(self, "events").append((name, context))
        return object.__getattribute__(self, name)


class Exploding(TrainingHubCallback):
    def on_step_end(self, context: TrainingHubContext) -> None:
        raise RuntimeError("boom")


class EveryRankFile(TrainingHubCallback):
    """Sent to the torchrun workers by class source: writes one line per step end and rank."""

    run_on_all_ranks = True

    def on_step_end(self, context: TrainingHubContext) -> None:
        import json
        import os

        with open(os.path.join(context.output_dir, "all_ranks.jsonl"), "a") as fh:
            fh.write(json.dumps({"rank": os.environ["RANK"], "main": context.is_main_process}) + "\n")


class MainRankFile(TrainingHubCallback):
    def on_train_end(self, context: TrainingHubContext) -> None:
        import json
        import os

        with open(os.path.join(context.output_dir, "main_rank.jsonl"), "a") as fh:
            fh.write(json.dumps({"rank": os.environ["RANK"], "step": context.step}) + "\n")


def _small_data(source: Path, target: Path, n: int) -> Path:
    target.write_text("".join(source.read_text().splitlines(keepends=True)[:n]))
    return target


def test_native_engine_fires_every_hook_in_order(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path
) -> None:
    data = _small_data(messages_data, tmp_path / "data.jsonl", 40)
    out = tmp_path / "out"
    recorder = Recorder()
    params = tiny_engine_params(tiny_model_dir, data, out, num_epochs=2, validation_split=0.2)
    sft(**params, backend="native", callbacks=[Exploding(), recorder])  # a raising hook does not stop it
    names = [name for name, _ in recorder.events]
    rows = read_metrics(out)
    steps = len(rows)
    assert steps == 4  # 32 training samples, batches of 16, 2 epochs
    # Hugging Face Trainer's order (upstream's unsloth path): on_step_end, then log / evaluate / save.
    per_step = ["on_step_begin", "on_step_end", "on_log", "on_evaluate", "on_epoch_end", "on_save"]
    expected = ["on_train_begin"]
    for step in range(1, steps + 1):
        if step % 2 == 1:
            expected.append("on_epoch_begin")
        epoch_end = step % 2 == 0
        expected += [n for n in per_step if epoch_end or n in ("on_step_begin", "on_step_end", "on_log")]
    expected += ["on_save", "on_train_end"]  # the final model
    assert names == expected
    contexts = dict.fromkeys(names)
    for name, context in recorder.events:
        contexts[name] = context
        assert context.output_dir == str(out) and context.is_main_process
    logs = [c for n, c in recorder.events if n == "on_log"]
    assert [c.step for c in logs] == [r["step"] for r in rows]
    assert [c.loss for c in logs] == pytest.approx([r["loss"] for r in rows])
    assert [c.learning_rate for c in logs] == pytest.approx([r["lr"] for r in rows])
    assert [c.epoch for c in logs] == [0, 0, 1, 1]
    evaluations = [c for n, c in recorder.events if n == "on_evaluate"]
    assert [c.loss for c in evaluations] == pytest.approx([r["eval_loss"] for r in rows if "eval_loss" in r])
    saves = [c.metrics["checkpoint_path"] for n, c in recorder.events if n == "on_save"]
    assert all(Path(path).is_dir() for path in saves)
    assert saves[-1] == str(out / "hf_format" / "final")
    assert contexts["on_train_end"].step == steps  # type: ignore[union-attr]


def test_callbacks_reach_every_torchrun_rank_by_class_source(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    params = tiny_engine_params(tiny_model_dir, messages_data, out, max_steps=2)
    sft(**params, nproc_per_node=2, backend="native", callbacks=[EveryRankFile(), MainRankFile()])
    every = [json.loads(line) for line in (out / "all_ranks.jsonl").read_text().splitlines()]
    assert sorted((e["rank"], e["main"]) for e in every) == [
        ("0", True),
        ("0", True),
        ("1", False),
        ("1", False),
    ]
    main = [json.loads(line) for line in (out / "main_rank.jsonl").read_text().splitlines()]
    assert main == [{"rank": "0", "step": 2}]
    assert (out / "training_hub_callbacks.json").stat().st_mode & 0o777 == 0o600
