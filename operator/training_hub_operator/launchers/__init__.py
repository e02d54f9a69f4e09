"""Launchers: how a TrainingRun becomes a distributed job (PyTorchJob, TrainJob, native Job).

Each launcher lives in ``launchers/<name>.py`` and exposes ``LAUNCHER``, an object satisfying
:class:`~training_hub_operator.launchers.base.Launcher`. Modules are imported lazily: a launcher whose module
is absent is reported as unavailable, not as an import error.
"""

from __future__ import annotations

import importlib
from functools import cache

from training_hub_operator.launchers.base import Launcher, RenderContext, WorkloadObservation

#: Launcher names in the order ``auto`` prefers them, and their modules. TrainJob first: Kubeflow Trainer v2
#: is where Kubeflow and Kueue are going (Training Operator v1 is in maintenance; Kueue's PyTorchJob
#: integration is off by default since v0.19, its TrainJob integration on).
LAUNCHER_MODULES: dict[str, str] = {
    "trainjob": "training_hub_operator.launchers.trainjob",
    "pytorchjob": "training_hub_operator.launchers.pytorchjob",
    "native": "training_hub_operator.launchers.native",
}


@cache
def get_launcher(name: str) -> Launcher | None:
    """The launcher of a name, or None when this operator build does not have it."""
    module_name = LAUNCHER_MODULES.get(name)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    launcher = getattr(module, "LAUNCHER", None)
    return launcher if isinstance(launcher, Launcher) else None


def available_launchers() -> dict[str, Launcher]:
    """Every launcher this operator build has, in ``auto`` preference order."""
    out: dict[str, Launcher] = {}
    for name in LAUNCHER_MODULES:
        launcher = get_launcher(name)
        if launcher is not None:
            out[name] = launcher
    return out


__all__ = [
    "LAUNCHER_MODULES",
    "Launcher",
    "RenderContext",
    "WorkloadObservation",
    "available_launchers",
    "get_launcher",
]
