"""Fixtures of the observability tests: the control plane with the TrainingRun CRD."""

from __future__ import annotations

from tests.controlplane.fixtures import *  # noqa: F403
from tests.support.planes import obs_plane  # noqa: F401
