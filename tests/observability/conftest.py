"""Fixtures of the observability tests: the control plane with the CRDs, and a narrowly scoped runtime
ServiceAccount (exactly the Role the training pods get: patch ``trainingruns/status``, create events)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import *  # noqa: F401,F403
from training_hub.observability.reporter import RUNTIME_RBAC_RULES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def obs_plane(control_plane: ControlPlane) -> Iterator[ControlPlane]:
    """The control plane with the TrainingRun CRD (as generated in crds/)."""
    control_plane.install_crds(*sorted((REPO / "crds").glob("*.yaml")))
    yield control_plane


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
