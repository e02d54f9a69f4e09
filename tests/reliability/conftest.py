"""Fixtures of the reliability tests: the control plane (own session plane) and the operator helpers."""

from __future__ import annotations

from tests.controlplane.fixtures import *  # noqa: F403
from tests.operator.helpers import *  # noqa: F403
