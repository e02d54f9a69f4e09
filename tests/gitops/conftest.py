"""GitOps tests run the operator against the local control plane."""

from __future__ import annotations

from tests.controlplane.fixtures import *  # noqa: F401,F403
