"""``training_hub.contracts.kinds``: API names and the ResourceKind value type."""

from __future__ import annotations

import subprocess
import sys

import pytest

from training_hub.contracts import kinds

pytestmark = pytest.mark.unit


def test_paths_of_core_group_and_cluster_kinds() -> None:
    assert kinds.POD.path("ns", "p", "log") == "/api/v1/namespaces/ns/pods/p/log"
    assert (
        kinds.TRAININGRUN.path("ns", "r", "status")
        == "/apis/traininghub.io/v1alpha1/namespaces/ns/trainingruns/r/status"
    )
    assert kinds.CLUSTER_TRAINING_RUNTIME.path("ns", "x") == (
        "/apis/trainer.kubeflow.org/v1alpha1/clustertrainingruntimes/x"
    )
    assert kinds.JOB.group == "batch" and kinds.CONFIGMAP.crd_name is None
    assert kinds.PYTORCHJOB.crd_name == "pytorchjobs.kubeflow.org"
    assert kinds.TRAININGRUN.crd_name == kinds.CRD_NAME


def test_operator_names_are_the_contracts() -> None:
    from training_hub_operator import kube
    from training_hub_operator.api import constants

    assert kube.ResourceKind is kinds.ResourceKind and kube.JOB is kinds.JOB
    assert constants.API_VERSION == kinds.API_VERSION and f"{kinds.GROUP}/run" == constants.LABEL_RUN


def test_launchers_render_without_the_api_client() -> None:
    """Launchers are pure: importing every one of them loads neither the Kubernetes client nor ``kube.py``."""
    code = (
        "import sys\n"
        "import training_hub_operator.launchers.auto, training_hub_operator.launchers.native\n"
        "import training_hub_operator.launchers.pytorchjob, training_hub_operator.launchers.trainjob\n"
        "print(sorted(m for m in ('kubernetes', 'training_hub_operator.kube') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
