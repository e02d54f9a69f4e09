"""Upstream's ``JITCheckpointCallback`` / ``RemoteCheckpointSyncCallback`` drive the native engine through
the callbacks' control flags: SIGTERM mid-run -> a full resumable checkpoint, ``on_save``, the run ends as
preempted, the next run resumes from it; each saved checkpoint is mirrored with completion markers. Also a
plain callback's ``should_training_stop`` ends training early with a final model (CPU, tiny model)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.tiny_training import read_metrics, tiny_engine_params
from training_hub import (
    JITCheckpointCallback,
    RemoteCheckpointSyncCallback,
    TrainingHubCallback,
    TrainingHubContext,
    sft,
)
from training_hub.engine.checkpoint import latest_checkpoint
from training_hub.errors import TrainingHubError
from training_hub.jit_checkpoint import UPLOAD_URI_ENV

pytestmark = pytest.mark.integration


class SigtermAtStep(TrainingHubCallback):
    """Sends this process SIGTERM at the start of step 3 (as a pod deletion would)."""

    def on_step_begin(self, context: TrainingHubContext) -> None:
        if context.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)


class Saves(TrainingHubCallback):
    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []
        self.ended: list[dict[str, Any]] = []

    def on_save(self, context: TrainingHubContext) -> None:
        self.saved.append({"step": context.step, **context.metrics})

    def on_train_end(self, context: TrainingHubContext) -> None:
        self.ended.append(context.metrics)


class StopAtStep(TrainingHubCallback):
    def on_step_end(self, context: TrainingHubContext) -> None:
        if context.step == 2 and context.control is not None:
            context.control.should_training_stop = True


def _steps(out: Path) -> list[int]:
    return [row["step"] for row in read_metrics(out)]


def test_jit_callback_saves_at_sigterm_and_the_next_run_resumes(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, mirror = tmp_path / "out", tmp_path / "mirror"
    monkeypatch.setenv(UPLOAD_URI_ENV, mirror.as_uri())
    params = tiny_engine_params(tiny_model_dir, messages_data, out, max_steps=6, save_samples=0)
    params["checkpoint_at_epoch"] = False
    before = signal.getsignal(signal.SIGTERM)
    saves = Saves()
    callbacks = [JITCheckpointCallback(), RemoteCheckpointSyncCallback(), SigtermAtStep(), saves]
    with pytest.raises(TrainingHubError, match="preempted by SIGTERM after step 3"):
        sft(**params, backend="native", callbacks=callbacks)  # enable_jit_checkpoint unset: the callback
    assert signal.getsignal(signal.SIGTERM) == before  # the callback put the handler back
    state = latest_checkpoint(out / "full_state")
    assert state is not None and json.loads((state / "trainer_state.json").read_text())["step"] == 3
    assert saves.saved == [{"step": 3, "checkpoint_path": str(state), "kind": "full_state"}]
    assert saves.ended == [{"preempted": True, "step": 3}]
    assert _steps(out) == [1, 2, 3]
    uploaded = mirror / "full_state" / state.name
    assert (uploaded / ".upload_complete").is_file() and (uploaded / "model.pt").is_file()

    result = sft(**params, backend="native", callbacks=[JITCheckpointCallback()])
    assert result["resumed_from"] == str(state) and result["steps"] == 6
    assert _steps(out) == [1, 2, 3, 4, 5, 6]


def test_a_callback_stop_ends_training_with_a_final_model(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    params = tiny_engine_params(tiny_model_dir, messages_data, out, max_steps=6, save_samples=0)
    result = sft(**params, backend="native", callbacks=[StopAtStep()])
    assert result["steps"] == 2 and _steps(out) == [1, 2]
    assert (out / "hf_format" / "final" / "config.json").is_file()


def test_without_the_callback_or_the_keyword_sigterm_is_not_caught(
    tiny_model_dir: Path, messages_data: Path, tmp_path: Path
) -> None:
    # Upstream's default (enable_jit_checkpoint unset = off): the engine installs no SIGTERM handler.
    seen: list[Any] = []

    class Probe(TrainingHubCallback):
        def on_step_begin(self, context: TrainingHubContext) -> None:
            seen.append(signal.getsignal(signal.SIGTERM))

    params = tiny_engine_params(tiny_model_dir, messages_data, tmp_path / "out", max_steps=1)
    before = signal.getsignal(signal.SIGTERM)
    sft(**params, backend="native", callbacks=[Probe()])
    assert seen == [before]
    sft(**{**params, "max_steps": 2}, backend="native", enable_jit_checkpoint=True, callbacks=[Probe()])
    assert seen[-1] != before and callable(seen[-1])


@pytest.mark.unit
def test_merge_default_callbacks_builds_upstreams_list() -> None:
    from training_hub import merge_default_callbacks

    user = StopAtStep()
    merged = merge_default_callbacks(
        user, enable_jit_checkpoint=True, ckpt_output_dir="/o", backend="lora", checkpoint_storage="s3://b/p"
    )
    assert [type(c) for c in merged] == [JITCheckpointCallback, RemoteCheckpointSyncCallback, StopAtStep]
    assert merged[-1] is user
    # sft/osft checkpoint on SIGTERM in their engine: no defaults; nothing asked: none either.
    assert merge_default_callbacks(
        [user], enable_jit_checkpoint=True, ckpt_output_dir="/o", backend="sft"
    ) == [user]
    assert merge_default_callbacks(None, backend="lora", checkpoint_storage="pvc") == []
    assert (
        merge_default_callbacks(None, enable_jit_checkpoint=True, backend="lora") == []
    )  # no ckpt_output_dir
    with pytest.raises(ValueError, match="checkpoint_storage"):
        merge_default_callbacks(None, checkpoint_storage="bucket/prefix")
