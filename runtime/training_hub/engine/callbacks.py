"""Training callbacks: a tiny protocol, invoked on rank 0 only.

A callback is any object with some of these methods (missing ones are skipped):

* ``on_step(metrics: dict)``: after every optimizer step, with the metrics line also written to
  `training_metrics.jsonl`.
* ``on_checkpoint(path: str, kind: str)``: after a checkpoint directory is complete; `kind` is `hf`
  (`hf_format/samples_<N>`), `full_state` (`full_state/samples_<N>`) or `final` (`hf_format/final`).
* ``on_train_end(summary: dict)``: once, with the summary `run_training` returns.

During a callback, :func:`current_model` returns the in-memory (unwrapped) model.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger("training_hub.engine")

_CURRENT_MODEL: Any = None


@runtime_checkable
class TrainingCallback(Protocol):
    """Protocol of training callbacks (every method is optional in practice)."""

    def on_step(self, metrics: dict[str, Any]) -> None:
        """Called after each optimizer step."""

    def on_checkpoint(self, path: str, kind: str) -> None:
        """Called after a checkpoint is complete."""

    def on_train_end(self, summary: dict[str, Any]) -> None:
        """Called once at the end."""


def current_model() -> Any:
    """The model being trained (unwrapped from DDP; a peft model for LoRA), or None outside training."""
    return _CURRENT_MODEL


def set_current_model(model: Any) -> None:
    """Set by the trainer."""
    global _CURRENT_MODEL
    _CURRENT_MODEL = model


def invoke(callbacks: list[Any], method: str, *args: Any) -> None:
    """Call `method` on every callback that has it; a failing callback is logged, not fatal."""
    for cb in callbacks:
        fn = getattr(cb, method, None)
        if fn is None:
            continue
        try:
            fn(*args)
        except Exception:
            log.exception("callback %r.%s failed", cb, method)


def load_callback(spec: str) -> Any:
    """Import `module:attr`; a class or factory is called without arguments, other objects are used as is."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"callback spec {spec!r} must look like 'package.module:name'")
    obj = getattr(importlib.import_module(module_name), attr)
    return obj() if callable(obj) and not hasattr(obj, "on_step") else obj


class LogitsProbe:
    """Records the in-memory model's logits on a fixed input at every checkpoint.

    Used to verify that checkpoints reload faithfully. Writes `<out_dir>/<kind>-<dirname>.pt` holding
    `{"input_ids": ..., "logits": ...}`. `out_dir` defaults to the `TRAINING_HUB_LOGITS_PROBE_DIR`
    environment variable; the input to token ids 3..34.
    """

    def __init__(self, out_dir: str | None = None, input_ids: list[int] | None = None) -> None:
        self.out_dir = Path(out_dir or os.environ["TRAINING_HUB_LOGITS_PROBE_DIR"])
        self.input_ids = input_ids or list(range(3, 35))

    def on_checkpoint(self, path: str, kind: str) -> None:
        """Save the logits of the model as it is now."""
        import torch

        model = current_model()
        if _is_sharded(model):
            # on_checkpoint runs on rank 0 only: a forward of a sharded model there would wait forever for the
            # other ranks' all-gathers.
            log.warning(
                "LogitsProbe: skipped at %s: the model is sharded (FSDP), rank 0 cannot run it alone", path
            )
            return
        device = next(model.parameters()).device
        ids = torch.tensor([self.input_ids], device=device)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits.float().cpu()
        model.train(was_training)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.save({"input_ids": ids.cpu(), "logits": logits}, self.out_dir / f"{kind}-{Path(path).name}.pt")


def _is_sharded(model: Any) -> bool:
    """Whether ``model`` holds FSDP2-sharded parameters (``DTensor``s, whose forward is collective)."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())
