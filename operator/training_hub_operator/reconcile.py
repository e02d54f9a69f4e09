"""The reconcile decision, as a pure function: observed state in, desired children + status + events out.

:func:`decide` never calls the API. The runner (:mod:`training_hub_operator.runner`) gathers a
:class:`ReconcileInput` (the TrainingRun, its children as they exist, the launcher choice, the model config),
applies the :class:`Decision` (create missing children, patch, write status only when it changed, post
events); :func:`decide` runs once per reconcile, and after creating or patching something :func:`settle`
folds the API server's answers into the decision, so status always reflects what exists.
The input and output types are in :mod:`~training_hub_operator.decision`, the rendering in
:mod:`~training_hub_operator.rendering`, the observation of a launched run in
:mod:`~training_hub_operator.observation`, the status builder in :mod:`~training_hub_operator.status_builder`,
the states :func:`decide` and :func:`settle` both set in :mod:`~training_hub_operator.states`.

Rules:

* Level-triggered and idempotent: the same input gives the same decision; children have deterministic
  names, so a restarted operator adopts what exists instead of creating a second job.
* A run that ended (``Succeeded``/``Failed`` with ``completionTime``) is never relaunched, even if its
  workload was deleted (by a TTL or a person).
* A run whose workload existed once and disappeared before finishing is marked ``Failed``
  (``WorkloadDeleted``), not relaunched.
* An invalid spec gets ``Accepted=False`` with the reason and no children.
* Fields that cannot change once the job runs (everything but ``suspend``) are compared with the spec the
  workload was launched from (an annotation on the workload) and a change is refused with a condition.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from training_hub.storage.uri import pvc_claim
from training_hub_operator import children, objectcheck, observation, recheck
from training_hub_operator.api import conditions as cond
from training_hub_operator.api.constants import ANNOTATION_USER_SUSPENDED
from training_hub_operator.api.status import Outputs, Plan, WorkloadReference
from training_hub_operator.decision import TERMINAL_PHASES, Decision, ReconcileInput, has_ended
from training_hub_operator.launchers.base import Launcher
from training_hub_operator.launchers.common import RenderError
from training_hub_operator.planning import PlanningError
from training_hub_operator.rendering import plan_run, render_objects
from training_hub_operator.states import (
    accept_launched,
    accept_unlaunched,
    name_conflict,
    refuse,
    workload_at_name,
    workload_vanished,
)
from training_hub_operator.status_builder import StatusBuilder, finish_status

__all__ = ["TERMINAL_PHASES", "Decision", "ReconcileInput", "create_refused", "decide", "settle"]


def decide(inp: ReconcileInput) -> Decision:
    """Decide children, status and events for one TrainingRun. Pure; see the module docstring."""
    d = _decide(inp)
    finish_status(d.status, inp.who.generation, inp.now)
    d.recheck_at = recheck.recheck_at(d.status, inp)
    return d


def _decide(inp: ReconcileInput) -> Decision:
    run = inp.run
    who = inp.who
    uid, generation, names = who.uid, who.generation, who.names
    old = copy.deepcopy(run.get("status") or {})
    st = StatusBuilder(old, generation, inp.now)
    d = Decision()

    if has_ended(old):
        # Ended: keep the record; never relaunch (even if the workload was cleaned up). A failed run's
        # workload that still runs is stopped (again, if a previous attempt did not get through).
        d.status = old | {"observedGeneration": generation}
        if old.get("phase") == "Failed" and inp.choice is not None and inp.choice.launcher is not None:
            observation.stop_unfinished(
                d, inp.choice.launcher, observation.run_workloads(inp, inp.choice.launcher)
            )
        return d

    launcher = inp.choice.launcher if inp.choice else None
    workload = workload_at_name(inp, launcher)
    if name_conflict(st, inp, workload):
        d.status, d.events = st.new, st.events
        return d

    # 1. Validation.
    if inp.spec_error is not None or inp.validated is None:
        message = str(inp.spec_error or "invalid spec")
        st.condition("Accepted", False, "InvalidSpec", message, event="Warning")
        st.condition("Stalled", True, "InvalidSpec", "the spec is invalid: see the Accepted condition")
        if workload is None:
            st.condition("Failed", True, "InvalidSpec", message)
            st.phase("Failed", "InvalidSpec", message, "Warning")
        else:
            observation.observe(st, d, inp, launcher, workload, names)
        d.status, d.events = st.new, st.events
        return d
    spec = inp.validated.spec

    # 2. A launched run: observe, refuse immutable changes, suspend/resume.
    if workload is not None and launcher is not None:
        accept_launched(st, run, workload)
        workloads = [
            ch
            for ch in inp.children
            if ch.get("kind") == launcher.workload_kind.kind and children.owned_by(ch, uid)
        ]
        _suspend(d, spec.suspend, bool(spec.queue_name), launcher, workloads)
        observation.observe(st, d, inp, launcher, workload, names)
        d.status, d.events = st.new, st.events
        return d

    accept_unlaunched(st)

    # 3. The workload existed and vanished before the run ended: do not relaunch.
    if workload_vanished(st, inp.now):
        d.status, d.events = st.new, st.events
        return d

    # 4. Plan (kept once made for this generation).
    plan = _ensure_plan(st, d, inp)
    if plan is None:
        d.status, d.events = st.new, st.events
        return d

    # 5. Launcher.
    if launcher is None:
        choice = inp.choice
        message = choice.message if choice else "no launcher"
        st.new.pop("launcher", None)
        st.condition("Queued", False, choice.reason if choice else "NoLauncher", message, event="Warning")
        st.condition("Stalled", True, choice.reason if choice else "NoLauncher", message)
        st.phase("Pending", choice.reason if choice else "NoLauncher", message, "Warning")
        d.status, d.events = st.new, st.events
        return d
    assert inp.choice is not None
    st.new["launcher"] = {"name": launcher.name, "reason": inp.choice.message}

    # 6. Render.
    try:
        objects = render_objects(launcher, who, inp.validated, plan, inp.settings)
    except (RenderError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, RenderError) else "RenderFailed"
        st.condition("Accepted", False, reason, str(exc), event="Warning")
        st.condition("Stalled", True, reason, str(exc))
        st.phase("Failed", reason, str(exc), "Warning")
        d.status, d.events = st.new, st.events
        return d
    invalid = objectcheck.check_objects(objects)
    if invalid is not None:
        message = (
            f"the API server would refuse the objects of this run: {invalid}; fix the spec (the values come "
            "from it, e.g. spec.runtime.labels, annotations, nodeSelector, resources) and apply it again"
        )
        refuse(st, "InvalidObject", message)
        d.status, d.events = st.new, st.events
        return d
    if spec.dry_run:
        st.new["rendered"] = objects
        message = (
            "spec.dryRun is set: the plan and the rendered objects are in status; set it to false to launch"
        )
        st.condition("Queued", False, "DryRun", message)
        st.phase("Pending", "DryRun", message)
        d.status, d.events = st.new, st.events
        return d

    refused = cond.get_condition(st.old.get("conditions"), "Accepted") or {}
    if refused.get("reason") == "CreateRefused" and refused.get("observedGeneration") == st.generation:
        # The API server refused this generation's objects: the same creates would fail the same way.
        d.status = copy.deepcopy(st.old) | {"observedGeneration": st.generation}
        return d
    # 7. Create what is missing (in the launcher's order, the workload last).
    existing = {(c.get("kind"), children.meta(c).get("name")) for c in inp.children}
    kinds = {k.kind: k for k in launcher.child_kinds}
    for obj in objects:
        key = (obj.get("kind"), children.meta(obj).get("name"))
        if key not in existing:
            d.creates.append((kinds[obj["kind"]], obj))
    st.new["workload"] = WorkloadReference(
        api_version=launcher.api_version, kind=launcher.kind, name=names.workload
    ).model_dump(by_alias=True, exclude_none=True)
    st.new["outputs"] = Outputs(uri=spec.output.uri).model_dump(by_alias=True, exclude_none=True)
    message = (
        f"created {launcher.kind} {names.workload}: {plan.nodes} node(s) x {plan.gpus_per_node} GPU(s)"
        + (f" in queue {spec.queue_name}" if spec.queue_name else "")
    )
    st.condition("Queued", True, "WorkloadCreated", message)
    st.phase("Queued", "Launched", message)
    d.status, d.events = st.new, st.events
    return d


def create_refused(inp: ReconcileInput, decision: Decision, refused: objectcheck.CreateRefused) -> Decision:
    """The decision once the API server refused a create that retrying cannot fix (400/422).

    The runner deleted what it had created in the same pass; the run is not accepted, with the API
    server's own message, until its spec changes.
    """
    generation = int(children.meta(inp.run).get("generation") or 1)
    st = StatusBuilder(inp.run.get("status") or {}, generation, inp.now)
    st.new = copy.deepcopy(decision.status)
    for key in ("workload", "outputs", "pendingSince"):
        st.new.pop(key, None)
    st.drop("Queued")
    message = (
        f"the API server refused to create {refused.kind} {refused.name}: {refused.api_message}; nothing of "
        "the run was kept; fix the spec and apply it again"
    )
    refuse(st, "CreateRefused", message)
    launched = {"Launched", "WorkloadCreated"}
    events = [e for e in decision.events if e[1] not in launched]
    return Decision(status=st.new, events=events + [e for e in st.events if e not in events])


def settle(inp: ReconcileInput, decision: Decision) -> Decision:
    """The decision once the API server answered its creates and patches, without deciding again.

    :func:`decide` ran on what existed before; its creates and patches stay what was applied. The answers
    add to its status (and Events) only what they tell: the workload's ``uid``, its state as the launcher
    observes it (``pendingSince`` from its ``creationTimestamp``, created suspended, patched), the pods read
    after a patch, a same-named object found on create that is not the run's (``NameConflict`` or
    ``WaitingForEarlierRun``), or no workload at all (one taken back after create: ``WorkloadDeleted``).

    Args:
        inp: What :func:`decide` decided from, with ``children`` and ``pods`` as they are after the apply
            (the API server's answers to the creates and patches, read back after a 409, merged in:
            :func:`~training_hub_operator.children.merged`).
        decision: The decision, as applied.

    Returns:
        ``decision`` with the status and Events the answers give (the Events it had come first).
    """
    after = dataclasses.replace(inp, run={**inp.run, "status": decision.status})
    st = StatusBuilder(copy.deepcopy(decision.status), inp.who.generation, inp.now)
    launcher = inp.choice.launcher if inp.choice else None
    workload = workload_at_name(after, launcher)
    if not name_conflict(st, after, workload):
        if workload is not None and launcher is not None:
            accept_launched(st, after.run, workload)
            # What a failed observation would stop waits for the next reconcile (a run's terminal status
            # is stored before anything is stopped): only the status and Events are kept.
            observation.observe(st, Decision(), after, launcher, workload, inp.who.names)
        else:
            accept_unlaunched(st)
            workload_vanished(st, inp.now)
    finish_status(st.new, inp.who.generation, inp.now)
    events = decision.events + [e for e in st.events if e not in decision.events]
    return dataclasses.replace(
        decision, status=st.new, events=events, recheck_at=recheck.recheck_at(st.new, inp)
    )


def _ensure_plan(st: StatusBuilder, d: Decision, inp: ReconcileInput) -> Plan | None:
    """The run's plan: the one in its status for this generation, else one made now (``status.plan``);
    None while a planning pod reads the model's config or when no plan can be made (the status says why)."""
    assert inp.validated is not None
    planned = cond.get_condition(st.old.get("conditions"), "Planned")
    if (
        st.old.get("plan")
        and planned
        and planned.get("status") == "True"
        and planned.get("observedGeneration") == st.generation
    ):
        return Plan.model_validate(st.old["plan"])
    if inp.planning_pending:
        st.condition(
            "Planned", "Unknown", "PlanningPodRunning", "a planning pod is reading the model's config.json"
        )
        st.phase("Planning", "PlanningPodRunning", "reading the model's config.json with a planning pod")
        return None
    error = inp.planning_error
    plan: Plan | None = None
    if error is None:
        try:
            plan = plan_run(inp.validated, inp.model_config, inp.settings)
        except PlanningError as exc:
            error = exc
    if error is not None:
        if error.reason == "ModelConfigUnavailable" and inp.settings.planning_pods and _pvc_model(inp):
            d.needs_planning_pod = True
            st.condition(
                "Planned", "Unknown", "PlanningPodRunning", "starting a planning pod to read config.json"
            )
            st.phase("Planning", "PlanningPodRunning", "reading the model's config.json with a planning pod")
            return None
        st.new.pop("plan", None)
        st.condition("Planned", False, error.reason, str(error), event="Warning")
        st.condition("Stalled", True, error.reason, "no plan: see the Planned condition")
        st.condition("Failed", True, error.reason, str(error))
        st.phase("Failed", error.reason, str(error), "Warning")
        return None
    assert plan is not None
    st.new["plan"] = plan.model_dump(by_alias=True, exclude_none=True)
    st.condition(
        "Planned",
        True,
        "Estimated" if plan.source == "estimated" else "Fixed",
        f"{plan.nodes} node(s) x {plan.gpus_per_node} GPU(s)" + (f": {plan.message}" if plan.message else ""),
        event="Normal",
    )
    return plan


def _pvc_model(inp: ReconcileInput) -> bool:
    return bool(inp.validated and pvc_claim(inp.validated.spec.model.uri))


def _suspend(
    d: Decision, want: bool, queued: bool, launcher: Launcher, workloads: list[dict[str, Any]]
) -> None:
    """Patch every workload object (a launcher may have several, e.g. one Job per node) to the wanted state."""
    for obj in workloads:
        is_suspended = launcher.is_suspended(obj)
        user_mark = (children.meta(obj).get("annotations") or {}).get(ANNOTATION_USER_SUSPENDED) == "true"
        target = children.meta(obj)["name"]
        if want and (not is_suspended or not user_mark):
            d.patches.append((launcher.workload_kind, target, launcher.suspend_patch(True)))
        elif not want and is_suspended and (user_mark or not queued):
            # Without a queue the operator owns suspension; with Kueue, only undo what the user asked for.
            d.patches.append((launcher.workload_kind, target, launcher.suspend_patch(False)))
