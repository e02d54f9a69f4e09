"""Fixtures of the end-to-end tests: the control plane (a plane serving only the TrainingRun CRD; a module
that needs other CRDs declares its own plane), S3 and the runtime ServiceAccount."""

from __future__ import annotations

from tests.controlplane.fixtures import *  # noqa: F403
from tests.support.planes import obs_plane  # noqa: F401
from tests.support.s3 import *  # noqa: F403
