"""States of a run that both :func:`~training_hub_operator.reconcile.decide` and, after the apply,
:func:`~training_hub_operator.reconcile.settle` set: a name conflict, ``Accepted`` of a launched run, a
vanished workload, a refused run. Pure: they write into a
:class:`~training_hub_operator.status_builder.StatusBuilder`."""

from __future__ import annotations

import json
from typing import Any

from training_hub_operator import children
from training_hub_operator.api.constants import ANNOTATION_LAUNCHED_SPEC
from training_hub_operator.decision import ReconcileInput
from training_hub_operator.launchers.base import Launcher
from training_hub_operator.launchers.common import launched_spec_json
from training_hub_operator.status_builder import StatusBuilder


def _launched_fields_diff(launched: str, current: str) -> list[str]:
    try:
        a, b = json.loads(launched), json.loads(current)
    except ValueError:
        return ["spec"]
    out: list[str] = []

    def walk(x: Any, y: Any, path: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{path}.{k}")
        elif x != y:
            out.append(path)

    walk(a, b, "spec")
    return out


def workload_at_name(inp: ReconcileInput, launcher: Launcher | None) -> dict[str, Any] | None:
    """The object at the run's workload name among its children (whoever owns it), if any."""
    if launcher is None:
        return None
    kind, name = launcher.workload_kind.kind, inp.who.names.workload
    return next(
        (c for c in inp.children if c.get("kind") == kind and children.meta(c).get("name") == name), None
    )


def name_conflict(st: StatusBuilder, inp: ReconcileInput, workload: dict[str, Any] | None) -> bool:
    """Before the run's own workload exists, objects at the names of its children that are not its own
    (the job would use them): say so in the status and return True. Left over by an earlier run of the
    same name (its garbage collection pending): wait. Anyone else's: refuse (not final: it launches once
    they are gone)."""
    uid, name = inp.who.uid, inp.who.name
    own_workload = workload is not None and children.owned_by(workload, uid)
    conflicts = [] if own_workload else [ch for ch in inp.children if not children.owned_by(ch, uid)]
    if not conflicts:
        return False
    others = [ch for ch in conflicts if not children.left_by_earlier_run(ch, name)]
    if not others:
        message = "; ".join(
            f"{ch.get('kind')} {children.meta(ch).get('name')} of an earlier TrainingRun named {name} is still there"
            for ch in conflicts
        )
        message += ": waiting for the garbage collector to delete it (then the run launches)"
        st.condition("Queued", False, "WaitingForEarlierRun", message)
        st.phase("Pending", "WaitingForEarlierRun", message)
        return True
    first = others[0]
    kind, child = first.get("kind"), children.meta(first).get("name")
    st.condition(
        "Accepted",
        False,
        "NameConflict",
        f"a {kind} named {child} already exists and does not belong to this TrainingRun; delete it or rename the run",
        event="Warning",
    )
    st.condition("Stalled", True, "NameConflict", "see the Accepted condition")
    st.phase("Failed", "NameConflict", f"{kind} {child} belongs to someone else", "Warning")
    return True


def accept_launched(st: StatusBuilder, run: dict[str, Any], workload: dict[str, Any]) -> None:
    """``Accepted`` of a launched run: refused when a field other than ``suspend`` differs from the spec the
    workload was launched from (its annotation)."""
    launched = (children.meta(workload).get("annotations") or {}).get(ANNOTATION_LAUNCHED_SPEC)
    current = launched_spec_json(run.get("spec") or {})
    changed = _launched_fields_diff(launched, current) if launched and launched != current else []
    if changed:
        st.condition(
            "Accepted",
            False,
            "ImmutableFieldChanged",
            f"{', '.join(changed)} cannot change once the job runs (only spec.suspend can); revert the "
            "change, or create a new TrainingRun",
            event="Warning",
        )
    else:
        st.condition("Accepted", True, "Valid", "the spec is valid")


def accept_unlaunched(st: StatusBuilder) -> None:
    """``Accepted`` of a valid run whose workload does not exist (yet, or any more): a ``Failed`` or
    ``Stalled`` of an earlier spec no longer holds."""
    st.condition("Accepted", True, "Valid", "the spec is valid", event="Normal")
    for t in ("Failed", "Stalled"):
        st.drop(t)


def workload_vanished(st: StatusBuilder, now: str) -> bool:
    """The workload existed (the status names it, past planning) and is gone before the run ended: the
    run fails (``WorkloadDeleted``) and is not relaunched. True when so."""
    old = st.old
    if not old.get("workload") or old.get("phase") in (None, "Pending", "Planning"):
        return False
    ref = old["workload"]
    message = (
        f"the {ref.get('kind')} {ref.get('name')} was deleted before the run finished; the run is not "
        "relaunched (create a new TrainingRun to train again)"
    )
    st.condition("Failed", True, "WorkloadDeleted", message)
    st.condition("Running", False, "WorkloadDeleted", message)
    st.condition("Stalled", True, "WorkloadDeleted", message)
    st.new["completionTime"] = now
    st.phase("Failed", "WorkloadDeleted", message, "Warning")
    return True


def refuse(st: StatusBuilder, reason: str, message: str) -> None:
    """Not accepted and nothing runs: ``Accepted=False``, ``Failed`` (until the spec changes)."""
    # The "Valid" transition recorded earlier in this decision did not hold: no Event for it.
    st.events = [e for e in st.events if e[1] != "Valid"]
    st.condition("Accepted", False, reason, message, event="Warning")
    st.condition("Stalled", True, reason, "the run cannot start: see the Accepted condition")
    st.condition("Failed", True, reason, message)
    st.phase("Failed", reason, message, "Warning")
    # The condition and the phase say the same: one Event.
    st.events = list(dict.fromkeys(st.events))
