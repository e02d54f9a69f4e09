"""Fixtures of the cluster-realities tests: a control plane with a real scheduler and admission.

Unlike the plane of the other suites, this one runs ``kube-scheduler`` (pods are bound to nodes, or marked
``Unschedulable`` with the scheduler's message), the ``ServiceAccount`` admission plugin (a pod naming a
missing ServiceAccount is refused at create, as on every real cluster), and the ``resourcequota`` and
``persistentvolume-binder`` controllers (quota usage is tracked; claims bind to volumes) and the
``nodelifecycle`` controller (node readiness from heartbeats). ``control_plane``
and ``namespace`` are overridden here, so ``operator_factory`` of ``tests/controlplane`` starts operators
against this plane.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane.cluster import DEFAULT_CONTROLLERS, ControlPlane, find_binaries, wait_until
from tests.controlplane.fixtures import operator_factory  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
#: ``nodelifecycle`` as in a cluster: it lifts the ``node.kubernetes.io/not-ready`` taint the
#: ``TaintNodesByCondition`` admission plugin puts on every new Node once the node reports Ready, and
#: watches the heartbeats (Leases) from then on.
CONTROLLERS = (*DEFAULT_CONTROLLERS, "resourcequota", "persistentvolume-binder", "nodelifecycle")


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """The plane with scheduler, ServiceAccount admission, quota and volume binding; CRDs installed."""
    plane = ControlPlane(
        find_binaries(build_if_missing=True),
        with_scheduler=True,
        controllers=CONTROLLERS,
        disable_admission_plugins=(),
    )
    plane.start()
    try:
        plane.install_crds(*sorted((REPO / "crds").glob("*.yaml")))
        yield plane
    finally:
        plane.stop()


def make_namespace(plane: ControlPlane, base: str) -> str:
    """Create a namespace named after ``base``; return once its ``default`` ServiceAccount has its token
    (with ServiceAccount admission, pods are refused until then)."""
    base = "".join(ch for ch in base.lower().replace("_", "-") if ch.isalnum() or ch == "-")[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:5]}"
    plane.create_namespace(name)

    def default_sa_has_token() -> bool:
        proc = plane.kubectl("get", "serviceaccount", "default", "-n", name, "-o", "json", check=False)
        return proc.returncode == 0 and '"secrets"' in proc.stdout

    wait_until(default_sa_has_token, 60, message=f"the default ServiceAccount of {name}")
    return name


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new namespace whose ``default`` ServiceAccount has its token; deleted (without waiting) after."""
    name = make_namespace(control_plane, request.node.name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)
