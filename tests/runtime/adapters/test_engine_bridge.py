"""The one callback bridge of instructlab-training and mini-trainer, run through each engine's own published
callback code (``callbacks.py`` of instructlab-training 0.16.2 and mini-trainer 0.9.0, fetched from PyPI):
serialized by class source in this process, rebuilt against the engine's ``TrainerCallback`` as its torchrun
worker does, and fired by the engine's ``CallbackManager``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.upstream_engines import engine_module
from training_hub.adapters import instructlab, mini_trainer
from training_hub.adapters.serialize import CALLBACKS_PATH_ENV
from training_hub.callbacks import TrainingHubCallback, TrainingHubContext

pytestmark = pytest.mark.unit

#: Where :class:`RecordHooks` writes (its class source travels, no instance state does).
OUT_ENV = "TRAINING_HUB_TEST_BRIDGE_OUT"


class RecordHooks(TrainingHubCallback):
    """Writes one line per hook it sees: the hook, the step and the loss."""

    def on_step_end(self, context: TrainingHubContext) -> None:
        import os

        with open(os.environ["TRAINING_HUB_TEST_BRIDGE_OUT"], "a") as out:
            out.write(f"on_step_end {context.step} {context.loss}\n")

    def on_train_end(self, context: TrainingHubContext) -> None:
        import os

        with open(os.environ["TRAINING_HUB_TEST_BRIDGE_OUT"], "a") as out:
            out.write(f"on_train_end {context.step} {context.loss}\n")


@pytest.mark.parametrize(
    ("engine", "adapter"), [("instructlab-training", instructlab), ("mini-trainer", mini_trainer)]
)
def test_the_bridge_fires_hub_callbacks_in_the_engines_worker(
    engine: str, adapter: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = engine_module(engine)
    out = tmp_path / "hooks.txt"
    monkeypatch.setenv(OUT_ENV, str(out))
    monkeypatch.setenv(CALLBACKS_PATH_ENV, "")  # restored after adapt_hub_callbacks sets it

    bridges = adapter.adapt_hub_callbacks([RecordHooks()], payload_dir=str(tmp_path))  # type: ignore[attr-defined]
    assert os.environ[CALLBACKS_PATH_ENV].startswith(str(tmp_path))
    # What the engine's parent process does with TrainingArgs.callbacks, then what its worker does.
    rebuilt = upstream.deserialize_callbacks_from_cli(upstream.serialize_callbacks_for_cli(bridges))
    assert len(rebuilt) == 1 and isinstance(rebuilt[0], upstream.TrainerCallback)
    manager = upstream.CallbackManager()
    try:
        manager.add_callback(rebuilt[0])
        manager.context.step = 3
        manager.context.loss = 0.5
        manager.fire("on_step_begin")  # the hub callback does not override it: nothing written
        manager.fire("on_step_end")
        manager.fire("on_train_end", step=4, loss=0.25)  # waits for the callbacks (the engine's rule)
    finally:
        manager.close()
    assert out.read_text().splitlines() == ["on_step_end 3 0.5", "on_train_end 4 0.25"]


def test_no_hub_callbacks_no_bridge() -> None:
    assert instructlab.adapt_hub_callbacks(None) == []
    assert mini_trainer.adapt_hub_callbacks([]) == []


def test_the_bridge_forwards_every_hub_hook() -> None:
    from training_hub.adapters.engine_bridge import HubCallbackBridge
    from training_hub.callbacks import HUB_HOOKS

    assert {name for name in vars(HubCallbackBridge) if name.startswith("on_")} == set(HUB_HOOKS)
