"""A PodSecurityPolicy refuses the training pod for real: kube-apiserver 1.20 with ``PodSecurityPolicy``
admission, and a restrictive policy that the Job controller may use.

The plane is this module's own (every pod of a plane with PodSecurityPolicy admission needs a usable policy).
Its controllers act as their own ServiceAccounts (``--use-service-account-credentials``, as kubeadm runs
them), so the Job controller's pod creates are admitted against the policies that
``system:serviceaccount:kube-system:job-controller`` may ``use`` (RBAC) — here one policy, shaped like the
Kubernetes documentation's ``restricted`` example but with a namespace-style ``fsGroup`` range (2000-3000)
that the training pod's ``fsGroup`` (1000, the operator's default) is outside of. The Job controller's
``FailedCreate`` Event carries the admission plugin's own message; the run quotes it and names what to fix.
The 1.25+ Pod Security admission message is covered by ``tests/operator/test_diagnosis.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.conftest import CONTROLLERS, REPO, make_namespace
from tests.cluster.objects import condition, cpu_run
from tests.controlplane.cluster import ControlPlane, find_binaries, wait_until

pytestmark = pytest.mark.integration

POLICY = "restricted"
#: ``restricted`` of the Kubernetes documentation (``policy/restricted-psp.yaml``, 1.20), fsGroup narrowed.
RESTRICTED_PSP: dict[str, Any] = {
    "apiVersion": "policy/v1beta1",
    "kind": "PodSecurityPolicy",
    "metadata": {
        "name": POLICY,
        "annotations": {
            "seccomp.security.alpha.kubernetes.io/allowedProfileNames": "docker/default,runtime/default",
            "seccomp.security.alpha.kubernetes.io/defaultProfileName": "runtime/default",
        },
    },
    "spec": {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "requiredDropCapabilities": ["ALL"],
        "volumes": ["configMap", "emptyDir", "projected", "secret", "downwardAPI", "persistentVolumeClaim"],
        "hostNetwork": False,
        "hostIPC": False,
        "hostPID": False,
        "runAsUser": {"rule": "MustRunAsNonRoot"},
        "seLinux": {"rule": "RunAsAny"},
        "supplementalGroups": {"rule": "MustRunAs", "ranges": [{"min": 1, "max": 65535}]},
        "fsGroup": {"rule": "MustRunAs", "ranges": [{"min": 2000, "max": 3000}]},
        "readOnlyRootFilesystem": False,
    },
}


@pytest.fixture(scope="module")
def control_plane() -> Iterator[ControlPlane]:
    """A plane with PodSecurityPolicy admission, controllers with their own credentials, and the policy."""
    plane = ControlPlane(
        find_binaries(build_if_missing=True),
        controllers=CONTROLLERS,
        disable_admission_plugins=(),
        enable_admission_plugins=("PodSecurityPolicy",),
        controller_credentials=True,
    )
    plane.start()
    try:
        plane.install_crds(*sorted((REPO / "crds").glob("*.yaml")))
        plane.apply(
            [
                RESTRICTED_PSP,
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "metadata": {"name": f"psp-{POLICY}"},
                    "rules": [
                        {
                            "apiGroups": ["policy"],
                            "resources": ["podsecuritypolicies"],
                            "resourceNames": [POLICY],
                            "verbs": ["use"],
                        }
                    ],
                },
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": f"psp-{POLICY}-job-controller"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": f"psp-{POLICY}",
                    },
                    "subjects": [
                        {"kind": "ServiceAccount", "name": "job-controller", "namespace": "kube-system"}
                    ],
                },
            ]
        )
        yield plane
    finally:
        plane.stop()


def test_a_pod_security_policy_refusal_is_a_condition_and_an_event(
    control_plane: ControlPlane, operator_factory: Any
) -> None:
    plane = control_plane
    namespace = make_namespace(plane, "psp")
    operator_factory(namespaces=[namespace], extra_args=["--resync-seconds=2"])
    plane.apply(cpu_run("psp", nodes=1), namespace=namespace)

    def refused() -> dict[str, Any]:
        queued = condition(plane, namespace, "psp", "Queued")
        return queued if queued.get("reason") == "PodSecurityRefused" else {}

    try:
        queued = dict(wait_until(refused, 90, message="psp: Queued reason PodSecurityRefused"))
    except AssertionError:
        run = plane.kubectl_json("get", "trainingrun", "psp", "-n", namespace)
        events = plane.kubectl("get", "events", "-n", namespace, check=False).stdout
        raise AssertionError(f"never PodSecurityRefused: {run.get('status')}\n{events}") from None
    message = queued["message"]
    # The admission plugin's words, quoted from the Job controller's FailedCreate Event.
    assert (
        "PodSecurityPolicy: unable to admit pod" in message
        or "unable to validate against any pod security policy" in message
    ), message
    assert "group 1000 must be in the ranges" in message, message
    # What to fix: the policy the pod may use (RBAC use), and the fsGroup the operator sets.
    assert "Job psp" in message, message
    assert "podsecuritypolicies" in message and "use" in message, message
    assert "fsGroup" in message and "podFsGroup" in message, message
    events = plane.events_for(namespace, "psp", reasons=("PodSecurityRefused",))
    assert any("group 1000" in e["message"] for e in events if e["reason"] == "PodSecurityRefused"), events
    run = plane.kubectl_json("get", "trainingrun", "psp", "-n", namespace)
    assert run["status"]["phase"] == "Queued", run["status"]
    pods = plane.kubectl_json("get", "pods", "-n", namespace)["items"]
    assert pods == [], pods
    plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
