"""Fixtures of the operator tests: the control plane fixtures plus TrainingRun helpers."""

from __future__ import annotations

from tests.controlplane.fixtures import *  # noqa: F403
from tests.operator.helpers import *  # noqa: F403
