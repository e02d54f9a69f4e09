"""The runtime ServiceAccount manifest of docs/operator.md, applied to a real API server (ServiceAccount
admission on): it grants exactly what training pods need, and a run waiting for it starts once it exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.objects import condition, cpu_run
from tests.controlplane.cluster import ControlPlane, wait_until

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "operator.md"


def documented_manifest(namespace: str) -> list[dict[str, Any]]:
    text = DOC.read_text()
    section = text[text.index("## Runtime ServiceAccount") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "docs/operator.md has no manifest under 'Runtime ServiceAccount'"
    return [d for d in yaml.safe_load_all(block.group(1).replace("NAMESPACE", namespace)) if d]


def can_i(plane: ControlPlane, namespace: str, *args: str) -> bool:
    who = f"--as=system:serviceaccount:{namespace}:training-hub-runtime"
    proc = plane.kubectl("auth", "can-i", *args, "-n", namespace, who, check=False)
    return proc.stdout.strip() == "yes"


def test_documented_runtime_serviceaccount_grants_progress_only_and_unblocks_a_waiting_run(
    control_plane: ControlPlane, namespace: str, operator_factory: Any
) -> None:
    plane = control_plane
    operator_factory(namespaces=[namespace], extra_args=["--resync-seconds=2"])
    plane.apply(cpu_run("waits", runtime={"serviceAccountName": "training-hub-runtime"}), namespace=namespace)
    wait_until(
        lambda: condition(plane, namespace, "waits", "Queued").get("reason") == "ServiceAccountNotFound",
        90,
        message="the run waits for its ServiceAccount",
    )

    plane.apply(documented_manifest(namespace))
    assert can_i(plane, namespace, "patch", "trainingruns.traininghub.io", "--subresource=status")
    assert can_i(plane, namespace, "create", "events")
    assert not can_i(plane, namespace, "patch", "trainingruns.traininghub.io")  # the spec stays the user's
    assert not can_i(plane, namespace, "get", "secrets")

    # The Job controller retries its creates: the pod now exists and the run no longer says it waits for
    # the ServiceAccount.
    def pods() -> list[dict[str, Any]]:
        items = plane.kubectl_json("get", "pods", "-n", namespace, "-l", "traininghub.io/run=waits")["items"]
        return list(items)

    created = wait_until(pods, 120, message="the pod is created once the ServiceAccount exists")
    assert created[0]["spec"]["serviceAccountName"] == "training-hub-runtime"
    wait_until(
        lambda: condition(plane, namespace, "waits", "Queued").get("reason") != "ServiceAccountNotFound",
        60,
        message="the run's reason moves on",
    )
