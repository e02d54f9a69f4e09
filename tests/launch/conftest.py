"""Fixtures of the launch tests: the control plane (from tests/controlplane) with the CRDs installed.

The Kubeflow CRDs are generated at test time from the official models (:mod:`tests.launch.official_api`):
their structural schemas make the API server prune what a real one prunes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import *  # noqa: F401,F403
from tests.launch.official_api import write_crds

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = Path(__file__).with_name("manifests")


@pytest.fixture(scope="session")
def launch_plane(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """The control plane with the TrainingRun CRD, the Kubeflow CRDs (schemas from the official models) and
    Trainer's ``torch-distributed`` runtime."""
    kubeflow = write_crds(
        tmp_path_factory.mktemp("kubeflow-crds"), "PyTorchJob", "TrainJob", "ClusterTrainingRuntime"
    )
    control_plane.install_crds(*sorted((REPO / "crds").glob("*.yaml")), *kubeflow)
    control_plane.apply(MANIFESTS / "torch-distributed-runtime.yaml")
    yield control_plane
