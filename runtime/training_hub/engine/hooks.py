"""A plug-in point inside the training loop for code that is not a training callback (test fault injection).

Callbacks (:mod:`training_hub.engine.callbacks`) see metrics and checkpoints; some tests need to act at
exact points inside the engine instead: SIGKILL a rank after a given step, or inside a checkpoint write
before its completion marker, or record which samples each rank trained. That code lives with the tests:
``TRAINING_HUB_ENGINE_HOOKS`` names Python files (separated by ``os.pathsep``) that each process of the
engine loads once, and each file calls :func:`register`. Nothing is loaded when it is unset (the default),
so the engine ships no test machinery.

Points and their keyword arguments:

* ``step_trained``: after an optimizer step, before metrics and checkpoints: ``step``, ``rank``,
  ``micro_batches`` (this rank's sample indices, per micro-batch).
* ``step_done``: after the step's checkpoints: ``step``, ``rank``.
* ``checkpoint_written``: inside a checkpoint commit, after its files are synced and before its
  ``COMPLETE`` marker: ``path`` (the temporary directory), ``count`` (commits so far in this process).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Files of hooks to load (``os.pathsep``-separated); set by tests only.
ENV_HOOKS = "TRAINING_HUB_ENGINE_HOOKS"

POINTS: tuple[str, ...] = ("step_trained", "step_done", "checkpoint_written")

_hooks: dict[str, list[Callable[..., Any]]] = {}
_loaded: str | None = None


def register(point: str, hook: Callable[..., Any]) -> None:
    """Run ``hook(**kwargs)`` at ``point`` (one of :data:`POINTS`)."""
    if point not in POINTS:
        raise ValueError(f"unknown engine hook point {point!r}; choose one of {', '.join(POINTS)}")
    _hooks.setdefault(point, []).append(hook)


def _load() -> None:
    """Load the files named by :data:`ENV_HOOKS` (once per value of the variable)."""
    global _loaded
    spec = os.environ.get(ENV_HOOKS, "")
    if spec == _loaded:
        return
    _loaded = spec
    _hooks.clear()
    for index, path in enumerate(p for p in spec.split(os.pathsep) if p):
        module_spec = importlib.util.spec_from_file_location(f"_training_hub_hooks_{index}", Path(path))
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"{ENV_HOOKS}: cannot load {path}")
        module_spec.loader.exec_module(importlib.util.module_from_spec(module_spec))


def fire(point: str, **kwargs: Any) -> None:
    """Run the hooks registered at ``point``."""
    _load()
    for hook in _hooks.get(point, ()):
        hook(**kwargs)
