"""Stall detection: a ``Running`` run that made no training step for its stall timeout.

The training pod's rank 0 writes ``status.progress`` itself (see ``docs/observability.md``); no step for the
run's stall timeout sets ``Stalled=True`` (reason ``NoProgress``): hung collectives otherwise hold GPUs
forever. Pure: nothing here calls the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from training_hub.contracts.kinds import GROUP
from training_hub.timefmt import format_duration, parse_time, rfc3339
from training_hub_operator.durations import parse_duration

#: Annotation on a TrainingRun overriding the stall timeout (``90s``, ``10m``, ``1h30m``; ``0``/``off``: never).
STALL_TIMEOUT_ANNOTATION = f"{GROUP}/stall-timeout"
#: Default stall timeout (seconds) when neither the annotation nor ``TRAINING_HUB_STALL_TIMEOUT`` is set.
DEFAULT_STALL_TIMEOUT = 1800.0
#: Reason of the ``Stalled`` condition when no step came in time.
REASON_NO_PROGRESS = "NoProgress"


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
