"""Fixtures of the chart tests: the control plane (shared) and Helm through helm-sdkpy."""

from __future__ import annotations

from tests.controlplane.fixtures import *  # noqa: F401,F403
