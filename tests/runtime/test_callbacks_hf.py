"""Callbacks handed to a Hugging Face trainer (the unsloth backend's TRL ``SFTTrainer``) survive every event
of transformers' own ``CallbackHandler``: engine callbacks are adapted, not passed bare."""

from __future__ import annotations

from typing import Any

import pytest

from training_hub.backends.unsloth import hf_callbacks
from training_hub.callbacks import TrainingHubCallback
from training_hub.errors import InvalidInputError

pytestmark = pytest.mark.unit


class EngineStyle:
    """The engine's protocol (``training_hub.engine.callbacks``): on_step / on_checkpoint / on_train_end."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def on_step(self, metrics: dict[str, Any]) -> None:
        self.calls.append(("step", metrics))

    def on_checkpoint(self, path: str, kind: str) -> None:
        self.calls.append(("checkpoint", (path, kind)))

    def on_train_end(self, summary: dict[str, Any]) -> None:
        self.calls.append(("end", summary))


def _drive(callbacks: list[Any], tmp_path: Any) -> None:
    """Every event a Trainer fires, through transformers' CallbackHandler."""
    from transformers import TrainerControl, TrainerState, TrainingArguments
    from transformers.trainer_callback import CallbackHandler

    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    handler = CallbackHandler(callbacks, None, None, None, None)
    state, control = TrainerState(), TrainerControl()
    handler.on_init_end(args, state, control)
    handler.on_train_begin(args, state, control)
    handler.on_epoch_begin(args, state, control)
    handler.on_step_begin(args, state, control)
    state.global_step, state.epoch = 1, 0.5
    handler.on_step_end(args, state, control)
    handler.on_log(args, state, control, {"loss": 2.5, "learning_rate": 1e-4})
    handler.on_save(args, state, control)
    handler.on_epoch_end(args, state, control)
    handler.on_train_end(args, state, control)


def test_engine_callbacks_get_their_own_calls(tmp_path: Any) -> None:
    cb = EngineStyle()
    _drive(hf_callbacks([cb]), tmp_path)
    kinds = [k for k, _ in cb.calls]
    assert kinds == ["step", "checkpoint", "end"]
    step = cb.calls[0][1]
    assert step["loss"] == 2.5 and step["lr"] == 1e-4 and step["step"] == 1
    assert cb.calls[1][1] == (f"{tmp_path}/checkpoint-1", "hf")


def test_hub_and_trainer_callbacks_pass_and_other_objects_are_bad_input(tmp_path: Any) -> None:
    from transformers import TrainerCallback

    seen: list[int] = []

    class Hub(TrainingHubCallback):
        def on_step_end(self, context: Any) -> None:
            seen.append(context.step)

    class Plain(TrainerCallback):  # type: ignore[misc]
        pass

    _drive(hf_callbacks([Hub(), Plain(), EngineStyle()]), tmp_path)
    assert seen == [1]
    with pytest.raises(InvalidInputError, match="not a TrainingHubCallback"):
        hf_callbacks([object()])
