"""Eval loss and experiment trackers of the native engine, read back from what they wrote (CPU, tiny model).

One training run (module fixture) writes to all three trackers at once: W&B in offline mode (its
``.wandb`` transaction log, read with wandb's own datastore reader), MLflow into a ``file://`` store (read
with ``MlflowClient``) and TensorBoard event files (read with tensorboard's ``EventAccumulator``); the
same run computes an eval loss on a held-out split every 2 steps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.support.tiny_training import read_metrics, tiny_engine_params
from training_hub.engine import run_training
from training_hub.engine.evaluation import EvalSchedule, eval_schedule
from training_hub.errors import InvalidInputError
from training_hub.observability.trackers import report_to, tracker_settings
from training_hub.params import validate_params

pytestmark = pytest.mark.integration

STEPS = 4


@pytest.fixture(scope="module")
def tracked_run(
    tiny_model_dir: Path, messages_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """4 steps of sft with a 10 % validation split evaluated every 2 steps and all three trackers on."""
    root = tmp_path_factory.mktemp("tracked")
    mp = pytest.MonkeyPatch()
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    mp.delenv("WANDB_DIR", raising=False)
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "WANDB_PROJECT"):
        mp.delenv(var, raising=False)
    params = tiny_engine_params(
        tiny_model_dir,
        messages_data,
        root / "out",
        max_steps=STEPS,
        validation_split=0.1,
        validation_frequency=2,
        wandb_project="th-test",
        wandb_run_name="tiny-sft",
        mlflow_tracking_uri=(root / "mlruns").as_uri(),
        mlflow_experiment_name="th-exp",
        mlflow_run_name="tiny-sft",
        tensorboard_log_dir=str(root / "tb"),
    )
    try:
        summary = run_training("sft", params)
    finally:
        mp.undo()
    rows = read_metrics(root / "out")
    return {"root": root, "summary": summary, "rows": rows, "params": params}


def test_eval_loss_in_metrics_at_the_validation_frequency(tracked_run: dict[str, Any]) -> None:
    rows = tracked_run["rows"]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    evaluated = [r["step"] for r in rows if "eval_loss" in r]
    assert evaluated == [2, 4]
    losses = [r["eval_loss"] for r in rows if "eval_loss" in r]
    assert all(math.isfinite(v) and v > 0 for v in losses)
    assert losses[1] < losses[0]  # the tiny model learns the synthetic data: held-out loss falls too
    assert all(r["eval_tokens"] > 0 for r in rows if "eval_loss" in r)
    assert tracked_run["summary"]["final_eval_loss"] == pytest.approx(losses[-1])


def test_tensorboard_event_files_hold_every_step(tracked_run: dict[str, Any]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tracked_run["root"] / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"loss", "lr", "grad_norm", "tokens_per_second", "eval_loss"} <= tags
    rows = tracked_run["rows"]
    loss = acc.Scalars("loss")
    assert [e.step for e in loss] == [1, 2, 3, 4]
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in rows], rel=1e-6)
    assert [e.step for e in acc.Scalars("eval_loss")] == [2, 4]


def test_mlflow_file_store_has_the_run_metrics_and_params(tracked_run: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(tracked_run["root"] / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("th-exp")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_name == "tiny-sft" and run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert sorted(m.step for m in history) == [1, 2, 3, 4]
    by_step = {m.step: m.value for m in history}
    assert [by_step[r["step"]] for r in tracked_run["rows"]] == pytest.approx(
        [r["loss"] for r in tracked_run["rows"]]
    )
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "eval_loss")) == [2, 4]
    assert {"lr", "grad_norm", "tokens_per_second"} <= set(run.data.metrics)
    assert run.data.params["learning_rate"] == "0.003"
    assert "mlflow_tracking_uri" not in run.data.params


def _wandb_records(log_file: Path) -> list[bytes]:
    """The protobuf records of a ``.wandb`` transaction log.

    wandb (0.31, written by wandb-core) stores them in LevelDB's log format after a 7-byte header
    (``:W&B``, magic 0xBEE1, version 0): 32 KiB blocks of chunks, each ``crc32 (4) | length (2, LE) |
    type (1: full, 2: first, 3: middle, 4: last)`` then the payload; a block's tail shorter than a chunk
    header is zero padding. The Python reader wandb once shipped (``wandb.sdk.internal.datastore``) is gone.
    """
    raw = log_file.read_bytes()
    assert raw[:4] == b":W&B" and int.from_bytes(raw[4:6], "little") == 0xBEE1
    block, pos, records, parts = 32768, 7, [], b""
    while pos + 7 <= len(raw):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(raw[pos + 4 : pos + 6], "little"), raw[pos + 6]
        if kind == 0:
            break
        parts += raw[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            records.append(parts)
            parts = b""
    return records


def _wandb_history(run_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The history rows and run record of an offline wandb run, from its ``.wandb`` transaction log."""
    from wandb.proto import wandb_internal_pb2

    (log_file,) = run_dir.glob("run-*.wandb")
    history: list[dict[str, Any]] = []
    run: dict[str, Any] = {}
    for data in _wandb_records(log_file):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "history":
            items = record.history.item
            history.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}
            )
        elif kind == "run":
            run = {"project": record.run.project, "name": record.run.display_name}
    return history, run


def test_wandb_offline_run_holds_every_step(tracked_run: dict[str, Any]) -> None:
    (run_dir,) = (tracked_run["root"] / "out" / "wandb").glob("offline-run-*")
    history, run = _wandb_history(run_dir)
    assert run == {"project": "th-test", "name": "tiny-sft"}
    steps = [h["_step"] for h in history]
    assert steps == [1, 2, 3, 4]
    assert [h["loss"] for h in history] == pytest.approx([r["loss"] for r in tracked_run["rows"]])
    assert [h["_step"] for h in history if "eval_loss" in h] == [2, 4]
    assert all("lr" in h and "grad_norm" in h and "tokens_per_second" in h for h in history)


@pytest.mark.unit
def test_tracker_settings_follow_upstream_rules() -> None:
    env = {"MLFLOW_TRACKING_URI": "file:///x", "WANDB_PROJECT": ""}
    s = tracker_settings({"wandb_run_name": "r", "tensorboard_log_dir": "/tb"}, env)
    assert s.enabled() == ["wandb", "mlflow", "tensorboard"]
    assert s.mlflow_tracking_uri == "file:///x"
    assert report_to(s) == ["wandb", "mlflow", "tensorboard"]
    assert report_to(tracker_settings({}, {})) == "none"


@pytest.mark.unit
def test_eval_schedules_per_algorithm() -> None:
    assert eval_schedule("sft", {"validation_split": 0.0, "eval_data_path": None}) is None
    assert eval_schedule("osft", {"validation_split": 0.2, "validation_frequency": None}) == EvalSchedule(
        None, True
    )
    lora = eval_schedule("lora_sft", {"eval_data_path": "/e.jsonl", "eval_steps": 500})
    assert lora == EvalSchedule(500, False)
    assert not lora.due(499, True, True) and lora.due(500, False, False)
    assert EvalSchedule(None, True).due(7, False, True)


@pytest.mark.unit
def test_eval_sources_are_exclusive() -> None:
    base = {"model_path": "/m", "data_path": "/d", "ckpt_output_dir": "/o"}
    with pytest.raises(ValueError, match="mutually exclusive"):
        validate_params("sft", {**base, "eval_data_path": "/e", "validation_split": 0.1})
    with pytest.raises(ValueError, match="validation_split"):
        validate_params("lora_sft", {**base, "validation_split": 0.1})


def test_eval_data_path_on_lora_every_eval_steps(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    params = tiny_engine_params(
        tiny_model_dir,
        messages_data,
        out,
        max_steps=2,
        eval_data_path=str(messages_data),
        eval_steps=1,
        per_device_eval_batch_size=64,
        num_epochs=1,
        learning_rate=1e-2,
    )
    run_training("lora_sft", params)
    rows = read_metrics(out)
    assert [("eval_loss" in r) for r in rows] == [True, True]
    assert all(r["eval_tokens"] > 0 for r in rows)


def test_split_leaving_nothing_to_train_is_an_error() -> None:
    import numpy as np

    from training_hub.data import TokenizedDataset
    from training_hub.engine.evaluation import split_validation

    one = TokenizedDataset.from_samples([(np.arange(4), np.arange(4))], [1])
    with pytest.raises(InvalidInputError, match="leaves none"):
        split_validation(one, 0.5, 0)


ADAPTER_BASE = {"model_path": "/m", "data_path": "/d.jsonl", "ckpt_output_dir": "/o"}
TRACKERS = {
    "wandb_project": "p",
    "wandb_run_name": "r",
    "mlflow_tracking_uri": "file:///ml",
    "mlflow_run_name": "m",
}


@pytest.mark.unit
def test_instructlab_gets_trackers_and_validation_by_their_names() -> None:
    from training_hub.backends.instructlab import translate

    args = translate({**ADAPTER_BASE, **TRACKERS, "validation_split": 0.1, "validation_frequency": 5})[
        "train_args"
    ]
    assert {k: args[k] for k in TRACKERS} == TRACKERS
    assert (args["validation_split"], args["validation_frequency"]) == (0.1, 5)
    with pytest.raises(InvalidInputError, match="validation_frequency"):
        translate({**ADAPTER_BASE, "validation_split": 0.1})
    with pytest.raises(InvalidInputError, match="eval_data_path"):
        translate({**ADAPTER_BASE, "eval_data_path": "/e.jsonl"})


@pytest.mark.unit
def test_mini_trainer_gets_trackers_and_validation_or_refuses_tensorboard() -> None:
    from training_hub.backends.mini_trainer import translate

    osft = {**ADAPTER_BASE, "unfreeze_rank_ratio": 0.3}
    args = translate({**osft, **TRACKERS, "validation_split": 0.2})["train_args"]
    assert {k: args[k] for k in TRACKERS} == TRACKERS
    assert args["validation_split"] == 0.2 and args["validate_at_epoch"] and args["validate_at_final"]
    with pytest.raises(InvalidInputError, match="tensorboard_log_dir"):
        translate({**osft, "tensorboard_log_dir": "/tb"})


@pytest.mark.unit
def test_unsloth_reports_to_the_trackers_through_the_hf_trainer() -> None:
    from training_hub.backends.unsloth import translate

    out = translate({**ADAPTER_BASE, **TRACKERS, "tensorboard_log_dir": "/tb", "eval_data_path": "/e.jsonl"})
    cfg = out["sft_config"]
    assert cfg["report_to"] == ["wandb", "mlflow", "tensorboard"] and cfg["run_name"] == "r"
    assert (cfg["eval_strategy"], cfg["eval_steps"]) == ("steps", 500)
    assert out["env"]["WANDB_PROJECT"] == "p" and out["env"]["TENSORBOARD_LOGGING_DIR"] == "/tb"
    assert out["env"]["MLFLOW_TRACKING_URI"] == "file:///ml"
    assert translate(dict(ADAPTER_BASE))["sft_config"]["report_to"] == "none"


@pytest.mark.unit
def test_progress_keeps_the_latest_eval_loss_and_the_status_model_accepts_it() -> None:
    from training_hub.observability.tracker import ProgressTracker
    from training_hub_operator.api.status import Progress

    tracker = ProgressTracker(env={})
    assert "evalLoss" not in tracker.on_step({"step": 1, "loss": 2.0}, now=1.0)
    tracker.on_step({"step": 2, "loss": 1.9, "eval_loss": 2.25}, now=2.0)
    progress = tracker.on_step({"step": 3, "loss": 1.8}, now=3.0)
    assert (progress["evalLoss"], progress["evalStep"]) == (2.25, 2)
    final = tracker.on_train_end({"steps": 3, "total_steps": 3, "final_loss": 1.8}, now=4.0)
    assert final["evalLoss"] == 2.25
    assert Progress.model_validate(final).eval_loss == 2.25


def test_eval_loss_is_the_same_on_two_ranks(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path
) -> None:
    """Each rank evaluates its share and the sums are reduced: 2 processes give 1 process's eval loss."""
    from training_hub import sft

    losses = []
    for nproc in (1, 2):
        out = tmp_path / f"n{nproc}"
        params = tiny_engine_params(
            tiny_model_dir, messages_data, out, max_steps=2, validation_split=0.1, validation_frequency=1
        )
        sft(**params, nproc_per_node=nproc, backend="native")
        rows = read_metrics(out)
        losses.append([r["eval_loss"] for r in rows])
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
