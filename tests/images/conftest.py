"""The kind-script test replays the chart install on the local control plane."""

from __future__ import annotations

from tests.controlplane.fixtures import *  # noqa: F401,F403
