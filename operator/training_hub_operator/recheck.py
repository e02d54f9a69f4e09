"""When a run next needs a reconcile without any event: the timers of the state machine, as a pure function.

The resync skips a run that this process reconciled, that did not change since, and whose time is not due
(:meth:`~training_hub_operator.runner.Runner.needs_resync`). The time comes from here: the earliest of the
run's timers (the start deadline of a run waiting for its pods, the stall timeout after its last training
step). A state whose timers this module cannot tell is always due (:data:`ALWAYS`), the safe default.
"""

from __future__ import annotations

import math
from typing import Any

from training_hub.timefmt import parse_time
from training_hub_operator.api import conditions as cond
from training_hub_operator.decision import ReconcileInput, has_ended
from training_hub_operator.durations import DurationError
from training_hub_operator.stall import REASON_NO_PROGRESS, stall_timeout

#: Due at every resync (a state with timers this module does not know).
ALWAYS = 0.0
#: Never due by time alone (only an event, a change of the run or the slow full sweep reconciles it).
NEVER = math.inf


def recheck_at(status: dict[str, Any], inp: ReconcileInput) -> float:
    """When (UNIX seconds) a run with this decided ``status`` next needs a reconcile without an event.

    * ended (``Succeeded``/``Failed`` with ``completionTime``) or ``Suspended``: :data:`NEVER`;
    * ``Running``: the stall timeout after the last step (else after ``startTime``); :data:`NEVER` when the
      timeout is off or the run is already marked stalled (a new step changes the run, which is then
      reconciled anyway);
    * ``Queued`` with ``pendingSince`` (the start-deadline clock runs): ``pendingSince`` + the deadline;
      :data:`NEVER` when the deadline is off;
    * anything else (``Pending``, ``Planning``, ``Queued`` without ``pendingSince``, no phase):
      :data:`ALWAYS`.

    Args:
        status: The status the reconcile decided (what it writes).
        inp: What it decided from (the run's annotations and spec, the settings).
    """
    phase = status.get("phase")
    if has_ended(status):
        return NEVER
    if phase == "Suspended":
        return NEVER
    if phase == "Running":
        return _stall_due(status, inp)
    if phase == "Queued" and status.get("pendingSince"):
        return _start_deadline_due(status, inp)
    return ALWAYS


def _stall_due(status: dict[str, Any], inp: ReconcileInput) -> float:
    try:
        timeout = stall_timeout(inp.run, inp.settings.stall_timeout_seconds)
    except DurationError:
        timeout = inp.settings.stall_timeout_seconds
    if timeout <= 0:
        return NEVER
    stalled = cond.get_condition(status.get("conditions"), "Stalled") or {}
    if stalled.get("status") == "True" and stalled.get("reason") == REASON_NO_PROGRESS:
        return NEVER
    ref = parse_time((status.get("progress") or {}).get("lastStepTime"))
    ref = ref if ref is not None else parse_time(status.get("startTime"))
    return ALWAYS if ref is None else ref + timeout


def _start_deadline_due(status: dict[str, Any], inp: ReconcileInput) -> float:
    spec = inp.validated.spec if inp.validated is not None else None
    deadline = float(
        spec.start_deadline_seconds
        if spec is not None and spec.start_deadline_seconds is not None
        else inp.settings.start_deadline_seconds
    )
    if deadline <= 0:
        return NEVER
    since = parse_time(status.get("pendingSince"))
    # The check fails the run once ``now - since > deadline``: one second later is the first due time.
    return ALWAYS if since is None else since + deadline + 1.0
