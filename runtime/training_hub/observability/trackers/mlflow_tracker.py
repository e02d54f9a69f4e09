"""MLflow: one run in the named experiment, through ``MlflowClient`` (no global MLflow state)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from training_hub.observability.trackers.base import ExperimentTracker, flat_config
from training_hub.observability.trackers.settings import TrackerSettings

#: MLflow's limits per ``log_batch`` call.
MAX_PARAMS_PER_BATCH = 100
MAX_PARAM_LENGTH = 6000
#: MLflow 3's opt-in for the (maintenance-mode) file store.
ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"


class MlflowTracker(ExperimentTracker):
    """Logs to MLflow.

    Args:
        settings: ``mlflow_tracking_uri`` (default: MLflow's own), ``mlflow_experiment_name`` (default:
            MLflow's default experiment), ``mlflow_run_name``.
        config: Run parameters (logged as the run's params).
    """

    name = "mlflow"

    def __init__(self, settings: TrackerSettings, config: Mapping[str, Any]) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        super().__init__()
        uri = settings.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
        if uri.startswith("file:") or (uri and "://" not in uri):
            # MLflow 3 refuses file stores unless asked; a file:// URI given here is that request.
            os.environ.setdefault(ALLOW_FILE_STORE, "true")
        self.client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
        experiment_id = "0"
        if settings.mlflow_experiment_name:
            experiment = self.client.get_experiment_by_name(settings.mlflow_experiment_name)
            experiment_id = (
                experiment.experiment_id
                if experiment is not None
                else self.client.create_experiment(settings.mlflow_experiment_name)
            )
        run = self.client.create_run(experiment_id, run_name=settings.mlflow_run_name)
        self.run_id = run.info.run_id
        self.opened()
        params = [Param(k, v[:MAX_PARAM_LENGTH]) for k, v in flat_config(config).items()]
        for start in range(0, len(params), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=params[start : start + MAX_PARAMS_PER_BATCH])

    def log(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])

    def finish(self, summary: Mapping[str, Any] | None) -> None:
        self.client.set_terminated(self.run_id, status="FINISHED" if summary is not None else "KILLED")
