"""Observing a launched run: its workload and pods into the status (running, succeeded, failed, waiting),
stall detection, the start deadline, and stopping what still runs of a run that failed.

Pure: the functions write into the :class:`~training_hub_operator.status_builder.StatusBuilder` and the
:class:`~training_hub_operator.decision.Decision` of the reconcile that calls them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from training_hub.storage.uri import final_model_uri
from training_hub.timefmt import format_duration, parse_time
from training_hub_operator import children, diagnosis, failures, stall
from training_hub_operator.api import conditions as cond
from training_hub_operator.api.status import Outputs, WorkloadReference
from training_hub_operator.decision import Decision, ReconcileInput
from training_hub_operator.durations import DurationError
from training_hub_operator.launchers.base import Launcher, WorkloadObservation
from training_hub_operator.naming import ChildNames
from training_hub_operator.status_builder import StatusBuilder


def run_workloads(inp: ReconcileInput, launcher: Launcher) -> list[dict[str, Any]]:
    """The run's workload objects (every node Job for ``native``), owned by it and not being deleted."""
    uid = str(children.meta(inp.run).get("uid", ""))
    return children.owned_workloads(inp.children, launcher.workload_kind, uid)


def stop_unfinished(d: Decision, launcher: Launcher | None, workloads: list[dict[str, Any]]) -> str:
    """Add to ``d`` what stops the unfinished workload objects of a failed run (the launcher says how:
    :meth:`~training_hub_operator.launchers.base.Launcher.stop`); say what was done ('' when nothing runs).
    The run keeps its record: it is terminal."""
    if launcher is None:
        return ""
    running = [w for w in workloads if not children.finished(w)]
    if not running:
        return ""
    actions = launcher.stop(running)
    d.patches.extend(actions.patches)
    d.deletes.extend(actions.deletes)
    return actions.message


def observe(
    st: StatusBuilder,
    d: Decision,
    inp: ReconcileInput,
    launcher: Launcher | None,
    workload: dict[str, Any],
    names: ChildNames,
) -> None:
    if launcher is None:
        return
    obs = launcher.observe([c for c in inp.children])
    st.new["workload"] = WorkloadReference(
        api_version=launcher.api_version,
        kind=launcher.kind,
        name=names.workload,
        uid=children.meta(workload).get("uid"),
    ).model_dump(by_alias=True, exclude_none=True)
    st.new.setdefault("launcher", {"name": launcher.name, "reason": inp.choice.message if inp.choice else ""})
    if inp.validated is not None:
        st.new.setdefault("outputs", {"uri": inp.validated.spec.output.uri})
    if obs.start_time:
        st.new["startTime"] = obs.start_time
    st.new["restarts"] = max(int(st.old.get("restarts") or 0), obs.restarts)
    waiting = diagnosis.unstarted_pods(inp.pods)
    if obs.phase == "Running" and st.old.get("phase") != "Running" and waiting:
        # Jobs count Pending pods as active: the run runs once its pods do (then it stays Running).
        obs = dataclasses.replace(
            obs,
            phase="Queued",
            reason="WaitingForPods",
            message=f"{len(waiting)} of {len(inp.pods)} pod(s) not started yet: {diagnosis.describe_pods(waiting)}",
        )
    if obs.phase != "Queued" or obs.suspended or obs.queued or obs.admitted is False:
        st.new.pop("pendingSince", None)
    elif not st.new.get("pendingSince"):
        gated = st.old.get("phase") == "Suspended" or (
            (cond.get_condition(st.old.get("conditions"), "Queued") or {}).get("reason")
            == "WaitingForAdmission"
        )
        created = [str(children.meta(w).get("creationTimestamp") or "") for w in run_workloads(inp, launcher)]
        st.new["pendingSince"] = inp.now if gated or not any(created) else max(created)
    msg = obs.message or obs.reason
    plan = st.new.get("plan")
    if obs.phase == "Succeeded":
        st.condition("Running", False, obs.reason, msg)
        st.condition("Succeeded", True, obs.reason, msg)
        st.new["completionTime"] = obs.completion_time or inp.now
        if inp.validated is not None:
            out_uri = inp.validated.spec.output.uri
            st.new["outputs"] = Outputs(uri=out_uri, model_uri=final_model_uri(out_uri)).model_dump(
                by_alias=True, exclude_none=True
            )
        st.phase("Succeeded", "Succeeded", f"training finished: {msg}")
    elif obs.phase == "Failed":
        failure = failures.run_failure(inp.pods, plan)
        reason, detail = (failure.reason, failure.message) if failure else (obs.reason, msg)
        fail(st, d, inp, launcher, reason, detail, obs.completion_time or inp.now)
    elif obs.phase in ("Running", "Queued") and (permanent := failures.permanent_pod_failure(inp.pods, plan)):
        # A pod said its input is bad (exit 2/3): retrying cannot help, whatever the workload's restart
        # policy (a PyTorchJob with OnFailure restarts it in place until its backoffLimit). End it now.
        fail(st, d, inp, launcher, permanent.reason, permanent.message, inp.now)
    elif obs.phase == "Suspended":
        st.condition("Queued", False, "Suspended", "the run is suspended")
        st.condition("Running", False, obs.reason, msg)
        st.phase("Suspended", "Suspended", f"the run is suspended: {msg}")
    elif obs.phase == "Running":
        st.condition("Queued", False, "Admitted", "the workload's pods were scheduled")
        st.condition("Running", True, obs.reason, msg)
        resumed = st.old.get("phase") == "Suspended"
        st.phase("Running", "Resumed" if resumed else "Running", f"training is running: {msg}")
        check_stall(st, inp)
    else:
        if start_deadline(st, d, inp, launcher, obs):
            return
        pull = failures.run_failure(inp.pods, plan, image_pull_only=True)
        if pull is not None:
            st.condition("Queued", True, pull.reason, pull.message, event="Warning")
            st.condition("Running", False, pull.reason, pull.message)
            st.phase("Queued", pull.reason, pull.message, "Warning")
            return
        workloads = run_workloads(inp, launcher)
        blocker = diagnosis.diagnose(inp.pods, inp.events, workloads, diagnosis.expected_pods(st.new))
        if blocker is not None and workloads:
            st.condition("Queued", True, blocker.reason, blocker.message, event="Warning")
            st.condition("Running", False, blocker.reason, blocker.message)
            st.phase("Queued", blocker.reason, blocker.message, "Warning")
            return
        st.condition("Queued", True, obs.reason, msg)
        st.condition("Running", False, obs.reason, msg)
        st.phase("Queued", obs.reason, msg)


def fail(
    st: StatusBuilder,
    d: Decision,
    inp: ReconcileInput,
    launcher: Launcher,
    reason: str,
    detail: str,
    when: str,
) -> None:
    """End the run as failed and stop what still runs of its workload."""
    st.condition("Running", False, reason, detail)
    st.condition("Failed", True, reason, detail)
    st.condition("Stalled", True, reason, f"the workload failed: {detail}")
    st.new["completionTime"] = when
    st.phase("Failed", "Failed", f"training failed ({reason}): {detail}", "Warning")
    stop_unfinished(d, launcher, run_workloads(inp, launcher))


def check_stall(st: StatusBuilder, inp: ReconcileInput) -> None:
    """Set ``Stalled=True`` (``NoProgress``) when no step came within the stall timeout; clear it after."""
    try:
        timeout = stall.stall_timeout(inp.run, inp.settings.stall_timeout_seconds)
    except DurationError:
        timeout = inp.settings.stall_timeout_seconds
    found = stall.check_stall(st.new, parse_time(inp.now) or 0.0, timeout)
    previous = cond.get_condition(st.old.get("conditions"), "Stalled")
    if found is not None:
        st.condition("Stalled", True, found.reason, found.message, event="Warning")
    elif previous is not None and previous.get("reason") == stall.REASON_NO_PROGRESS:
        st.condition("Stalled", False, "Progressing", "training steps are coming again", event="Normal")


def start_deadline(
    st: StatusBuilder, d: Decision, inp: ReconcileInput, launcher: Launcher, obs: WorkloadObservation
) -> bool:
    """Fail a run whose pods did not all start within the start deadline (True when it did).

    The clock (``status.pendingSince``) starts when the workload could start: created, resumed or admitted
    by Kueue. Suspended runs and runs waiting for Kueue admission never time out.
    """
    spec = inp.validated.spec if inp.validated is not None else None
    deadline = float(
        spec.start_deadline_seconds
        if spec is not None and spec.start_deadline_seconds is not None
        else inp.settings.start_deadline_seconds
    )
    since = parse_time(st.new.get("pendingSince"))
    now = parse_time(inp.now)
    if (
        deadline <= 0
        or since is None
        or now is None
        or now - since <= deadline
        or (spec is not None and spec.suspend)
        or obs.suspended
        or obs.queued
        or obs.admitted is False
    ):
        return False
    waiting = diagnosis.unstarted_pods(inp.pods)
    pull = failures.run_failure(inp.pods, st.new.get("plan"), image_pull_only=True)
    reason = pull.reason if pull is not None else "StartDeadlineExceeded"
    if waiting:
        what = f"{len(waiting)} of {len(inp.pods)} pod(s) did not start: {diagnosis.describe_pods(waiting)}"
    elif inp.pods:
        what = f"the {launcher.kind} did not report its pods running ({obs.reason}: {obs.message})"
    else:
        what = f"the {launcher.kind} created no pod yet ({obs.reason}: {obs.message})"
    blocker = diagnosis.diagnose(
        inp.pods, inp.events, run_workloads(inp, launcher), diagnosis.expected_pods(st.new)
    )
    advice = (
        pull.message
        if pull is not None
        else blocker.message
        if blocker is not None
        else "check that the cluster has the requested GPUs, CPU and memory free (node selector, "
        "tolerations, quotas) and that the workload's controller runs"
    )
    stopped = stop_unfinished(d, launcher, run_workloads(inp, launcher))
    source = "spec.startDeadlineSeconds" if spec is not None and spec.start_deadline_seconds else "default"
    message = (
        f"the run did not start within {format_duration(deadline)} ({source} start deadline) since "
        f"{st.new['pendingSince']}: {what}; {advice}" + (f"; {stopped}" if stopped else "")
    )
    st.condition("Queued", False, reason, message)
    st.condition("Running", False, reason, message)
    st.condition("Failed", True, reason, message)
    st.condition("Stalled", True, reason, f"the run did not start: {message}")
    st.new["completionTime"] = inp.now
    st.phase("Failed", reason, f"training failed ({reason}): {message}", "Warning")
    return True
