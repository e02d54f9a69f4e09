"""Fixtures of the launch tests: the control plane (from tests/controlplane) with the CRDs installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import *  # noqa: F401,F403

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = Path(__file__).with_name("manifests")


@pytest.fixture(scope="session")
def launch_plane(control_plane: ControlPlane) -> Iterator[ControlPlane]:
    """The control plane with the TrainingRun CRD and test copies of the Kubeflow CRDs and runtime."""
    control_plane.install_crds(
        *sorted((REPO / "crds").glob("*.yaml")),
        MANIFESTS / "kubeflow.org_pytorchjobs.yaml",
        MANIFESTS / "trainer.kubeflow.org_trainjobs.yaml",
        MANIFESTS / "trainer.kubeflow.org_clustertrainingruntimes.yaml",
    )
    control_plane.apply(MANIFESTS / "torch-distributed-runtime.yaml")
    yield control_plane
