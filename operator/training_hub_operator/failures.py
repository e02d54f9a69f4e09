"""Why a run's pod failed, in words users understand, and which pod tells the run's failure.

A failed pod maps to a reason and advice (:func:`classify_failure`, :func:`pod_failure`): bad data line,
out of memory (with the estimator's advice), image pull, rendezvous timeout, diverged loss; among a run's
pods, :func:`run_failure` picks the one that says why. Pure: nothing here calls the API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from training_hub.pod import exit_codes
from training_hub.pod.exit_codes import PERMANENT_EXIT_CODES
from training_hub.storage.objectstore import STORAGE_REASONS
from training_hub.storage.uri import PVC_MOUNT_ROOT, user_location


@dataclass(frozen=True)
class FailureReason:
    """Why a run failed: a CamelCase reason and a sentence saying what happened and what to do."""

    reason: str
    message: str
    retryable: bool = False


_DATA_LINE = re.compile(r"(?P<where>(?:pvc://)?[^\s:;]+\.(?:jsonl|json|parquet|txt):\d+):\s*(?P<what>[^;]*)")
_PVC = re.compile(rf"(?:/[^\s:;]*)?({re.escape(PVC_MOUNT_ROOT.rstrip('/'))}/[^\s:;]+)")
#: ``StorageCredentialsInvalid: s3://bucket/x: InvalidAccessKeyId: ...`` (the pod's StorageError).
_STORAGE_REASON = re.compile(r"\b(Storage[A-Za-z]+): (\S+://\S+: .*)")
IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})


def _pvc_uris(text: str) -> str:
    """``/mnt/pvc/claim/x`` -> ``pvc://claim/x`` in a message (what the user wrote in the spec)."""
    return _PVC.sub(lambda m: user_location(m.group(1)), text)


def _advice_memory(plan: dict[str, Any] | None, gpu: bool) -> str:
    plan = plan or {}
    per_gpu = plan.get("perGpu") or {}
    expected = per_gpu.get("expected")
    mem = plan.get("gpuMemoryBytes")
    if gpu:
        parts = []
        if expected:
            parts.append(f"the estimator expected {expected} per GPU")
            if mem:
                parts[-1] += f" of {mem / 2**30:.0f}Gi"
        parts.append(
            "lower hyperparameters.max_tokens_per_gpu (or max_seq_len), use more GPUs (spec.resources), or "
            "pick LoRA/OSFT; `training-hub estimate` shows the breakdown"
        )
        return "; ".join(parts)
    return "raise spec.resources.memory, or lower hyperparameters.max_tokens_per_gpu / max_seq_len" + (
        f" (the estimator expected {expected} per device)" if expected else ""
    )


def classify_failure(
    exit_code: int | None,
    message: str = "",
    container_reason: str = "",
    plan: dict[str, Any] | None = None,
) -> FailureReason:
    """Map a training container's end to a reason and an explanation.

    Args:
        exit_code: The container's exit code (None if it never ran).
        message: Its termination message (the entrypoint writes ``<Reason>: <detail>``), or a waiting
            message.
        container_reason: ``state.terminated.reason`` or ``state.waiting.reason`` (``OOMKilled``,
            ``ImagePullBackOff``...).
        plan: ``status.plan`` (for the estimator's memory advice).

    Returns:
        The reason (``InvalidData``, ``OutOfMemory``, ``GPUOutOfMemory``, ``ImagePullFailed``,
        ``RendezvousTimeout``, ``TrainingDiverged``, ``InvalidInput``, ``InfrastructureError``, ``Terminated``,
        ``Error``...) and a message.
    """
    text = _pvc_uris(" ".join((message or "").split()))
    low = text.lower()
    if container_reason in IMAGE_PULL_REASONS:
        return FailureReason(
            "ImagePullFailed",
            f"the runtime image cannot be pulled ({container_reason}): {text or 'no detail'}; check "
            "spec.runtime.image and spec.runtime.imagePullSecrets",
            retryable=False,
        )
    if container_reason == "OOMKilled" or (exit_code == 137 and "oom" in low):
        return FailureReason(
            "OutOfMemory",
            f"the training container ran out of memory (OOMKilled): {_advice_memory(plan, gpu=False)}",
        )
    if "cuda out of memory" in low or "outofmemoryerror" in low:
        return FailureReason(
            "GPUOutOfMemory",
            f"a GPU ran out of memory: {_advice_memory(plan, gpu=True)}. Detail: {text[:400]}",
        )
    if "training diverged" in low:
        detail = text[low.index("training diverged") :]
        return FailureReason("TrainingDiverged", detail[:800])
    m = _DATA_LINE.search(text)
    if m and (exit_code in (exit_codes.INVALID_INPUT, None) or "dataformaterror" in low or "invalid" in low):
        return FailureReason(
            "InvalidData",
            f"bad data line {m.group('where')}: {m.group('what').strip()}; fix the line (or the data_format) "
            "and create a new TrainingRun",
        )
    if "rendezvous" in low and ("timeout" in low or "timed out" in low):
        return FailureReason(
            "RendezvousTimeout",
            f"the nodes did not meet at the rendezvous in time: {text[:400]}; check that every node's pod was "
            "scheduled (enough GPUs free, Kueue admission) and that pods can reach each other",
            retryable=True,
        )
    storage = _STORAGE_REASON.search(text)
    if storage and storage.group(1) in STORAGE_REASONS:
        return FailureReason(
            storage.group(1), storage.group(2), retryable=storage.group(1) == "StorageUnavailable"
        )
    if exit_code in (exit_codes.USAGE, exit_codes.INVALID_INPUT):
        detail = text.split(":", 1)[1].strip() if text.startswith("InvalidInput:") else text
        return FailureReason("InvalidInput", detail or f"invalid input (exit code {exit_code})")
    if exit_code == exit_codes.INFRASTRUCTURE:
        return FailureReason(
            "InfrastructureError", text or f"infrastructure failure (exit code {exit_code})", True
        )
    if exit_code in (exit_codes.TERMINATED, -15):
        return FailureReason("Terminated", text or "the training container was terminated (SIGTERM)", True)
    if exit_code is not None and (exit_code < 0 or exit_code > 128):
        return FailureReason(
            "Killed", text or f"the training container was killed (exit code {exit_code})", True
        )
    return FailureReason("Error", text or f"the training container exited with {exit_code}", True)


def pod_failure(pod: dict[str, Any], plan: dict[str, Any] | None = None) -> FailureReason | None:
    """Why a training pod failed or cannot start (None when it is fine so far).

    Reads the first container's ``state.terminated`` (exit code, reason, termination message), its
    ``lastState.terminated`` when it restarts, and ``state.waiting`` for image pull problems.
    """
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in IMAGE_PULL_REASONS:
            return classify_failure(None, str(waiting.get("message") or ""), str(waiting["reason"]), plan)
        term = state.get("terminated") or ((cs.get("lastState") or {}).get("terminated") or {})
        if term and int(term.get("exitCode") or 0) != 0:
            return classify_failure(
                int(term["exitCode"]), str(term.get("message") or ""), str(term.get("reason") or ""), plan
            )
    if status.get("phase") == "Failed":
        return classify_failure(None, str(status.get("message") or ""), str(status.get("reason") or ""), plan)
    return None


def run_failure(
    pods: list[dict[str, Any]], plan: dict[str, Any] | None, image_pull_only: bool = False
) -> FailureReason | None:
    """The most telling failure among a run's pods: a pod whose container failed (node 0 first)."""
    found: list[FailureReason] = []
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name"))):
        failure = pod_failure(pod, plan)
        if failure is None:
            continue
        if image_pull_only and failure.reason != "ImagePullFailed":
            continue
        found.append(failure)
    if not found:
        return None
    # A peer losing its rendezvous is a consequence; the pod that says why (bad data, OOM...) is the cause.
    generic = {"Error", "InfrastructureError", "Terminated", "Killed", "RendezvousTimeout"}
    specific = [f for f in found if f.reason not in generic]
    return (specific or found)[0]


def permanent_pod_failure(pods: list[dict[str, Any]], plan: dict[str, Any] | None) -> FailureReason | None:
    """The failure of a pod whose container exited with a code retrying cannot help (bad input: 2, 3),
    now or before its last restart; None if there is none."""
    permanent = [
        pod
        for pod in pods
        for cs in (pod.get("status") or {}).get("containerStatuses") or []
        if any(
            int(((cs.get(key) or {}).get("terminated") or {}).get("exitCode") or 0) in PERMANENT_EXIT_CODES
            for key in ("state", "lastState")
        )
    ]
    return run_failure(permanent, plan) if permanent else None
