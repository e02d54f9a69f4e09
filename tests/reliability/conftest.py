"""Fixtures of the reliability tests: the control plane (own session plane) and the operator helpers."""

from __future__ import annotations

from tests.controlplane.fixtures import *  # noqa: F403
from tests.support.planes import operator_plane  # noqa: F401
from tests.support.trainingruns import *  # noqa: F403
