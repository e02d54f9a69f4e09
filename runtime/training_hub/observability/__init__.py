"""Observability of training runs: progress in ``TrainingRun.status``, Prometheus metrics, health guards,
readable logs and sparklines.

Nothing here imports torch, transformers or prometheus-client at import time (the operator imports
``training_hub``). The pieces:

* :mod:`~training_hub.observability.tracker`: turns the engine's per-step metrics into the
  ``status.progress`` wire form (pure);
* :mod:`~training_hub.observability.reporter`: a training callback that patches ``status.progress`` of the
  run's TrainingRun, rate-limited, from rank 0 (through :mod:`~training_hub.observability.kubeapi`);
* :mod:`~training_hub.observability.exporter`: a training callback serving Prometheus metrics on a port;
* :mod:`~training_hub.observability.guards`: NaN / divergence guard (raises :class:`TrainingDivergedError`);
* :mod:`~training_hub.observability.console`: a progress bar on a terminal, plain lines otherwise;
* :mod:`~training_hub.observability.sparkline`: unicode sparklines;
* :mod:`~training_hub.observability.auto`: the callbacks a training pod gets without asking
  (configured by ``TRAINING_HUB_*`` environment variables).

See ``docs/observability.md``.
"""

from __future__ import annotations

from training_hub.observability.guards import LossGuard, TrainingDivergedError
from training_hub.observability.sparkline import sparkline
from training_hub.observability.tracker import LossHistory, ProgressTracker

__all__ = ["LossGuard", "LossHistory", "ProgressTracker", "TrainingDivergedError", "sparkline"]
