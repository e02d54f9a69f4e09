"""Hub callbacks as Hugging Face ``TrainerCallback`` objects (the ``unsloth`` backend's TRL trainer).

Imports transformers: import this module only where a Hugging Face trainer runs.
"""

from __future__ import annotations

import logging
from typing import Any

from transformers import TrainerCallback

from training_hub.callbacks import TrainingHubCallback, TrainingHubContext, TrainingHubControl

logger = logging.getLogger("training_hub.callbacks")


def _latest(history: list[dict[str, Any]] | None, key: str) -> Any:
    for entry in reversed(history or []):
        if key in entry:
            return entry[key]
    return None


class UnslothCallbackAdapter(TrainerCallback):  # type: ignore[misc]
    """One :class:`TrainingHubCallback` behind Hugging Face's callback interface.

    Hooks run on the world's process zero unless the hub callback sets ``run_on_all_ranks``; a hook that
    raises is logged and ignored. ``control`` flags set by the hub callback are applied after
    ``on_step_end`` / ``on_epoch_end``.

    Args:
        hub_callback: The callback to adapt.
        hub_control: A control bag shared by the adapters of one trainer.
    """

    def __init__(
        self, hub_callback: TrainingHubCallback, hub_control: TrainingHubControl | None = None
    ) -> None:
        if not isinstance(hub_callback, TrainingHubCallback):
            raise TypeError(f"expected a TrainingHubCallback instance, got {type(hub_callback).__name__}")
        super().__init__()
        self._hub_callback = hub_callback
        self._hub_control = hub_control

    def _context(self, args: Any, state: Any, logs: dict[str, Any] | None) -> TrainingHubContext:
        metrics = dict(logs) if logs is not None else {}
        loss = metrics.get("loss", metrics.get("eval_loss"))
        if loss is None:
            loss = _latest(state.log_history, "loss")
        if loss is None:
            loss = _latest(state.log_history, "eval_loss")
        lr = metrics.get("learning_rate")
        if lr is None:
            lr = _latest(state.log_history, "learning_rate")
        return TrainingHubContext(
            step=int(state.global_step or 0),
            epoch=int(state.epoch) if state.epoch is not None else 0,
            loss=loss,
            learning_rate=lr,
            is_main_process=bool(state.is_world_process_zero),
            output_dir=str(args.output_dir),
            metrics=metrics,
            control=self._hub_control,
        )

    def _fire(self, hook: str, args: Any, state: Any, logs: dict[str, Any] | None = None) -> None:
        if not state.is_world_process_zero and not getattr(self._hub_callback, "run_on_all_ranks", False):
            return
        try:
            getattr(self._hub_callback, hook)(self._context(args, state, logs))
        except Exception:
            logger.exception("%s.%s raised an exception (ignored)", type(self._hub_callback).__name__, hook)

    def _apply_control(self, control: Any) -> None:
        bag = self._hub_control
        if bag is None or control is None:
            return
        if bag.should_save:
            control.should_save = True
            bag.should_save = False  # consumed: the save happens once
        if bag.should_training_stop:
            control.should_training_stop = True

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._fire("on_train_begin", args, state)

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._fire("on_epoch_begin", args, state)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._hub_control is not None:
            self._hub_control.should_save = False
        self._fire("on_step_begin", args, state)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        self._fire("on_log", args, state, logs)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> None:
        self._fire("on_evaluate", args, state, metrics)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        logs = (
            {"checkpoint_path": f"{args.output_dir}/checkpoint-{state.global_step}"}
            if state.global_step
            else None
        )
        self._fire("on_save", args, state, logs)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self._fire("on_step_end", args, state)
        self._apply_control(control)
        return control

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self._fire("on_epoch_end", args, state)
        self._apply_control(control)
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._fire("on_train_end", args, state)


#: The engine callback protocol (``training_hub.engine.callbacks``).
ENGINE_CALLBACK_METHODS = ("on_step", "on_checkpoint", "on_train_end")


class EngineCallbackAdapter(TrainerCallback):  # type: ignore[misc]
    """An engine callback (``on_step(metrics)``, ``on_checkpoint(path, kind)``, ``on_train_end(summary)``,
    each optional) behind Hugging Face's callback interface, on the world's process zero as the engine
    calls it. Hugging Face's ``CallbackHandler`` calls every event on every callback, so such an object
    handed over as it is fails at the trainer's first event (``on_init_end``).
    """

    def __init__(self, callback: Any) -> None:
        super().__init__()
        self._callback = callback

    def _call(self, state: Any, method: str, *args: Any) -> None:
        fn = getattr(self._callback, method, None)
        if fn is None or not state.is_world_process_zero:
            return
        try:
            fn(*args)
        except Exception:
            logger.exception("%s.%s raised an exception (ignored)", type(self._callback).__name__, method)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            metrics = {"step": state.global_step, "epoch": state.epoch, **logs}
            if "learning_rate" in metrics:
                metrics["lr"] = metrics["learning_rate"]
            self._call(state, "on_step", metrics)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._call(state, "on_checkpoint", f"{args.output_dir}/checkpoint-{state.global_step}", "hf")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        summary = {"step": state.global_step, "epoch": state.epoch, "output_dir": str(args.output_dir)}
        self._call(state, "on_train_end", summary)


def adapt_other_callbacks(callbacks: list[Any]) -> list[Any]:
    """Callbacks that are not hub callbacks, for a Hugging Face trainer: ``TrainerCallback`` instances and
    classes as given, engine callbacks wrapped in :class:`EngineCallbackAdapter`.

    Raises:
        InvalidInputError: For an object that is neither.
    """
    from training_hub.errors import InvalidInputError

    out: list[Any] = []
    for cb in callbacks:
        if isinstance(cb, TrainerCallback) or (isinstance(cb, type) and issubclass(cb, TrainerCallback)):
            out.append(cb)
        elif any(callable(getattr(cb, m, None)) for m in ENGINE_CALLBACK_METHODS):
            out.append(EngineCallbackAdapter(cb))
        else:
            raise InvalidInputError(
                f"callback {cb!r} is not a TrainingHubCallback, a transformers TrainerCallback, nor an engine "
                f"callback (none of {', '.join(ENGINE_CALLBACK_METHODS)})"
            )
    return out


def adapt_hub_callbacks(
    callbacks: list[TrainingHubCallback], hub_control: TrainingHubControl | None = None
) -> list[UnslothCallbackAdapter]:
    """One adapter per hub callback, sharing one control bag."""
    bag = hub_control or TrainingHubControl()
    return [UnslothCallbackAdapter(cb, hub_control=bag) for cb in callbacks]
