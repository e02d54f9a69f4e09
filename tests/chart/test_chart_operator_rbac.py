"""The operator runs with nothing but the chart's RBAC: a TokenRequest token of the chart's ServiceAccount,
the container command/args/env of the chart's Deployment, a real TrainingRun reconciled end to end."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart.chart_operator import ChartOperator, service_account_kubeconfig
from tests.chart.helm import find, install, manifest_objects, uninstall
from tests.controlplane.cluster import ControlPlane, wait_until
from tests.support.trainingruns import trainingrun

pytestmark = pytest.mark.integration

FORBIDDEN_MARKERS = ("403", "Forbidden", "forbidden")


def training_run(name: str) -> dict[str, Any]:
    """A small CPU run (tiny:// model and data are built in the pod; nothing is downloaded)."""
    spec = {
        "algorithm": "sft",
        "model": {"uri": "tiny://llama?hidden_size=64&layers=2"},
        "data": {"uri": "tiny://messages?samples=64"},
        "output": {"uri": "pvc://training-output/" + name},
        "hyperparameters": {
            "effective_batch_size": 8,
            "learning_rate": 0.001,
            "max_seq_len": 128,
            "max_steps": 2,
        },
        "resources": {"nodes": 2, "gpusPerNode": 0, "cpu": "1", "memory": "2Gi"},
        "launcher": "native",
    }
    return trainingrun(name, spec)


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    """:func:`tests.controlplane.cluster.wait_until`, every half second."""
    return wait_until(predicate, timeout, interval=0.5, message=what)


@pytest.fixture(scope="module")
def release(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    name, namespace = f"thop-{uuid.uuid4().hex[:5]}", f"th-op-{uuid.uuid4().hex[:5]}"
    runs_ns = control_plane.create_namespace(f"runs-{uuid.uuid4().hex[:5]}")
    rel = install(control_plane.kubeconfig, name, namespace, {"runtime": {"namespaces": [runs_ns]}})
    control_plane.wait_for_crd("trainingruns.traininghub.io")
    (deployment,) = find(manifest_objects(rel), "Deployment")
    sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = service_account_kubeconfig(
        control_plane, namespace, sa, tmp_path_factory.mktemp("sa") / "kubeconfig"
    )
    operator = ChartOperator(deployment, kubeconfig, pod_name=f"{name}-training-hub-7d4f9-abcde")
    operator.start()
    try:
        yield {
            "release": name,
            "namespace": namespace,
            "runs": runs_ns,
            "operator": operator,
            "kubeconfig": kubeconfig,
        }
    finally:
        operator.stop()
        uninstall(control_plane.kubeconfig, name, namespace)


def test_operator_reconciles_a_run_with_only_the_charts_rbac(
    control_plane: ControlPlane, release: dict[str, Any]
) -> None:
    ns, operator = release["runs"], release["operator"]
    control_plane.apply(training_run("rbac-run"), namespace=ns)

    def launched() -> dict[str, Any] | None:
        run = control_plane.kubectl_json("get", "trainingrun", "rbac-run", "-n", ns)
        status = run.get("status") or {}
        return run if status.get("workload") and status.get("phase") in ("Queued", "Running") else None

    run = wait_for(launched, 60, f"the run to launch; operator log:\n{operator.log()}")
    assert run["status"]["observedGeneration"] == run["metadata"]["generation"]
    accepted = [c for c in run["status"]["conditions"] if c["type"] == "Accepted"]
    assert accepted and accepted[0]["status"] == "True"
    # Children of the native launcher exist, owned by the run (no ConfigMap: the spec is in the pod template).
    uid = run["metadata"]["uid"]
    children = control_plane.kubectl_json(
        "get", "configmaps,services,jobs", "-n", ns, "-l", "traininghub.io/run=rbac-run"
    )
    kinds = sorted({c["kind"] for c in children["items"]})
    assert kinds == ["Job", "Service"]
    for child in children["items"]:
        assert any(
            ref["uid"] == uid and ref.get("controller") for ref in child["metadata"]["ownerReferences"]
        )
    # Events were posted with the operator's token.
    assert control_plane.events_for(ns, "rbac-run", reasons=("Launched",))
    # kopf's peering keep-alive (patch on the ClusterKopfPeering) worked with the chart's RBAC.
    peering = control_plane.kubectl_json("get", "clusterkopfpeering", f"{release['release']}-training-hub")
    assert peering.get("status"), "no keep-alive in the peering object"
    # Nothing was refused along the way.
    log = operator.log(200_000)
    # Whole words only: "403" also occurs inside timestamps (e.g. 10:27:55.940324).
    refused = re.compile(r"\b(" + "|".join(FORBIDDEN_MARKERS) + r")\b")
    assert not [line for line in log.splitlines() if refused.search(line)], log[-4000:]
    assert re.search(r'^traininghub_reconcile_total\{[^}]*result="ok"[^}]*\} [1-9]', operator.metrics(), re.M)


def test_the_operator_token_cannot_read_secrets(control_plane: ControlPlane, release: dict[str, Any]) -> None:
    ns = release["runs"]
    control_plane.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hf-token"},
            "stringData": {"token": "hf_x"},
        },
        namespace=ns,
    )
    kubeconfig: Path = release["kubeconfig"]
    for args in (
        ["get", "secret", "hf-token", "-n", ns],
        ["get", "secrets", "-n", ns],
        ["get", "secrets", "--all-namespaces"],
        ["get", "secrets", "-n", release["namespace"]],
    ):
        proc = control_plane.kubectl(f"--kubeconfig={kubeconfig}", *args, check=False)
        assert proc.returncode != 0 and "forbidden" in proc.stderr.lower(), (args, proc.stdout, proc.stderr)
    # ...while it can do its job with the same token.
    ok = control_plane.kubectl(f"--kubeconfig={kubeconfig}", "get", "trainingruns", "-n", ns, "-o", "json")
    assert json.loads(ok.stdout)["items"]
    # And it cannot escalate: no RBAC writes, no pods/exec, no token minting.
    for args in (
        ["create", "role", "x", "--verb=get", "--resource=secrets", "-n", ns],
        ["create", "token", "default", "-n", ns],
        ["delete", "trainingrun", "rbac-run", "-n", ns, "--wait=false"],
    ):
        proc = control_plane.kubectl(f"--kubeconfig={kubeconfig}", *args, check=False)
        assert proc.returncode != 0 and "forbidden" in proc.stderr.lower(), (args, proc.stdout, proc.stderr)


def _peering_lines(op: ChartOperator) -> list[str]:
    return [
        ln[:200] for ln in op.log(200_000).splitlines() if "aus" in ln or "esum" in ln or "peer" in ln.lower()
    ]


def _paused(op: ChartOperator) -> bool:
    """Whether kopf has this replica paused: its last peering decision, or the initial (preactivated) pause."""
    decisions = [
        ln
        for ln in op.log(1_000_000).splitlines()
        if "Pausing operations" in ln or "Resuming operations" in ln
    ]
    return not decisions or "Pausing operations" in decisions[-1]


def _priority(pod_name: str) -> int:
    out = subprocess.run(["cksum"], input=pod_name, capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def test_two_replicas_never_both_reconcile(control_plane: ControlPlane, release: dict[str, Any]) -> None:
    """A second replica started the chart's way gets its own priority; exactly one of the two reconciles."""
    first: ChartOperator = release["operator"]
    second = ChartOperator(
        first.deployment, release["kubeconfig"], pod_name=f"{release['release']}-training-hub-7d4f9-zzzzz"
    )
    assert _priority(first.pod_name) != _priority(second.pod_name)
    second.start()
    try:
        leader, follower = (
            (first, second) if _priority(first.pod_name) > _priority(second.pod_name) else (second, first)
        )
        # kopf starts every replica paused (mandatory peering) and resumes it only when no live peer has a
        # higher priority; a running replica pauses when a higher one appears.
        try:
            wait_for(
                lambda: _paused(follower) and not _paused(leader), 30, "one replica running, the other paused"
            )
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\nleader {_peering_lines(leader)}\nfollower {_peering_lines(follower)}\n"
                + str(
                    control_plane.kubectl_json(
                        "get", "clusterkopfpeering", f"{release['release']}-training-hub"
                    )
                )
            ) from None
        follower_log_before = len(follower.log(1_000_000))
        ns = release["runs"]
        control_plane.apply(training_run("ha-run"), namespace=ns)
        wait_for(
            lambda: (
                control_plane.kubectl_json("get", "trainingrun", "ha-run", "-n", ns).get("status") or {}
            ).get("workload"),
            60,
            "the leader to launch ha-run",
        )
        assert f"created Service {ns}/ha-run" in leader.log(1_000_000)
        assert "ha-run" not in follower.log(1_000_000)[follower_log_before:]
    finally:
        second.stop()
