"""The control plane prepared for a kind of suite, and a narrowly scoped runtime ServiceAccount.

Each fixture installs CRDs into the ``control_plane`` of the requesting test's directory (or module, where a
module declares its own plane). Which CRDs a plane serves decides what ``launcher: auto`` picks, so suites
that need different sets run on different planes (see ``docs/testing.md``):

* ``obs_plane``: the TrainingRun CRD only (as generated in ``crds/``).
* ``launch_plane`` (``own_launch_plane``): the TrainingRun CRD, the Kubeflow CRDs (structural schemas generated at test time from
  the official models, :mod:`tests.support.official_api`, so the API server prunes what a real one prunes)
  and Trainer's ``torch-distributed`` runtime.
* ``operator_plane``: the TrainingRun CRD and the PyTorchJob CRD.

``runtime_kubeconfig`` gives the ServiceAccount exactly the Role the training pods get (patch
``trainingruns/status``, create events).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.controlplane.cluster import ControlPlane
from tests.support.official_api import write_crds
from tests.support.trainingruns import CRD
from training_hub.observability.reporter import RUNTIME_RBAC_RULES

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = Path(__file__).with_name("manifests")

#: ``own_launch_plane`` (fixture ``launch_plane``) is not exported: a plane serving the Kubeflow CRDs makes
#: ``launcher: auto`` choose TrainJob, so only modules on their own plane import it (with ``own_control_plane``).
__all__ = ["obs_plane", "operator_plane", "runtime_kubeconfig"]


@pytest.fixture(scope="session")
def obs_plane(control_plane: ControlPlane) -> Iterator[ControlPlane]:
    """The control plane with the TrainingRun CRD (as generated in crds/)."""
    control_plane.install_crds(*sorted((REPO / "crds").glob("*.yaml")))
    yield control_plane


@pytest.fixture(scope="session", name="launch_plane")
def own_launch_plane(
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


@pytest.fixture(scope="session")
def operator_plane(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> ControlPlane:
    """The control plane with the TrainingRun CRD (from crds/) and the PyTorchJob CRD (its schema derived
    from the official ``kubeflow-training`` model, see :mod:`tests.support.official_api`)."""
    control_plane.install_crds(CRD, *write_crds(tmp_path_factory.mktemp("kubeflow-crds"), "PyTorchJob"))
    return control_plane


def runtime_kubeconfig(plane: ControlPlane, namespace: str, path: Path, rules: list | None = None) -> Path:
    """Create the runtime ServiceAccount + Role (``rules``, default the documented ones) in ``namespace``;
    write a kubeconfig holding its token to ``path``."""
    name = "training-hub-runtime"
    role_rules = RUNTIME_RBAC_RULES if rules is None else rules
    plane.apply(
        [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": name},
                "rules": role_rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            },
        ],
        namespace=namespace,
    )
    token = ""
    deadline = time.monotonic() + 60
    while not token and time.monotonic() < deadline:
        sa = plane.kubectl_json("get", "serviceaccount", name, "-n", namespace)
        secrets = [s["name"] for s in sa.get("secrets") or []]
        if secrets:
            secret = plane.kubectl_json("get", "secret", secrets[0], "-n", namespace)
            token = base64.b64decode((secret.get("data") or {}).get("token", "")).decode()
        if not token:
            time.sleep(0.3)
    assert token, "the service account token controller did not create a token"
    server = yaml.safe_load(Path(plane.kubeconfig).read_text())["clusters"][0]["cluster"]["server"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "runtime", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "runtime", "namespace": namespace}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(config))
    return path
