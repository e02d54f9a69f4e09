"""Build the experiment-tracker callbacks of a run (rank 0 of the native engine)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from training_hub.backends.availability import module_available
from training_hub.errors import BackendUnavailableError
from training_hub.observability.trackers.base import ExperimentTracker
from training_hub.observability.trackers.settings import TRACKER_FIELDS, tracker_settings

log = logging.getLogger("training_hub.observability")

#: Tracker -> (module to import, package to install).
PACKAGES: dict[str, tuple[str, str]] = {
    "wandb": ("wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow-skinny"),
    "tensorboard": ("torch.utils.tensorboard", "tensorboard"),
}


def experiment_trackers(
    params: Mapping[str, Any], run_dir: str, env: Mapping[str, str] | None = None
) -> list[ExperimentTracker]:
    """Open the trackers a run asks for.

    Args:
        params: The run's parameters (the tracker keywords and the rest, logged as the run's config).
        run_dir: The run's output directory (wandb's local files go to ``<run_dir>``).
        env: Environment for the fallbacks (default: ``os.environ``).

    Returns:
        One callback per tracker that is on (empty when none is).

    Raises:
        BackendUnavailableError: When a tracker is asked for but its package is not installed.
    """
    settings = tracker_settings(params, env)
    enabled = settings.enabled()
    for name in enabled:
        module, package = PACKAGES[name]
        top = module.split(".")[0]
        if not module_available(top) or (name == "tensorboard" and not module_available("tensorboard")):
            raise BackendUnavailableError(
                f"{name} tracking was asked for ({', '.join(k for k in settings.given() if name in k)}) but "
                f"the package {package} is not installed: pip install {package}"
            )
    config = {k: v for k, v in params.items() if k not in TRACKER_FIELDS}
    trackers: list[ExperimentTracker] = []
    try:
        if settings.wandb:
            from training_hub.observability.trackers.wandb_tracker import WandbTracker

            trackers.append(WandbTracker(settings, config, run_dir))
        if settings.mlflow:
            from training_hub.observability.trackers.mlflow_tracker import MlflowTracker

            trackers.append(MlflowTracker(settings, config))
        if settings.tensorboard:
            from training_hub.observability.trackers.tensorboard_tracker import TensorBoardTracker

            trackers.append(TensorBoardTracker(str(settings.tensorboard_log_dir)))
    except Exception:
        for tracker in trackers:  # the ones already open
            tracker.close()
        raise
    if trackers:
        log.info("experiment trackers: %s", ", ".join(t.name for t in trackers))
    return trackers
