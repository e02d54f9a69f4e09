"""Progress, usage, stall detection and failure reasons of TrainingRuns, as pure functions.

The training pod's rank 0 writes ``status.progress`` itself (see ``docs/observability.md``); the operator
reads it to:

* detect a stall (:func:`check_stall`): no training step for the run's stall timeout while ``Running``
  sets ``Stalled=True`` (reason ``NoProgress``): hung collectives otherwise hold GPUs forever;
* account usage (:func:`compute_usage`): wall time, GPU-seconds, and the predicted against the actual time;
* phrase conditions (:func:`progress_summary`, :func:`ready_condition`).

It maps a failed pod to a reason users understand (:func:`classify_failure`, :func:`pod_failure`): bad data
line, out of memory (with the estimator's advice), image pull, rendezvous timeout, diverged loss.
Nothing here calls the API.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from training_hub.storage.objectstore import STORAGE_REASONS
from training_hub.timefmt import format_duration, parse_time, rfc3339

#: Annotation on a TrainingRun overriding the stall timeout (``90s``, ``10m``, ``1h30m``; ``0``/``off``: never).
STALL_TIMEOUT_ANNOTATION = "traininghub.io/stall-timeout"
#: Default stall timeout (seconds) when neither the annotation nor ``TRAINING_HUB_STALL_TIMEOUT`` is set.
DEFAULT_STALL_TIMEOUT = 1800.0
#: Reason of the ``Stalled`` condition when no step came in time.
REASON_NO_PROGRESS = "NoProgress"

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


class DurationError(ValueError):
    """A duration string could not be read."""


def parse_duration(text: str | float | int) -> float:
    """Seconds of a duration: ``90``, ``90s``, ``10m``, ``1h30m``, ``0`` / ``off`` (0: disabled).

    Raises:
        DurationError: For anything else.
    """
    if isinstance(text, int | float):
        if text < 0 or not math.isfinite(text):
            raise DurationError(f"duration must be >= 0, got {text}")
        return float(text)
    s = str(text).strip().lower()
    if s in ("off", "never", "none", "false", "0"):
        return 0.0
    try:
        value = float(s)
    except ValueError:
        m = _DURATION.match(s)
        if not s or not m or not any(m.groups()):
            raise DurationError(f"cannot read duration {text!r}: use e.g. 90s, 10m, 1h30m, or off") from None
        h, mi, se = (float(g) if g else 0.0 for g in m.groups())
        return h * 3600 + mi * 60 + se
    if value < 0 or not math.isfinite(value):
        raise DurationError(f"duration must be >= 0, got {text!r}")
    return value


# ------------------------------------------------------------------------------------------------ stall
def stall_timeout(run: dict[str, Any], default: float = DEFAULT_STALL_TIMEOUT) -> float:
    """The run's stall timeout in seconds (0: disabled): its annotation, else ``default``.

    Raises:
        DurationError: When the annotation cannot be read.
    """
    raw = ((run.get("metadata") or {}).get("annotations") or {}).get(STALL_TIMEOUT_ANNOTATION)
    return default if raw is None else parse_duration(raw)


@dataclass(frozen=True)
class Stall:
    """A stalled run: the reason and message of the ``Stalled`` condition, and since when."""

    reason: str
    message: str
    since: str


def check_stall(status: dict[str, Any], now: float, timeout: float) -> Stall | None:
    """Whether a running run made no step for ``timeout`` seconds.

    The reference is ``progress.lastStepTime`` (written by the training pod with every progress update),
    else the workload's ``startTime`` (loading the model and the data count against the timeout too).

    Args:
        status: The run's status.
        now: Current time (UNIX seconds).
        timeout: Seconds without a step that make a stall (0: never).

    Returns:
        The stall, or None when the run is not ``Running``, the timeout is off, or a step came in time.
    """
    if timeout <= 0 or status.get("phase") != "Running":
        return None
    progress = status.get("progress") or {}
    last = parse_time(progress.get("lastStepTime"))
    ref = last if last is not None else parse_time(status.get("startTime"))
    if ref is None or now - ref < timeout:
        return None
    since = rfc3339(ref)
    if last is not None:
        step = progress.get("step")
        total = progress.get("totalSteps")
        where = f" (step {step}/{total})" if total else (f" (step {step})" if step else "")
        what = f"no training step since {since}{where}"
    else:
        what = f"no training step since the workload started at {since}"
    # The message stays the same while the stall lasts (one Event, no status churn).
    return Stall(
        REASON_NO_PROGRESS,
        f"{what}, longer than the stall timeout of {format_duration(timeout)}: the job may hang (e.g. a stuck "
        f"collective holds its GPUs); check the pod logs, then delete the run or suspend it (spec.suspend) "
        f"to free the GPUs; the timeout is set by the {STALL_TIMEOUT_ANNOTATION} annotation",
        rfc3339(ref),
    )


# ------------------------------------------------------------------------------------------------ usage
def compute_usage(status: dict[str, Any], now: float) -> dict[str, Any] | None:
    """``status.usage``: wall time, GPUs, GPU-seconds, and the predicted against the actual training time.

    Returns:
        ``{"wallSeconds", "gpus", "gpuSeconds", "trainingSeconds"?, "predictedSeconds"?,
        "actualToPredicted"?}`` (camelCase, rounded), or None before the workload started.
    """
    start = parse_time(status.get("startTime"))
    if start is None:
        return None
    end = parse_time(status.get("completionTime")) or now
    wall = max(0.0, end - start)
    plan = status.get("plan") or {}
    gpus = int(plan.get("totalGpus") or 0)
    out: dict[str, Any] = {"wallSeconds": round(wall, 1), "gpus": gpus, "gpuSeconds": round(gpus * wall, 1)}
    progress = status.get("progress") or {}
    training = progress.get("elapsedSeconds")
    if isinstance(training, int | float) and training >= 0:
        out["trainingSeconds"] = round(float(training), 1)
    predicted = progress.get("predictedSeconds")
    if isinstance(predicted, int | float) and predicted > 0:
        out["predictedSeconds"] = round(float(predicted), 1)
        if status.get("phase") == "Succeeded" and isinstance(training, int | float) and training > 0:
            out["actualToPredicted"] = round(float(training) / float(predicted), 3)
    return out


# --------------------------------------------------------------------------------------------- summary
def progress_summary(progress: dict[str, Any] | None) -> str:
    """One line: ``step 120/400 (30%), loss 1.234, 5120 tok/s, eta 2026-01-01T10:00:00Z``."""
    p = progress or {}
    if p.get("step") is None:
        return "no step yet"
    parts = [f"step {p['step']}/{p['totalSteps']}" if p.get("totalSteps") else f"step {p['step']}"]
    if p.get("percent") is not None:
        parts[0] += f" ({p['percent']}%)"
    if isinstance(p.get("loss"), int | float):
        parts.append(f"loss {p['loss']:.4g}")
    if isinstance(p.get("tokensPerSecond"), int | float):
        parts.append(f"{p['tokensPerSecond']:.0f} tok/s")
    if p.get("eta") and p.get("percent") != 100:
        parts.append(f"eta {p['eta']}")
    return ", ".join(parts)


def ready_condition(status: dict[str, Any]) -> tuple[str, str, str]:
    """The ``Ready`` condition ``(status, reason, message)``: True once the trained model is there.

    ``Ready`` summarises for tools that only look at one condition: ``True`` (``Succeeded``) when the run
    finished and its model is written; ``False`` with the current state's reason otherwise.
    """
    phase = status.get("phase") or "Pending"
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    model = ((status.get("outputs") or {}).get("modelUri")) or (status.get("progress") or {}).get(
        "lastCheckpoint"
    )
    if phase == "Succeeded":
        return (
            "True",
            "Succeeded",
            f"training finished; the model is at {model}" if model else "training finished",
        )
    if phase == "Failed":
        failed = conds.get("Failed") or {}
        return "False", str(failed.get("reason") or "Failed"), str(failed.get("message") or "the run failed")
    stalled = conds.get("Stalled") or {}
    if stalled.get("status") == "True":
        return "False", str(stalled.get("reason") or "Stalled"), str(stalled.get("message") or "")
    if phase == "Running":
        return "False", "Training", progress_summary(status.get("progress"))
    return "False", phase, f"the run is {phase.lower()}"


# -------------------------------------------------------------------------------------------- failures
@dataclass(frozen=True)
class FailureReason:
    """Why a run failed: a CamelCase reason and a sentence saying what happened and what to do."""

    reason: str
    message: str
    retryable: bool = False


_DATA_LINE = re.compile(r"(?P<where>(?:pvc://)?[^\s:;]+\.(?:jsonl|json|parquet|txt):\d+):\s*(?P<what>[^;]*)")
_PVC = re.compile(r"(?:/[^\s:;]*)?/mnt/pvc/([^\s:;]+)")
#: ``StorageCredentialsInvalid: s3://bucket/x: InvalidAccessKeyId: ...`` (the pod's StorageError).
_STORAGE_REASON = re.compile(r"\b(Storage[A-Za-z]+): (\S+://\S+: .*)")
IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})


def _pvc_uris(text: str) -> str:
    """``/mnt/pvc/claim/x`` -> ``pvc://claim/x`` in a message (what the user wrote in the spec)."""
    return _PVC.sub(lambda m: f"pvc://{m.group(1)}", text)


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
    if m and (exit_code in (3, None) or "dataformaterror" in low or "invalid" in low):
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
    if exit_code in (2, 3):
        detail = text.split(":", 1)[1].strip() if text.startswith("InvalidInput:") else text
        return FailureReason("InvalidInput", detail or "invalid input (exit code 3)")
    if exit_code == 4:
        return FailureReason("InfrastructureError", text or "infrastructure failure (exit code 4)", True)
    if exit_code in (143, -15):
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


# ------------------------------------------------------------------------------------------- writing
def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The merge patch the operator writes for ``status``, leaving ``progress`` to the training pod.

    The pod patches ``status.progress`` concurrently; writing back the operator's (older) copy would move the
    progress backwards. ``progress`` is therefore only written when the operator itself changed it
    (:func:`final_progress`), and removed keys are set to null.
    """
    patch = {k: v for k, v in new.items() if k != "progress" or v != old.get("progress")}
    for k in old:
        if k not in new:
            patch[k] = None
    return patch


def final_progress(progress: dict[str, Any] | None, phase: str) -> dict[str, Any] | None:
    """Progress of an ended run: a succeeded run is at 100 % with no ETA pending (None: unchanged)."""
    if phase != "Succeeded" or not progress:
        return None
    out = dict(progress)
    if out.get("totalSteps"):
        out["step"] = max(int(out.get("step") or 0), int(out["totalSteps"]))
    out["percent"] = 100
    return out if out != progress else None
