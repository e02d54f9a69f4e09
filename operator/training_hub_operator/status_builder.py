"""Building a TrainingRun's status in one decision: conditions and phase with their transition Events, and
the derived fields every branch shares (usage, final progress, ``Ready``)."""

from __future__ import annotations

import copy
from typing import Any

from training_hub.timefmt import parse_time
from training_hub_operator import progress, stall, usage
from training_hub_operator.api import conditions as cond


class StatusBuilder:
    """A mutable view of the status being built, recording events for transitions.

    Args:
        old: The status as read.
        generation: ``metadata.generation`` the decision is made for.
        now: Timestamp for transitions (RFC 3339).
    """

    def __init__(self, old: dict[str, Any], generation: int, now: str) -> None:
        self.old = old
        self.new = copy.deepcopy(old)
        self.new.pop("rendered", None)
        self.generation = generation
        self.now = now
        self.events: list[tuple[str, str, str]] = []
        self.new["observedGeneration"] = generation

    def condition(
        self, type_: str, status: bool | str, reason: str, message: str = "", *, event: str | None = None
    ) -> None:
        """Set a condition; record an Event of type ``event`` when it changed."""
        before = cond.get_condition(self.old.get("conditions"), type_)
        self.new["conditions"] = cond.set_condition(
            self.new.get("conditions"),
            type_,
            status,
            reason,
            message,
            generation=self.generation,
            now=self.now,
        )
        status_s = ("True" if status else "False") if isinstance(status, bool) else status
        changed = before is None or before.get("status") != status_s or before.get("reason") != reason
        changed = changed or (event == "Warning" and before is not None and before.get("message") != message)
        if event and changed:
            self.events.append((event, reason, message or f"{type_}={status_s}"))

    def drop(self, type_: str) -> None:
        """Remove a condition."""
        self.new["conditions"] = cond.remove_condition(self.new.get("conditions"), type_)

    def phase(self, phase: str, reason: str, message: str, event_type: str = "Normal") -> None:
        """Set the phase; record an Event when it changed."""
        if self.old.get("phase") != phase:
            self.events.append((event_type, reason, message))
        self.new["phase"] = phase


def finish_status(st: dict[str, Any], generation: int, now: str) -> None:
    """Derived status every branch shares: usage, the final progress and the ``Ready`` condition."""
    computed = usage.compute_usage(st, parse_time(now) or 0.0)
    if computed is not None:
        st["usage"] = computed
    final = progress.final_progress(st.get("progress"), str(st.get("phase") or ""))
    if final is not None:
        st["progress"] = final
    stalled = cond.get_condition(st.get("conditions"), "Stalled")
    if st.get("phase") == "Succeeded" and stalled and stalled.get("reason") == stall.REASON_NO_PROGRESS:
        st["conditions"] = cond.remove_condition(st.get("conditions"), "Stalled")  # it finished after all
    ready, reason, message = progress.ready_condition(st)
    st["conditions"] = cond.set_condition(
        st.get("conditions"), "Ready", ready, reason, message, generation=generation, now=now
    )
