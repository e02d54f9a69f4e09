"""The tracker keywords for engines built on the Hugging Face Trainer (TRL/unsloth, sentence-transformers).

The Trainer's integrations take the tracker from ``report_to`` and the rest from the environment
(transformers 5): ``WANDB_PROJECT``/``WANDB_ENTITY``, ``MLFLOW_TRACKING_URI``/``MLFLOW_EXPERIMENT_NAME``/
``MLFLOW_RUN_NAME`` and ``TENSORBOARD_LOGGING_DIR``; the run name is ``run_name`` (W&B's, else MLflow's,
as upstream). :func:`tracker_environment` sets those variables for the duration of training only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from training_hub.observability.trackers.settings import report_to, tracker_settings

#: Tracker keyword -> environment variable the Trainer's integrations read.
HF_ENV: dict[str, str] = {
    "wandb_project": "WANDB_PROJECT",
    "wandb_entity": "WANDB_ENTITY",
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
    "mlflow_experiment_name": "MLFLOW_EXPERIMENT_NAME",
    "mlflow_run_name": "MLFLOW_RUN_NAME",
    "tensorboard_log_dir": "TENSORBOARD_LOGGING_DIR",
}


def hf_tracker_args(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``(training-arguments part, environment)`` for the run's trackers.

    Args:
        params: The run's parameters (tracker keywords; unset ones fall back to the environment).
    """
    settings = tracker_settings(params)
    args: dict[str, Any] = {"report_to": report_to(settings)}
    run_name = settings.wandb_run_name or settings.mlflow_run_name
    if run_name:
        args["run_name"] = run_name
    env = {var: str(value) for key, var in HF_ENV.items() if (value := getattr(settings, key)) is not None}
    if settings.mlflow and str(settings.mlflow_tracking_uri or "").startswith("file:"):
        env.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return args, env


@contextlib.contextmanager
def tracker_environment(env: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables while training, restoring the previous values afterwards."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
