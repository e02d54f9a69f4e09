"""Fixtures of the operator tests: the control plane fixtures, the plane with the TrainingRun and PyTorchJob
CRDs, and the TrainingRun helpers."""

from __future__ import annotations

from tests.controlplane.fixtures import *  # noqa: F403
from tests.support.planes import operator_plane  # noqa: F401
from tests.support.trainingruns import *  # noqa: F403
