"""The reconcile decision, as a pure function: observed state in, desired children + status + events out.

:func:`decide` never calls the API. The runner (:mod:`training_hub_operator.runner`) gathers a
:class:`ReconcileInput` (the TrainingRun, its children as they exist, the launcher choice, the model config),
applies the :class:`Decision` (create missing children, patch, write status only when it changed, post
events) and calls :func:`decide` again after creating something, so status always reflects what exists.

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
import json
from dataclasses import dataclass, field
from typing import Any

from training_hub.pod.exit_codes import PERMANENT_EXIT_CODES
from training_hub.storage.uri import final_model_uri, pvc_claim
from training_hub.timefmt import format_duration
from training_hub_operator import diagnosis, objectcheck, progress
from training_hub_operator.api import conditions as cond
from training_hub_operator.api.constants import ANNOTATION_LAUNCHED_SPEC, ANNOTATION_USER_SUSPENDED, KIND
from training_hub_operator.api.status import Outputs, Plan, WorkloadReference
from training_hub_operator.api.validation import SpecError, ValidatedSpec
from training_hub_operator.kube import ResourceKind
from training_hub_operator.launchers.auto import LauncherChoice
from training_hub_operator.launchers.base import Launcher, WorkloadObservation
from training_hub_operator.launchers.common import RenderError, launched_spec_json
from training_hub_operator.naming import ChildNames
from training_hub_operator.planning import ModelConfig, PlanningError
from training_hub_operator.rendering import identity, plan_run, render_objects
from training_hub_operator.settings import OperatorSettings

TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass
class ReconcileInput:
    """What the runner observed.

    Attributes:
        run: The TrainingRun as read from the API server (apiVersion, kind, metadata, spec, status).
        validated: The validated spec, or None when invalid (then ``spec_error`` is set).
        spec_error: Why the spec is invalid.
        choice: The launcher choice (None when the spec is invalid).
        children: The run's children that exist, as read (any kind); empty if none.
        model_config: The model's config when the runner could reach it.
        planning_error: Why the model config could not be reached (a condition, not a guess).
        planning_pending: A planning pod is reading the config.
        settings: Operator settings.
        now: Timestamp for transitions (RFC 3339).
        pods: The run's training pods as read (for failure reasons and image-pull problems); empty if
            not read.
        events: Warning Events of controllers that could not create the run's pods (``FailedCreate``);
            read only while pods are missing.
    """

    run: dict[str, Any]
    validated: ValidatedSpec | None
    spec_error: SpecError | None
    choice: LauncherChoice | None
    children: list[dict[str, Any]] = field(default_factory=list)
    model_config: ModelConfig | None = None
    planning_error: PlanningError | None = None
    planning_pending: bool = False
    settings: OperatorSettings = field(default_factory=OperatorSettings)
    now: str = field(default_factory=cond.now_rfc3339)
    pods: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Decision:
    """What to do.

    Attributes:
        creates: Objects to create, in order (ConfigMap before workload), with their kinds.
        patches: ``(kind, name, merge patch)`` for existing children (suspend/resume).
        status: The complete desired status.
        events: ``(type, reason, message)`` to post on the TrainingRun (only for transitions).
        needs_planning_pod: The runner should run the planning pod (no config reachable otherwise).
        deletes: ``(kind, name)`` of children to delete (background propagation, so their pods go too):
            what still runs of a run that ended in failure. The runner applies them, and the patches of
            an ended run (stopping its workload), only after the terminal status is stored.
    """

    creates: list[tuple[ResourceKind, dict[str, Any]]] = field(default_factory=list)
    patches: list[tuple[ResourceKind, str, dict[str, Any]]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    needs_planning_pod: bool = False
    deletes: list[tuple[ResourceKind, str]] = field(default_factory=list)


class _Status:
    """A mutable view of the status being built, recording events for transitions."""

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
        self.new["conditions"] = cond.remove_condition(self.new.get("conditions"), type_)

    def phase(self, phase: str, reason: str, message: str, event_type: str = "Normal") -> None:
        if self.old.get("phase") != phase:
            self.events.append((event_type, reason, message))
        self.new["phase"] = phase


def _meta(run: dict[str, Any]) -> dict[str, Any]:
    return run.get("metadata") or {}


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(
        ref.get("uid") == uid and ref.get("controller") for ref in _meta(obj).get("ownerReferences") or []
    )


def _left_by_earlier_run(obj: dict[str, Any], run_name: str) -> bool:
    """Whether an object not owned by the run is going away: being deleted, or controlled by a TrainingRun
    of the same name (an earlier one, deleted: the garbage collector deletes its children)."""
    if _meta(obj).get("deletionTimestamp"):
        return True
    return any(
        ref.get("controller") and ref.get("kind") == KIND and ref.get("name") == run_name
        for ref in _meta(obj).get("ownerReferences") or []
    )


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


def decide(inp: ReconcileInput) -> Decision:
    """Decide children, status and events for one TrainingRun. Pure; see the module docstring."""
    d = _decide(inp)
    _observability(d, inp)
    return d


def _observability(d: Decision, inp: ReconcileInput) -> None:
    """Derived status every branch shares: usage, the final progress and the ``Ready`` condition."""
    st = d.status
    now = progress.parse_time(inp.now) or 0.0
    usage = progress.compute_usage(st, now)
    if usage is not None:
        st["usage"] = usage
    final = progress.final_progress(st.get("progress"), str(st.get("phase") or ""))
    if final is not None:
        st["progress"] = final
    stalled = cond.get_condition(st.get("conditions"), "Stalled")
    if st.get("phase") == "Succeeded" and stalled and stalled.get("reason") == progress.REASON_NO_PROGRESS:
        st["conditions"] = cond.remove_condition(st.get("conditions"), "Stalled")  # it finished after all
    ready, reason, message = progress.ready_condition(st)
    generation = int(_meta(inp.run).get("generation") or 1)
    st["conditions"] = cond.set_condition(
        st.get("conditions"), "Ready", ready, reason, message, generation=generation, now=inp.now
    )


def _decide(inp: ReconcileInput) -> Decision:
    run = inp.run
    who = identity(run)
    name, uid, generation, names = who.name, who.uid, who.generation, who.names
    old = copy.deepcopy(run.get("status") or {})
    st = _Status(old, generation, inp.now)
    d = Decision()

    if old.get("phase") in TERMINAL_PHASES and old.get("completionTime"):
        # Ended: keep the record; never relaunch (even if the workload was cleaned up). A failed run's
        # workload that still runs is stopped (again, if a previous attempt did not get through).
        d.status = old | {"observedGeneration": generation}
        if old.get("phase") == "Failed" and inp.choice is not None and inp.choice.launcher is not None:
            _stop_workload(d, inp.choice.launcher, _owned_workloads(inp, inp.choice.launcher, uid))
        return d

    launcher = inp.choice.launcher if inp.choice else None
    workload_kind = launcher.workload_kind if launcher else None
    workload = next(
        (
            c
            for c in inp.children
            if workload_kind
            and c.get("kind") == workload_kind.kind
            and _meta(c).get("name") == names.workload
        ),
        None,
    )
    # Before the run's own workload exists, objects at the names of its children that are not its own
    # (the job would use them). Left over by an earlier run of the same name (its garbage collection
    # pending): wait. Anyone else's: refuse (not final: it launches once they are gone).
    own_workload = workload is not None and _owned_by(workload, uid)
    conflicts = [] if own_workload else [ch for ch in inp.children if not _owned_by(ch, uid)]
    if conflicts:
        others = [ch for ch in conflicts if not _left_by_earlier_run(ch, name)]
        if not others:
            message = "; ".join(
                f"{ch.get('kind')} {_meta(ch).get('name')} of an earlier TrainingRun named {name} is still there"
                for ch in conflicts
            )
            message += ": waiting for the garbage collector to delete it (then the run launches)"
            st.condition("Queued", False, "WaitingForEarlierRun", message)
            st.phase("Pending", "WaitingForEarlierRun", message)
            d.status, d.events = st.new, st.events
            return d
        first = others[0]
        kind, child = first.get("kind"), _meta(first).get("name")
        st.condition(
            "Accepted",
            False,
            "NameConflict",
            f"a {kind} named {child} already exists and does not belong to this TrainingRun; delete it or rename the run",
            event="Warning",
        )
        st.condition("Stalled", True, "NameConflict", "see the Accepted condition")
        st.phase("Failed", "NameConflict", f"{kind} {child} belongs to someone else", "Warning")
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
            _observe(st, d, inp, launcher, workload, names)
        d.status, d.events = st.new, st.events
        return d
    spec = inp.validated.spec

    # 2. A launched run: observe, refuse immutable changes, suspend/resume.
    if workload is not None and launcher is not None:
        launched = (_meta(workload).get("annotations") or {}).get(ANNOTATION_LAUNCHED_SPEC)
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
        workloads = [
            ch for ch in inp.children if ch.get("kind") == launcher.workload_kind.kind and _owned_by(ch, uid)
        ]
        _suspend(d, spec.suspend, bool(spec.queue_name), launcher, workloads)
        _observe(st, d, inp, launcher, workload, names)
        _ensure_config(d, inp, launcher, names)
        d.status, d.events = st.new, st.events
        return d

    st.condition("Accepted", True, "Valid", "the spec is valid", event="Normal")
    for t in ("Failed", "Stalled"):
        st.drop(t)

    # 3. The workload existed and vanished before the run ended: do not relaunch.
    if old.get("workload") and old.get("phase") not in (None, "Pending", "Planning"):
        ref = old["workload"]
        message = (
            f"the {ref.get('kind')} {ref.get('name')} was deleted before the run finished; the run is not "
            "relaunched (create a new TrainingRun to train again)"
        )
        st.condition("Failed", True, "WorkloadDeleted", message)
        st.condition("Running", False, "WorkloadDeleted", message)
        st.condition("Stalled", True, "WorkloadDeleted", message)
        st.new["completionTime"] = inp.now
        st.phase("Failed", "WorkloadDeleted", message, "Warning")
        d.status, d.events = st.new, st.events
        return d

    # 4. Plan (kept once made for this generation).
    plan = _plan(st, d, inp)
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
        st.condition("Accepted", False, "RenderFailed", str(exc), event="Warning")
        st.condition("Stalled", True, "RenderFailed", str(exc))
        st.phase("Failed", "RenderFailed", str(exc), "Warning")
        d.status, d.events = st.new, st.events
        return d
    invalid = objectcheck.check_objects(objects)
    if invalid is not None:
        message = (
            f"the API server would refuse the objects of this run: {invalid}; fix the spec (the values come "
            "from it, e.g. spec.runtime.labels, annotations, nodeSelector, resources) and apply it again"
        )
        _refuse(st, "InvalidObject", message)
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
    # 7. Create what is missing (ConfigMap first, workload last).
    existing = {(c.get("kind"), _meta(c).get("name")) for c in inp.children}
    kinds = {k.kind: k for k in launcher.child_kinds}
    for obj in objects:
        key = (obj.get("kind"), _meta(obj).get("name"))
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


def _refuse(st: _Status, reason: str, message: str) -> None:
    """Not accepted and nothing runs: ``Accepted=False``, ``Failed`` (until the spec changes)."""
    # The "Valid" transition recorded earlier in this decision did not hold: no Event for it.
    st.events = [e for e in st.events if e[1] != "Valid"]
    st.condition("Accepted", False, reason, message, event="Warning")
    st.condition("Stalled", True, reason, "the run cannot start: see the Accepted condition")
    st.condition("Failed", True, reason, message)
    st.phase("Failed", reason, message, "Warning")
    # The condition and the phase say the same: one Event.
    st.events = list(dict.fromkeys(st.events))


def create_refused(inp: ReconcileInput, decision: Decision, refused: objectcheck.CreateRefused) -> Decision:
    """The decision once the API server refused a create that retrying cannot fix (400/422).

    The runner deleted what it had created in the same pass; the run is not accepted, with the API
    server's own message, until its spec changes.
    """
    generation = int(_meta(inp.run).get("generation") or 1)
    st = _Status(inp.run.get("status") or {}, generation, inp.now)
    st.new = copy.deepcopy(decision.status)
    for key in ("workload", "outputs", "pendingSince"):
        st.new.pop(key, None)
    st.drop("Queued")
    message = (
        f"the API server refused to create {refused.kind} {refused.name}: {refused.api_message}; nothing of "
        "the run was kept; fix the spec and apply it again"
    )
    _refuse(st, "CreateRefused", message)
    launched = {"Launched", "WorkloadCreated"}
    events = [e for e in decision.events if e[1] not in launched]
    return Decision(status=st.new, events=events + [e for e in st.events if e not in events])


def _plan(st: _Status, d: Decision, inp: ReconcileInput) -> Plan | None:
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


def _ensure_config(d: Decision, inp: ReconcileInput, launcher: Launcher, names: ChildNames) -> None:
    """Recreate a deleted ConfigMap of a running job (its pods need it to restart)."""
    plan_raw = (inp.run.get("status") or {}).get("plan")
    if not plan_raw or inp.validated is None:
        return
    if any(c.get("kind") == "ConfigMap" and _meta(c).get("name") == names.config for c in inp.children):
        return
    try:
        objects = render_objects(
            launcher, identity(inp.run), inp.validated, Plan.model_validate(plan_raw), inp.settings
        )
    except (RenderError, ValueError):
        return
    kinds = {k.kind: k for k in launcher.child_kinds}
    for obj in objects:
        if obj.get("kind") == "ConfigMap" and _meta(obj).get("name") == names.config:
            d.creates.append((kinds["ConfigMap"], obj))


def _suspend(
    d: Decision, want: bool, queued: bool, launcher: Launcher, workloads: list[dict[str, Any]]
) -> None:
    """Patch every workload object (a launcher may have several, e.g. one Job per node) to the wanted state."""
    for obj in workloads:
        is_suspended = launcher.is_suspended(obj)
        user_mark = (_meta(obj).get("annotations") or {}).get(ANNOTATION_USER_SUSPENDED) == "true"
        target = _meta(obj)["name"]
        if want and (not is_suspended or not user_mark):
            d.patches.append((launcher.workload_kind, target, launcher.suspend_patch(True)))
        elif not want and is_suspended and (user_mark or not queued):
            # Without a queue the operator owns suspension; with Kueue, only undo what the user asked for.
            d.patches.append((launcher.workload_kind, target, launcher.suspend_patch(False)))


def _observe(
    st: _Status,
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
        uid=_meta(workload).get("uid"),
    ).model_dump(by_alias=True, exclude_none=True)
    st.new.setdefault("launcher", {"name": launcher.name, "reason": inp.choice.message if inp.choice else ""})
    if inp.validated is not None:
        st.new.setdefault("outputs", {"uri": inp.validated.spec.output.uri})
    if obs.start_time:
        st.new["startTime"] = obs.start_time
    st.new["restarts"] = max(int(st.old.get("restarts") or 0), obs.restarts)
    waiting = _unstarted_pods(inp.pods)
    if obs.phase == "Running" and st.old.get("phase") != "Running" and waiting:
        # Jobs count Pending pods as active: the run runs once its pods do (then it stays Running).
        obs = dataclasses.replace(
            obs,
            phase="Queued",
            reason="WaitingForPods",
            message=f"{len(waiting)} of {len(inp.pods)} pod(s) not started yet: {_describe_pods(waiting)}",
        )
    if obs.phase != "Queued" or obs.suspended or obs.queued or obs.admitted is False:
        st.new.pop("pendingSince", None)
    elif not st.new.get("pendingSince"):
        gated = st.old.get("phase") == "Suspended" or (
            (cond.get_condition(st.old.get("conditions"), "Queued") or {}).get("reason")
            == "WaitingForAdmission"
        )
        created = [str(_meta(w).get("creationTimestamp") or "") for w in _owned_workloads(inp, launcher, "")]
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
        failure = _pod_failure(inp.pods, plan)
        reason, detail = (failure.reason, failure.message) if failure else (obs.reason, msg)
        _fail(st, d, inp, launcher, reason, detail, obs.completion_time or inp.now)
    elif obs.phase in ("Running", "Queued") and (permanent := _permanent_pod_failure(inp.pods, plan)):
        # A pod said its input is bad (exit 2/3): retrying cannot help, whatever the workload's restart
        # policy (a PyTorchJob with OnFailure restarts it in place until its backoffLimit). End it now.
        _fail(st, d, inp, launcher, permanent.reason, permanent.message, inp.now)
    elif obs.phase == "Suspended":
        st.condition("Queued", False, "Suspended", "the run is suspended")
        st.condition("Running", False, obs.reason, msg)
        st.phase("Suspended", "Suspended", f"the run is suspended: {msg}")
    elif obs.phase == "Running":
        st.condition("Queued", False, "Admitted", "the workload's pods were scheduled")
        st.condition("Running", True, obs.reason, msg)
        resumed = st.old.get("phase") == "Suspended"
        st.phase("Running", "Resumed" if resumed else "Running", f"training is running: {msg}")
        _check_stall(st, inp)
    else:
        if _start_deadline(st, d, inp, launcher, obs):
            return
        pull = _pod_failure(inp.pods, plan, image_pull_only=True)
        if pull is not None:
            st.condition("Queued", True, pull.reason, pull.message, event="Warning")
            st.condition("Running", False, pull.reason, pull.message)
            st.phase("Queued", pull.reason, pull.message, "Warning")
            return
        workloads = _owned_workloads(inp, launcher, "")
        blocker = diagnosis.diagnose(inp.pods, inp.events, workloads, diagnosis.expected_pods(st.new))
        if blocker is not None and workloads:
            st.condition("Queued", True, blocker.reason, blocker.message, event="Warning")
            st.condition("Running", False, blocker.reason, blocker.message)
            st.phase("Queued", blocker.reason, blocker.message, "Warning")
            return
        st.condition("Queued", True, obs.reason, msg)
        st.condition("Running", False, obs.reason, msg)
        st.phase("Queued", obs.reason, msg)


def _fail(
    st: _Status, d: Decision, inp: ReconcileInput, launcher: Launcher, reason: str, detail: str, when: str
) -> None:
    """End the run as failed and stop what still runs of its workload."""
    st.condition("Running", False, reason, detail)
    st.condition("Failed", True, reason, detail)
    st.condition("Stalled", True, reason, f"the workload failed: {detail}")
    st.new["completionTime"] = when
    st.phase("Failed", "Failed", f"training failed ({reason}): {detail}", "Warning")
    _stop_workload(d, launcher, _owned_workloads(inp, launcher, _meta(inp.run).get("uid", "")))


def _permanent_pod_failure(
    pods: list[dict[str, Any]], plan: dict[str, Any] | None
) -> progress.FailureReason | None:
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
    return _pod_failure(permanent, plan) if permanent else None


def _pod_failure(
    pods: list[dict[str, Any]], plan: dict[str, Any] | None, image_pull_only: bool = False
) -> progress.FailureReason | None:
    """The most telling failure among the run's pods: a pod whose container failed (node 0 first)."""
    found: list[progress.FailureReason] = []
    for pod in sorted(pods, key=lambda p: str(_meta(p).get("name"))):
        failure = progress.pod_failure(pod, plan)
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


def _check_stall(st: _Status, inp: ReconcileInput) -> None:
    """Set ``Stalled=True`` (``NoProgress``) when no step came within the stall timeout; clear it after."""
    try:
        timeout = progress.stall_timeout(inp.run, inp.settings.stall_timeout_seconds)
    except progress.DurationError:
        timeout = inp.settings.stall_timeout_seconds
    stall = progress.check_stall(st.new, progress.parse_time(inp.now) or 0.0, timeout)
    previous = cond.get_condition(st.old.get("conditions"), "Stalled")
    if stall is not None:
        st.condition("Stalled", True, stall.reason, stall.message, event="Warning")
    elif previous is not None and previous.get("reason") == progress.REASON_NO_PROGRESS:
        st.condition("Stalled", False, "Progressing", "training steps are coming again", event="Normal")


# ------------------------------------------------------------------------------------ start deadline
def _pod_started(pod: dict[str, Any]) -> bool:
    """Whether a pod's containers ever ran (phase Running/Succeeded/Failed, or a running/ended container)."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Running", "Succeeded", "Failed"):
        return True
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("running") or state.get("terminated") or (cs.get("lastState") or {}).get("terminated"):
            return True
    return False


def _unstarted_pods(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods (not being deleted) whose containers never ran, by name."""
    return sorted(
        (p for p in pods if not _meta(p).get("deletionTimestamp") and not _pod_started(p)),
        key=lambda p: str(_meta(p).get("name")),
    )


def _pod_state(pod: dict[str, Any]) -> str:
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


def _describe_pods(pods: list[dict[str, Any]], limit: int = 4) -> str:
    parts = [f"pod {_meta(p).get('name')}: {_pod_state(p)}" for p in pods[:limit]]
    if len(pods) > limit:
        parts.append(f"and {len(pods) - limit} more")
    return "; ".join(parts)


def _start_deadline(
    st: _Status, d: Decision, inp: ReconcileInput, launcher: Launcher, obs: WorkloadObservation
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
    since = progress.parse_time(st.new.get("pendingSince"))
    now = progress.parse_time(inp.now)
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
    waiting = _unstarted_pods(inp.pods)
    pull = _pod_failure(inp.pods, st.new.get("plan"), image_pull_only=True)
    reason = pull.reason if pull is not None else "StartDeadlineExceeded"
    if waiting:
        what = f"{len(waiting)} of {len(inp.pods)} pod(s) did not start: {_describe_pods(waiting)}"
    elif inp.pods:
        what = f"the {launcher.kind} did not report its pods running ({obs.reason}: {obs.message})"
    else:
        what = f"the {launcher.kind} created no pod yet ({obs.reason}: {obs.message})"
    blocker = diagnosis.diagnose(
        inp.pods, inp.events, _owned_workloads(inp, launcher, ""), diagnosis.expected_pods(st.new)
    )
    advice = (
        pull.message
        if pull is not None
        else blocker.message
        if blocker is not None
        else "check that the cluster has the requested GPUs, CPU and memory free (node selector, "
        "tolerations, quotas) and that the workload's controller runs"
    )
    stopped = _stop_workload(d, launcher, _owned_workloads(inp, launcher, _meta(inp.run).get("uid", "")))
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


# ------------------------------------------------------------------------------------------- cleanup
def _owned_workloads(inp: ReconcileInput, launcher: Launcher, uid: str) -> list[dict[str, Any]]:
    """The run's workload objects (every node Job for ``native``), owned by it and not being deleted."""
    uid = uid or _meta(inp.run).get("uid", "")
    return [
        c
        for c in inp.children
        if c.get("kind") == launcher.workload_kind.kind
        and _owned_by(c, uid)
        and not _meta(c).get("deletionTimestamp")
    ]


def _finished(obj: dict[str, Any]) -> bool:
    """Whether a workload object reached a final condition (Job ``Complete``/``Failed``, Kubeflow's
    ``Succeeded``/``Failed``, TrainJob's ``Complete``/``Failed``)."""
    return any(
        c.get("status") == "True" and c.get("type") in ("Complete", "Succeeded", "Failed")
        for c in (obj.get("status") or {}).get("conditions") or []
    )


def _keeps(patch: dict[str, Any], obj: dict[str, Any]) -> bool:
    """Whether every key of ``patch`` exists in ``obj`` (the API server kept the field: it knows it)."""
    for key, value in patch.items():
        if key not in obj:
            return False
        if isinstance(value, dict) and not (isinstance(obj[key], dict) and _keeps(value, obj[key])):
            return False
    return True


def _stop_workload(d: Decision, launcher: Launcher | None, workloads: list[dict[str, Any]]) -> str:
    """Stop what still runs of a failed run; say what was done ('' when nothing runs).

    ``native``: node Jobs that have not finished are deleted (background propagation deletes their pods).
    Other launchers: a workload that has not finished (e.g. on a start-deadline failure) is suspended when
    its API keeps the suspend field (the rendered workload always sets it) and no Kueue queue would
    admit it again; otherwise it is deleted. The run keeps its record: it is terminal.
    """
    if launcher is None:
        return ""
    running = [w for w in workloads if not _finished(w)]
    if not running:
        return ""
    names = [str(_meta(w).get("name")) for w in running]
    if launcher.name == "native":
        d.deletes.extend((launcher.workload_kind, n) for n in names)
        return f"deleted the unfinished node Job(s) {', '.join(names)} and their pods"
    spec_patch = launcher.suspend_patch(True).get("spec") or {}
    done: list[str] = []
    for obj, name in zip(running, names, strict=True):
        queued = any(k.startswith("kueue.x-k8s.io/") for k in (_meta(obj).get("labels") or {}))
        if spec_patch and not queued and _keeps(spec_patch, obj.get("spec") or {}):
            if not launcher.is_suspended(obj):
                d.patches.append((launcher.workload_kind, name, {"spec": spec_patch}))
            done.append(
                f"suspended the {launcher.kind} {name} (its pods are deleted; delete the run to remove it)"
            )
        else:
            d.deletes.append((launcher.workload_kind, name))
            done.append(f"deleted the {launcher.kind} {name}")
    return "; ".join(done)
