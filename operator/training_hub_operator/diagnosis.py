"""Why a launched run's pods do not run: one specific reason, the API's own message, the object to fix.

A run whose workload exists but whose pods do not run is blocked by one of (most telling first):

* **pods refused at create**: the workload's controller posts a ``FailedCreate`` Event on its Job (the Job
  controller of 1.20, ``pkg/controller/controller_utils.go``: ``"Error creating: " + err``) with the
  admission error: a missing ServiceAccount (``ServiceAccount`` admission: ``error looking up service
  account ns/sa: serviceaccount "sa" not found``), a ResourceQuota (``exceeded quota: q, requested: ...``,
  ``failed quota: q: must specify ...``), a LimitRange (``maximum cpu usage per Container is 2, but limit
  is 4``), PodSecurityPolicy (1.20: ``PodSecurityPolicy: unable to admit pod: [...]``; what to fix: the
  policies the Job controller or the pod's ServiceAccount may ``use``) or Pod Security admission (1.23+:
  ``violates PodSecurity "restricted:latest": ...``; what to fix: the namespace's enforce label);
* **containers that cannot be configured** (``CreateContainerConfigError``, the kubelet's message: a
  missing Secret or ConfigMap, or key);
* **unschedulable pods** (``PodScheduled=False``, the scheduler's message: ``0/3 nodes are available: 3
  Insufficient nvidia.com/gpu.``), refined when the message names a PersistentVolumeClaim that does not
  exist or is not bound.

:func:`diagnose` is a pure function of the pods and Events; :func:`create_failures` reads the Events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Event reasons of controllers that could not create a pod (Job controller; Kubeflow's controllers).
CREATE_FAILURE_REASONS = ("FailedCreate", "FailedCreatePod")


@dataclass(frozen=True)
class Blocker:
    """Why pods do not run: a CamelCase reason and a message (what, the API's words, the fix)."""

    reason: str
    message: str


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _one_line(text: str, limit: int = 600) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SA = re.compile(r"error looking up service account (?P<ns>[^/\s]+)/(?P<name>[^:\s]+)")
_QUOTA = re.compile(r"(?:exceeded|failed) quota: (?P<name>[^,:\s]+)")
_LIMIT = re.compile(r"(?:maximum|minimum) \S+ usage per (?:Container|Pod)|limit to request ratio per")
_CLAIM_MISSING = re.compile(r'persistentvolumeclaim "(?P<name>[^"]+)" not found')
_SECRET_KEY = re.compile(r"couldn't find key (?P<key>\S+) in (?P<kind>Secret|ConfigMap) (?P<ref>\S+)")
#: PodSecurityPolicy admission (up to 1.24): ``PodSecurityPolicy: unable to admit pod: [...]`` (1.20),
#: ``unable to validate against any pod security policy: [...]`` (earlier), ``PodSecurityPolicy: no providers
#: available to validate pod request`` (no policy usable at all).
_PSP = re.compile(r"PodSecurityPolicy:|unable to validate against any pod security policy")
#: Pod Security admission (1.23+): ``violates PodSecurity "restricted:latest": ...``.
_POD_SECURITY = re.compile(r'violates PodSecurity "(?P<level>[^"]+)"')
_MISSING_OBJECT = re.compile(r'(?P<kind>secret|configmap) "(?P<name>[^"]+)" not found')


def refused_create(event: dict[str, Any], namespace: str) -> Blocker:
    """The blocker for a ``FailedCreate`` Event: which admission refused the pod, and what to fix."""
    involved = event.get("involvedObject") or {}
    owner = f"{involved.get('kind') or 'workload'} {involved.get('name') or ''}".strip()
    api = _one_line(str(event.get("message") or ""))
    said = f'the {owner} cannot create its pods: the API server answered "{api}"'
    if m := _SA.search(api):
        return Blocker(
            "ServiceAccountNotFound",
            f"{said}; create ServiceAccount {m.group('name')} in namespace {m.group('ns')} (the runtime "
            "ServiceAccount and Role of docs/operator.md) or set spec.runtime.serviceAccountName",
        )
    if m := _QUOTA.search(api):
        return Blocker(
            "QuotaExceeded",
            f"{said}; the ResourceQuota {m.group('name')} in namespace {namespace} refuses the pods: free "
            "quota (end other workloads), raise the quota, or request less (spec.resources)",
        )
    if _LIMIT.search(api):
        return Blocker(
            "LimitRangeRefused",
            f"{said}; a LimitRange in namespace {namespace} bounds what a pod may request: change "
            "spec.resources to fit it (kubectl describe limitrange), or ask the namespace's admin",
        )
    if _PSP.search(api):
        fix = (
            f"{said}; no PodSecurityPolicy that the controller creating the pods of the {owner} or the pod's "
            f"ServiceAccount (namespace {namespace}) may use (RBAC verb use on podsecuritypolicies) admits the "
            "training pod: grant use of "
            "a policy that admits it (the pod runs as non-root, without privileges or host access, with "
            "PersistentVolumeClaim, Secret, ConfigMap and emptyDir volumes), or ask the cluster's admin"
        )
        if "seccomp may not be set" in api or ("seccomp" in api and "not an allowed" in api):
            fix += (
                "; the training pod asks for the RuntimeDefault seccomp profile: the policy must allow it "
                "(annotation seccomp.security.alpha.kubernetes.io/allowedProfileNames: runtime/default)"
            )
        if "fsGroup" in api:
            fix += (
                "; the operator sets the pods' fsGroup (--pod-fs-group, chart value operator.podFsGroup): "
                "set it inside the policy's range"
            )
        return Blocker("PodSecurityRefused", fix)
    if m := _POD_SECURITY.search(api):
        return Blocker(
            "PodSecurityRefused",
            f"{said}; namespace {namespace} enforces the Pod Security level {m.group('level')} (label "
            "pod-security.kubernetes.io/enforce) and the training pod breaks it as quoted: run in a namespace "
            "whose level admits it, or ask the namespace's admin",
        )
    return Blocker("PodCreateRefused", f"{said}; fix what the message names, the pods are created again")


def _config_error(pod: dict[str, Any], message: str) -> Blocker:
    name = _meta(pod).get("name")
    text = _one_line(message)
    fix = "create it, or fix the reference in spec.runtime"
    if m := _SECRET_KEY.search(text):
        fix = f"add key {m.group('key')} to {m.group('kind')} {m.group('ref')}, or fix the reference in spec.runtime"
    elif m := _MISSING_OBJECT.search(text):
        kind = "Secret" if m.group("kind") == "secret" else "ConfigMap"
        fix = f"create {kind} {m.group('name')}, or fix the reference in spec.runtime"
    return Blocker(
        "ContainerConfigError",
        f'the kubelet cannot start the container of pod {name} (CreateContainerConfigError): "{text}"; {fix}',
    )


def _unschedulable(pod: dict[str, Any], message: str) -> Blocker:
    name = _meta(pod).get("name")
    text = _one_line(message)
    said = f'the scheduler cannot place pod {name}: "{text}"'
    if m := _CLAIM_MISSING.search(text):
        return Blocker(
            "ClaimNotFound",
            f"{said}; create PersistentVolumeClaim {m.group('name')} or fix the pvc:// URI in the spec",
        )
    if "unbound immediate PersistentVolumeClaims" in text or "unbound PersistentVolumeClaims" in text:
        return Blocker(
            "ClaimNotBound",
            f"{said}; a PersistentVolumeClaim of the run is not bound to a volume: check its StorageClass "
            "and events (kubectl describe pvc)",
        )
    return Blocker(
        "Unschedulable",
        f"{said}; free or add nodes with the requested GPUs, CPU and memory, or fix spec.resources "
        "(gpusPerNode, gpuProduct) and spec.runtime (nodeSelector, tolerations)",
    )


def _latest(events: list[dict[str, Any]]) -> dict[str, Any]:
    def when(e: dict[str, Any]) -> str:
        return str(e.get("lastTimestamp") or e.get("eventTime") or _meta(e).get("creationTimestamp") or "")

    return max(events, key=when)


def diagnose(
    pods: list[dict[str, Any]],
    events: list[dict[str, Any]],
    workloads: list[dict[str, Any]],
    expected_pods: int,
) -> Blocker | None:
    """Why the run's pods do not run (None when nothing is known to block them).

    Args:
        pods: The run's training pods.
        events: ``FailedCreate`` Events of the namespace (any object; filtered here).
        workloads: The run's workload objects (their uids pick the Events).
        expected_pods: How many pods the workload should have (a refused create leaves fewer).

    Returns:
        The most telling blocker: a refused create, a container configuration error, then an unschedulable
        pod.
    """
    live = [p for p in pods if not _meta(p).get("deletionTimestamp")]
    namespace = str(_meta(workloads[0]).get("namespace") or "") if workloads else ""
    uids = {str(_meta(w).get("uid")) for w in workloads if _meta(w).get("uid")}
    if len(live) < expected_pods:
        refused = [
            e
            for e in events
            if e.get("reason") in CREATE_FAILURE_REASONS
            and (e.get("involvedObject") or {}).get("uid") in uids
        ]
        if refused:
            return refused_create(_latest(refused), namespace)
    for pod in sorted(live, key=lambda p: str(_meta(p).get("name"))):
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in ("CreateContainerConfigError", "CreateContainerError"):
                return _config_error(pod, str(waiting.get("message") or waiting["reason"]))
    for pod in sorted(live, key=lambda p: str(_meta(p).get("name"))):
        for c in (pod.get("status") or {}).get("conditions") or []:
            if (
                c.get("type") == "PodScheduled"
                and c.get("status") == "False"
                and c.get("reason") == "Unschedulable"
            ):
                return _unschedulable(pod, str(c.get("message") or ""))
    return None


def expected_pods(status: dict[str, Any]) -> int:
    """How many training pods the run's plan makes (one per node)."""
    return max(int((status.get("plan") or {}).get("nodes") or 1), 1)


def missing_pods(pods: list[dict[str, Any]], status: dict[str, Any]) -> bool:
    """Whether fewer live pods exist than the plan makes (only then are create failures worth reading)."""
    live = [p for p in pods if not _meta(p).get("deletionTimestamp")]
    return len(live) < expected_pods(status)


def create_failures(kube: Any, namespace: str) -> list[dict[str, Any]]:
    """The namespace's Warning Events of controllers that could not create a pod (best effort: [] on error).

    Args:
        kube: A :class:`~training_hub_operator.kube.Kube`.
        namespace: The run's namespace.
    """
    from training_hub.contracts.kinds import EVENT
    from training_hub_operator.kube import KubeError

    try:
        data = kube.request("GET", EVENT.path(namespace), query=[("fieldSelector", "type=Warning")])
    except KubeError:
        return []
    return [e for e in data.get("items") or [] if e.get("reason") in CREATE_FAILURE_REASONS]


# --------------------------------------------------------------------------------- pods not started yet
def pod_started(pod: dict[str, Any]) -> bool:
    """Whether a pod's containers ever ran (phase Running/Succeeded/Failed, or a running/ended container)."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Running", "Succeeded", "Failed"):
        return True
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("running") or state.get("terminated") or (cs.get("lastState") or {}).get("terminated"):
            return True
    return False


def unstarted_pods(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods (not being deleted) whose containers never ran, by name."""
    return sorted(
        (p for p in pods if not _meta(p).get("deletionTimestamp") and not pod_started(p)),
        key=lambda p: str(_meta(p).get("name")),
    )


def pod_state(pod: dict[str, Any]) -> str:
    """Why a pod has not started, in a few words: unschedulable (the scheduler's message), image pull..."""
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            detail = " ".join(str(waiting.get("message") or "").split())
            return f"{waiting['reason']}" + (f" ({detail[:300]})" if detail else "")
    scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
    if scheduled is not None and scheduled.get("status") == "False":
        detail = " ".join(str(scheduled.get("message") or "").split())
        return f"{scheduled.get('reason') or 'Unschedulable'}" + (f" ({detail[:300]})" if detail else "")
    if scheduled is None:
        return "Pending, not scheduled yet"
    return f"{status.get('phase') or 'Pending'}, containers not started"


def describe_pods(pods: list[dict[str, Any]], limit: int = 4) -> str:
    """``pod a: <state>; pod b: <state>; and N more``."""
    parts = [f"pod {_meta(p).get('name')}: {pod_state(p)}" for p in pods[:limit]]
    if len(pods) > limit:
        parts.append(f"and {len(pods) - limit} more")
    return "; ".join(parts)
