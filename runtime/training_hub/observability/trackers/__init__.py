"""Experiment trackers: Weights & Biases, MLflow and TensorBoard, with upstream training_hub's keywords.

:func:`tracker_settings` reads the tracker keywords (:class:`training_hub.params.TrackerParams`) plus the
environment fallbacks upstream uses; :func:`experiment_trackers` builds the training callbacks that log
every metrics row of the native engine (rank 0 only: loss, lr, grad norm, tokens/s, eval loss) and
:func:`report_to` is the Hugging Face Trainer's ``report_to`` for the same settings. The tracker packages
are imported only when a tracker is on.
"""

from __future__ import annotations

from training_hub.observability.trackers.hf import hf_tracker_args, tracker_environment
from training_hub.observability.trackers.settings import (
    TRACKER_FIELDS,
    TrackerSettings,
    report_to,
    tracker_settings,
)
from training_hub.observability.trackers.setup import experiment_trackers

__all__ = [
    "TRACKER_FIELDS",
    "TrackerSettings",
    "experiment_trackers",
    "hf_tracker_args",
    "report_to",
    "tracker_environment",
    "tracker_settings",
]
