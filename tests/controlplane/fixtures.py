"""pytest fixtures for tests against the local Kubernetes 1.20 control plane.

Import them in a test directory's ``conftest.py``::

    from tests.controlplane.fixtures import *  # noqa: F401,F403

Fixtures:

* ``control_plane`` (session): a started :class:`~tests.controlplane.cluster.ControlPlane` with
  ``.kubeconfig``, ``.kubectl(*args)``, ``.kubectl_json(*args)``, ``.apply(manifest)``, ``.api_client()``,
  ``.install_crds(*paths)``. Binaries come from ``KUBEBUILDER_ASSETS``, the build cache, or ``build.sh``.
  A module can have a plane of its own: see ``own_control_plane``.
* ``namespace``: a fresh namespace per test (deleted afterwards, without waiting).
* ``operator_factory``: a callable starting the operator as a subprocess
  (:class:`~tests.controlplane.operator_process.OperatorProcess`); every operator it started is stopped by
  pid at teardown.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane, find_binaries
from tests.controlplane.operator_process import OperatorProcess

__all__ = ["control_plane", "namespace", "operator_factory"]


def _running_plane() -> Iterator[ControlPlane]:
    """A running control plane for the whole session (stopped by pid at the end, also on failure)."""
    plane = ControlPlane(find_binaries(build_if_missing=True))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


control_plane = pytest.fixture(scope="session")(_running_plane)
#: The same fixture (``control_plane``) for a test module whose tests must not share the plane of their
#: directory, e.g. because they install CRDs that change what ``launcher: auto`` picks. Import it into the
#: module (``from tests.controlplane.fixtures import own_control_plane``, marked unused for ruff): the module's
#: ``control_plane``, and the ``namespace`` and ``operator_factory`` of its tests, are then its own plane's.
own_control_plane = pytest.fixture(scope="session", name="control_plane")(_running_plane)


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new namespace named after the test; deleted (asynchronously) after it."""
    base = request.node.name.lower().replace("_", "-")
    base = "".join(ch for ch in base if ch.isalnum() or ch == "-")[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:5]}"
    control_plane.create_namespace(name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def operator_factory(control_plane: ControlPlane) -> Iterator[Callable[..., OperatorProcess]]:
    """Start operators as subprocesses: ``operator_factory(namespaces=[ns], extra_args=[...], env={...})``.

    The returned process is started and ready (its liveness endpoint answers). All are stopped at teardown.
    """
    started: list[OperatorProcess] = []

    def start(**kwargs: Any) -> OperatorProcess:
        proc = OperatorProcess(control_plane.kubeconfig, **kwargs)
        started.append(proc)
        proc.start()
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()
