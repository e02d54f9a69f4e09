"""Why pods do not run, from the messages of the real components (``diagnosis``).

The messages are those of Kubernetes 1.20 (Job controller ``FailedCreate`` Events carrying admission errors,
the scheduler's ``PodScheduled`` message, the kubelet's ``CreateContainerConfigError``) and, for Pod Security
admission, of 1.23+ (``pkg/admission/podsecurity``). The integration test
``tests/cluster/test_start_failures_integration.py`` produces most of them on a real control plane.
"""

from __future__ import annotations

from typing import Any

import pytest

from training_hub_operator.diagnosis import diagnose, refused_create

pytestmark = pytest.mark.unit

JOB = {"kind": "Job", "metadata": {"name": "r1", "namespace": "ns", "uid": "job-uid"}}


def event(
    message: str, uid: str = "job-uid", reason: str = "FailedCreate", when: str = "2026-01-01T00:00:01Z"
) -> dict[str, Any]:
    return {
        "reason": reason,
        "type": "Warning",
        "message": message,
        "lastTimestamp": when,
        "involvedObject": {"kind": "Job", "name": "r1", "uid": uid},
    }


@pytest.mark.parametrize(
    ("message", "reason", "names"),
    [
        (
            'Error creating: pods "r1-" is forbidden: error looking up service account ns/trainer: serviceaccount "trainer" not found',
            "ServiceAccountNotFound",
            "create ServiceAccount trainer in namespace ns",
        ),
        (
            'Error creating: pods "r1-x" is forbidden: exceeded quota: gpus, requested: requests.nvidia.com/gpu=8, used: requests.nvidia.com/gpu=0, limited: requests.nvidia.com/gpu=4',
            "QuotaExceeded",
            "ResourceQuota gpus",
        ),
        (
            'Error creating: pods "r1-x" is forbidden: failed quota: compute: must specify limits.cpu',
            "QuotaExceeded",
            "ResourceQuota compute",
        ),
        (
            'Error creating: pods "r1-x" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi',
            "LimitRangeRefused",
            "LimitRange",
        ),
        (
            'Error creating: pods "r1-x" is forbidden: PodSecurityPolicy: unable to admit pod: [spec.volumes[2]: Invalid value: "emptyDir": emptyDir volumes are not allowed to be used]',
            "PodSecurityRefused",
            "verb use on podsecuritypolicies",
        ),
        (
            'Error creating: pods "r1-x" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true (pod or container "trainer" must set securityContext.runAsNonRoot=true)',
            "PodSecurityRefused",
            "Pod Security level restricted:latest",
        ),
        (
            "Error creating: Internal error occurred: something else",
            "PodCreateRefused",
            "fix what the message names",
        ),
    ],
)
def test_refused_creates_name_the_admission_and_quote_the_api(message: str, reason: str, names: str) -> None:
    blocker = diagnose([], [event(message)], [JOB], expected_pods=1)
    assert blocker is not None and blocker.reason == reason
    assert message in blocker.message and names in blocker.message and "Job r1" in blocker.message


def test_create_failures_count_only_while_pods_are_missing_and_only_for_this_workload() -> None:
    msg = 'Error creating: pods "r1-" is forbidden: error looking up service account ns/x: serviceaccount "x" not found'
    pod = {"metadata": {"name": "r1-abc"}, "status": {"phase": "Running"}}
    assert diagnose([pod], [event(msg)], [JOB], expected_pods=1) is None  # fixed since: the pod exists
    assert diagnose([], [event(msg, uid="earlier-run")], [JOB], expected_pods=1) is None
    older = event(msg.replace("ns/x", "ns/old"), when="2026-01-01T00:00:00Z")
    latest = diagnose([], [older, event(msg)], [JOB], expected_pods=1)
    assert latest is not None and "ns/x" in latest.message


def pending(
    name: str, *, scheduled: dict[str, Any] | None = None, waiting: dict[str, Any] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Pending", "conditions": []}
    if scheduled:
        status["conditions"].append(
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", **scheduled}
        )
    if waiting:
        status["containerStatuses"] = [{"name": "trainer", "state": {"waiting": waiting}}]
    return {"metadata": {"name": name}, "status": status}


@pytest.mark.parametrize(
    ("message", "reason", "fix"),
    [
        ("0/12 nodes are available: 12 Insufficient nvidia.com/gpu.", "Unschedulable", "gpusPerNode"),
        (
            '0/3 nodes are available: 3 persistentvolumeclaim "data" not found.',
            "ClaimNotFound",
            "create PersistentVolumeClaim data",
        ),
        (
            "0/3 nodes are available: 3 pod has unbound immediate PersistentVolumeClaims.",
            "ClaimNotBound",
            "StorageClass",
        ),
    ],
)
def test_unschedulable_pods_quote_the_scheduler(message: str, reason: str, fix: str) -> None:
    blocker = diagnose([pending("r1-a", scheduled={"message": message})], [], [JOB], expected_pods=1)
    assert blocker is not None and blocker.reason == reason
    assert message in blocker.message and fix in blocker.message and "pod r1-a" in blocker.message


@pytest.mark.parametrize(
    ("message", "fix"),
    [
        ("couldn't find key token in Secret ns/hf", "add key token to Secret ns/hf"),
        ('secret "hf" not found', "create Secret hf"),
        ("couldn't find key k in ConfigMap ns/c", "add key k to ConfigMap ns/c"),
        ('configmap "c" not found', "create ConfigMap c"),
    ],
)
def test_container_config_errors_quote_the_kubelet(message: str, fix: str) -> None:
    pod = pending("r1-a", waiting={"reason": "CreateContainerConfigError", "message": message})
    blocker = diagnose([pod], [], [JOB], expected_pods=1)
    assert blocker is not None and blocker.reason == "ContainerConfigError"
    assert message in blocker.message and fix in blocker.message


def test_nothing_known_blocks_a_scheduled_pod() -> None:
    pod = {
        "metadata": {"name": "r1-a"},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]},
    }
    assert diagnose([pod], [], [JOB], expected_pods=1) is None


def test_an_event_without_an_object_still_reads() -> None:
    blocker = refused_create({"message": "Error creating: boom"}, "ns")
    assert blocker.reason == "PodCreateRefused" and "boom" in blocker.message


def test_pod_security_refusals_name_what_to_fix() -> None:
    psp = (
        'Error creating: pods "r1-x" is forbidden: PodSecurityPolicy: unable to admit pod: '
        "[spec.securityContext.fsGroup: Invalid value: []int64{1000}: group 1000 must be in the ranges: [{2000 3000}]]"
    )
    blocker = diagnose([], [event(psp)], [JOB], expected_pods=1)
    assert blocker is not None and blocker.reason == "PodSecurityRefused"
    assert "verb use on podsecuritypolicies" in blocker.message and "operator.podFsGroup" in blocker.message
    # A policy without seccomp annotations refuses the pod's RuntimeDefault profile (seen on 1.20's PSP).
    seccomp = (
        'Error creating: pods "r1-x" is forbidden: PodSecurityPolicy: unable to admit pod: '
        "[pod.metadata.annotations[seccomp.security.alpha.kubernetes.io/pod]: Forbidden: seccomp may not be set]"
    )
    blocker = diagnose([], [event(seccomp)], [JOB], expected_pods=1)
    assert blocker is not None and "allowedProfileNames: runtime/default" in blocker.message
    none = 'Error creating: pods "r1-x" is forbidden: PodSecurityPolicy: no providers available to validate pod request'
    blocker = diagnose([], [event(none)], [JOB], expected_pods=1)
    assert (
        blocker is not None and blocker.reason == "PodSecurityRefused" and "podFsGroup" not in blocker.message
    )
    # Pod Security admission (1.23+; message format of k8s.io/pod-security-admission): the namespace's level.
    pss = (
        'Error creating: pods "r1-x" is forbidden: violates PodSecurity "baseline:latest": '
        'hostPath volumes (volume "data")'
    )
    blocker = diagnose([], [event(pss)], [JOB], expected_pods=1)
    assert blocker is not None and blocker.reason == "PodSecurityRefused"
    assert (
        "level baseline:latest" in blocker.message and "pod-security.kubernetes.io/enforce" in blocker.message
    )
