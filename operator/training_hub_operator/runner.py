"""The reconcile runner: gathers what exists, calls :func:`~training_hub_operator.reconcile.decide`, applies it.

Everything that talks to the API server is here; every kopf handler and the periodic resync call
:meth:`Runner.reconcile`. Calls for one run are serialised by a per-run lock.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from training_hub.errors import InvalidInputError
from training_hub.storage.uri import pvc_claim
from training_hub_operator import diagnosis, faults, metrics, objectcheck, waiting
from training_hub_operator.api import constants as c
from training_hub_operator.api.conditions import now_rfc3339
from training_hub_operator.api.validation import SpecError, ValidatedSpec, validate_spec
from training_hub_operator.events import fold_events
from training_hub_operator.events import post_event as post_event_now
from training_hub_operator.kube import CONFIGMAP, JOB, POD, Kube, KubeError, ResourceKind
from training_hub_operator.launchers import get_launcher
from training_hub_operator.launchers.auto import LauncherChoice, choose_launcher
from training_hub_operator.naming import child_labels, child_names, owner_reference
from training_hub_operator.planning import (
    PLANNING_POD_ORIGIN,
    ModelConfig,
    PlanningError,
    config_from_configmap,
    config_from_inline,
    config_from_planning_pod,
    hub_model_id,
    needs_model_config,
    planning_job,
)
from training_hub_operator.progress import status_patch
from training_hub_operator.stall import REASON_NO_PROGRESS
from training_hub_operator.reconcile import TERMINAL_PHASES, Decision, ReconcileInput, create_refused, decide
from training_hub_operator.settings import OperatorSettings
from training_hub_operator.write_checks import WriteReport

log = logging.getLogger("training_hub_operator")

TRAININGRUN = ResourceKind(c.API_VERSION, c.KIND, c.PLURAL)
#: Re-reads of a run whose status write hit ``409 Conflict`` before the error goes to kopf's retry.
STATUS_CONFLICT_RETRIES = 5
#: Runs share this many locks (by hash of namespace/name): memory stays constant however many runs exist.
LOCK_STRIPES = 256
#: ``Queued`` reasons of runs that do not wait on their pods: Kueue holds the workload (its admission
#: updates the workload, which triggers a reconcile) or the run is suspended.
NOT_WAITING_ON_PODS = ("WaitingForAdmission", "Suspended")


class _OutdatedBody(Exception):
    """The run's body (from an event) is not the current version: decide again from a fresh read."""


def _owned(obj: dict[str, Any], uid: str | None) -> bool:
    return any(o.get("uid") == uid for o in (obj.get("metadata") or {}).get("ownerReferences") or [])


def _merged(children: list[dict[str, Any]], newer: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``children`` with the objects of ``newer`` replacing (or joining) those of the same kind and name."""
    by_key = {(ch.get("kind"), ch["metadata"].get("name")): ch for ch in children}
    for obj in newer:
        by_key[(obj.get("kind"), obj["metadata"].get("name"))] = obj
    return list(by_key.values())


class Runner:
    """Applies reconcile decisions for TrainingRuns.

    Args:
        kube: API helper.
        settings: Operator settings.
        post_event: ``(run, type, reason, message)`` poster (default: post core/v1 Events through ``kube``
            synchronously; the operator passes an :class:`~training_hub_operator.events.EventRecorder`'s
            ``record``, which posts from a background thread).
    """

    def __init__(
        self,
        kube: Kube,
        settings: OperatorSettings,
        post_event: Callable[[dict[str, Any], str, str, str], None] | None = None,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.post_event = post_event or (lambda run, t, r, m: post_event_now(self.kube, run, t, r, m))
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        self._hub_cache: dict[str, ModelConfig] = {}
        #: Per run: ``(kind, name) -> resourceVersion`` of the children its last reconcile decided from.
        self._seen: dict[str, dict[tuple[str, str], str]] = {}
        #: Per run: the generation its last successful reconcile decided from.
        self._handled: dict[str, int] = {}
        self.phases: dict[str, str] = {}
        self.stalled: set[str] = set()
        #: Runs whose workload exists and whose pods do not all run yet (``Queued``, not held by Kueue or
        #: suspended), with what their last reconcile saw: the resync thread re-checks them every few
        #: seconds (:meth:`waiting_changed`), since pod changes (a pod marked ``Unschedulable``, an image
        #: pull failing) trigger no reconcile.
        self.waiting_on_pods: dict[str, waiting.Waiting] = {}

    def _lock(self, key: str) -> threading.Lock:
        """The lock that serialises the reconciles of one run (shared with a few other runs)."""
        return self._locks[hash(key) % LOCK_STRIPES]

    def trigger_for(self, run: dict[str, Any], event_type: str | None) -> str | None:
        """Whether a TrainingRun watch event needs a reconcile, and the trigger to record it under.

        ``resume``: the run is listed at (re)start (``event_type`` None); ``create``: a run this process has
        not handled yet; ``update``: a new generation (a spec change). None: a change that is not the spec's
        (the operator's own status write, the training pod's progress, labels), or a deleted run.
        """
        meta = run.get("metadata") or {}
        if event_type == "DELETED" or meta.get("deletionTimestamp"):
            return None
        if event_type is None:
            return "resume"
        handled = self._handled.get(f"{meta.get('namespace', 'default')}/{meta.get('name')}")
        if handled is None:
            return "create"
        return "update" if meta.get("generation") != handled else None

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted run from the bookkeeping (metrics, locks)."""
        key = f"{namespace}/{name}"
        self.phases.pop(key, None)
        metrics.set_phases(self.phases)
        self.stalled.discard(key)
        metrics.RUNS_STALLED.set(len(self.stalled))
        self.waiting_on_pods.pop(key, None)
        self._seen.pop(key, None)
        self._handled.pop(key, None)

    # ------------------------------------------------------------------------------------------- entry
    def reconcile_by_name(self, namespace: str, name: str, trigger: str) -> str | None:
        """Read a run (under its lock) and reconcile it; return its phase (None if it does not exist)."""
        return self.reconcile({"metadata": {"namespace": namespace, "name": name}}, trigger, read=True)

    def child_event(
        self, namespace: str, run_name: str, child: dict[str, Any], kind: str, trigger: str, deleted: bool
    ) -> str | None:
        """Reconcile a run after an event of one of its children, unless the run's last reconcile already
        saw the child in this very state (same resourceVersion: e.g. the ADDED event of a child the
        operator just created and used). Returns the phase, or None when skipped or gone."""
        meta = child.get("metadata") or {}
        key = f"{namespace}/{run_name}"
        rv = meta.get("resourceVersion")
        with self._lock(key):
            seen = self._seen.get(key, {}).get((kind, str(meta.get("name"))))
        if rv and seen == rv and not deleted and not meta.get("deletionTimestamp"):
            return None
        return self.reconcile_by_name(namespace, run_name, trigger)

    def reconcile(self, run: dict[str, Any], trigger: str, *, read: bool = False) -> str | None:
        """Reconcile one TrainingRun.

        Args:
            run: The run's body (e.g. from a watch event): decisions start from it without reading the run
                again. A status write from an outdated body is refused (409, resourceVersion) and redone
                from a fresh read; before creating children from a body it did not read, the runner checks
                that the body is current (one GET), so an outdated body never relaunches an ended run.
            trigger: What caused the reconcile (metrics label).
            read: Read the run under its lock first (``run`` only names it).

        Returns:
            The resulting phase (None when the run does not exist or is being deleted).

        Raises:
            KubeError: When the API server refuses or fails a call (the caller retries).
        """
        meta = run.get("metadata") or {}
        ns, name = meta.get("namespace", "default"), meta["name"]
        key = f"{ns}/{name}"
        start = time.perf_counter()
        with self._lock(key):
            try:
                body: dict[str, Any] | None = None if read or not meta.get("resourceVersion") else run
                for attempt in range(STATUS_CONFLICT_RETRIES + 1):
                    verified = body is None
                    fresh = self.kube.get(TRAININGRUN, ns, name) if body is None else body
                    body = None  # a retry reads again
                    if fresh is None or (fresh.get("metadata") or {}).get("deletionTimestamp"):
                        return None
                    fresh.setdefault("apiVersion", c.API_VERSION)
                    fresh.setdefault("kind", c.KIND)
                    try:
                        phase = self._reconcile_locked(fresh, verified=verified)
                        self._handled[key] = fresh["metadata"].get("generation")
                        break
                    except _OutdatedBody:
                        log.info("the event's copy of %s is outdated: reconciling from a fresh read", key)
                        if attempt == STATUS_CONFLICT_RETRIES:
                            raise KubeError(409, "Conflict", "the run kept changing") from None
                    except KubeError as exc:
                        # 409 on the status write: the run changed since it was read (another writer, a
                        # spec edit). Read again and decide again; never write a status from a stale read.
                        if not exc.conflict or attempt == STATUS_CONFLICT_RETRIES:
                            raise
                        log.info("status of %s changed while reconciling (409): reconciling again", key)
            except Exception:
                metrics.RECONCILE_ERRORS.labels(trigger=trigger).inc()
                metrics.RECONCILES.labels(trigger=trigger, result="error").inc()
                raise
            finally:
                metrics.RECONCILE_LATENCY.observe(time.perf_counter() - start)
        metrics.RECONCILES.labels(trigger=trigger, result="ok").inc()
        if phase:
            self.phases[key] = phase
            metrics.set_phases(self.phases)
        return phase

    def _note_stall(self, key: str, status: dict[str, Any]) -> None:
        """Track runs stalled for lack of steps (``traininghub_runs_stalled``)."""
        stalled = any(
            c.get("type") == "Stalled" and c.get("status") == "True" and c.get("reason") == REASON_NO_PROGRESS
            for c in status.get("conditions") or []
        )
        if stalled:
            self.stalled.add(key)
        else:
            self.stalled.discard(key)
        metrics.RUNS_STALLED.set(len(self.stalled))

    def _note_waiting(
        self, key: str, status: dict[str, Any], pods: list[dict[str, Any]], events: list[dict[str, Any]]
    ) -> None:
        """Track runs whose launched workload waits for its pods, with the pods and create-failure Events
        this reconcile decided from (re-checked by the resync thread, :meth:`waiting_changed`)."""
        queued: dict[str, Any] = next(
            (cd for cd in status.get("conditions") or [] if cd.get("type") == "Queued"), {}
        )
        workload = status.get("workload") or {}
        if status.get("phase") != "Queued" or not workload or queued.get("reason") in NOT_WAITING_ON_PODS:
            self.waiting_on_pods.pop(key, None)
            return
        uid, expected = str(workload.get("uid") or ""), diagnosis.expected_pods(status)
        self.waiting_on_pods[key] = waiting.Waiting(
            run_label=child_labels(key.partition("/")[2], "x")[c.LABEL_RUN],
            workload_uid=uid,
            expected_pods=expected,
            seen=waiting.signature(pods, events, uid, expected),
        )

    def waiting_changed(self) -> list[str]:
        """The runs waiting on their pods whose pods or create failures changed since their last
        reconcile (two LISTs per namespace; see :mod:`~training_hub_operator.waiting`)."""
        marks = {k: m for k, m in dict(self.waiting_on_pods).items() if self.phases.get(k) == "Queued"}
        return waiting.changed(self.kube, marks) if marks else []

    # -------------------------------------------------------------------------------------- internals
    def _validated(self, run: dict[str, Any]) -> tuple[ValidatedSpec | None, SpecError | None]:
        try:
            return validate_spec(run.get("spec") or {}), None
        except SpecError as exc:
            return None, exc

    def _choice(self, run: dict[str, Any], validated: ValidatedSpec | None) -> LauncherChoice | None:
        status = run.get("status") or {}
        recorded = (status.get("launcher") or {}).get("name")
        if recorded and status.get("workload"):
            launcher = get_launcher(recorded)
            if launcher is not None:
                return LauncherChoice(launcher, "Recorded", (status.get("launcher") or {}).get("reason", ""))
        requested = validated.spec.launcher if validated else (run.get("spec") or {}).get("launcher", "auto")
        return choose_launcher(str(requested), self.kube.serves, self._incompatible)

    def _incompatible(self, launcher: Any) -> str | None:
        """Why the served CRD of a launcher's workload is one it cannot render for (a launcher with a
        ``compatibility(crd)`` method, e.g. TrainJob on a Trainer older than v2.2), else None."""
        check = getattr(launcher, "compatibility", None)
        if check is None:
            return None
        crd = self.kube.crd(launcher.workload_kind)
        return check(crd) if crd is not None else None

    def _children(self, run: dict[str, Any], choice: LauncherChoice | None) -> list[dict[str, Any]]:
        """Children of the run that exist: listed by the run label (owned by this run), plus the workload
        looked up by name (to notice a same-named object that belongs to someone else)."""
        if choice is None or choice.launcher is None:
            return []
        if not run.get("status"):
            # Never reconciled: nothing of it should exist. Creating answers 409 for what does (adopted
            # then, see _apply), which costs nothing when nothing exists, unlike a GET per child.
            return []
        if hasattr(choice.launcher, "child_refs"):
            return self._children_by_name(run, choice)
        meta = run["metadata"]
        uid = meta.get("uid")
        names = child_names(meta["name"])
        selector = (
            f"{c.LABEL_RUN}={child_labels(meta['name'], 'x')[c.LABEL_RUN]},{c.LABEL_COMPONENT}!=planner"
        )
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for kind in choice.launcher.child_kinds:
            if not self.kube.serves(kind):
                continue
            for obj in self.kube.list(kind, meta["namespace"], label_selector=selector):
                owners = (obj.get("metadata") or {}).get("ownerReferences") or []
                if not any(o.get("uid") == uid for o in owners):
                    continue
                obj.setdefault("kind", kind.kind)
                obj.setdefault("apiVersion", kind.api_version)
                out.append(obj)
                seen.add((kind.kind, obj["metadata"]["name"]))
        wk = choice.launcher.workload_kind
        if (wk.kind, names.workload) not in seen and self.kube.serves(wk):
            found = self.kube.get(wk, meta["namespace"], names.workload)
            if found is not None:
                found.setdefault("kind", wk.kind)
                found.setdefault("apiVersion", wk.api_version)
                out.append(found)
        return out

    def _children_by_name(self, run: dict[str, Any], choice: LauncherChoice) -> list[dict[str, Any]]:
        """The children of the run that exist, read by their deterministic names (one GET each: cheap on
        any API server, where a LIST by label reads every object of the kind in the namespace).

        Every object at one of the run's child names is kept, whoever owns it: decide() refuses to launch
        next to someone else's (``NameConflict``) and waits for an earlier same-named run's to go.
        """
        launcher = choice.launcher
        assert launcher is not None
        meta = run["metadata"]
        ns = meta["namespace"]
        names = child_names(meta["name"])
        wk = launcher.workload_kind
        out: list[dict[str, Any]] = []
        workload = None
        if self.kube.serves(wk):
            workload = self._get_child(wk, ns, names.workload)
            if workload is not None:
                out.append(workload)
        nodes = int(((run.get("status") or {}).get("plan") or {}).get("nodes") or 1)
        for kind, child in launcher.child_refs(names, nodes, workload):  # type: ignore[attr-defined]
            if (kind.kind, child) == (wk.kind, names.workload) or not self.kube.serves(kind):
                continue
            obj = self._get_child(kind, ns, child)
            if obj is not None:
                out.append(obj)  # someone else's at one of the run's names: decide() tells
        return out

    def _get_child(self, kind: ResourceKind, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.kube.get(kind, namespace, name)
        if obj is not None:
            obj.setdefault("kind", kind.kind)
            obj.setdefault("apiVersion", kind.api_version)
        return obj

    def _model_config(
        self, run: dict[str, Any], validated: ValidatedSpec
    ) -> tuple[ModelConfig | None, PlanningError | None, bool]:
        """Reach the model's config: inline, ConfigMap, hub, or a planning pod's report."""
        spec = validated.spec
        status = run.get("status") or {}
        if status.get("plan") and status.get("workload"):
            return None, None, False
        try:
            inline = config_from_inline(spec)
            if inline is not None:
                return inline, None, False
            if spec.model.config_map_ref is not None:
                cm = self.kube.get(CONFIGMAP, run["metadata"]["namespace"], spec.model.config_map_ref.name)
                return config_from_configmap(spec, cm), None, False
        except PlanningError as exc:
            return None, exc, False
        if not needs_model_config(spec):
            return None, None, False
        hub_id = hub_model_id(spec.model.uri)
        if hub_id and spec.model.allow_config_fetch:
            if not self.settings.allow_config_fetch:
                return (
                    None,
                    PlanningError(
                        "ConfigFetchDisabled",
                        "this operator does not fetch from the Hugging Face Hub (TRAINING_HUB_ALLOW_CONFIG_FETCH=false): "
                        "set spec.model.config or spec.model.configMapRef",
                    ),
                    False,
                )
            if hub_id not in self._hub_cache:
                from training_hub.estimator import load_model_config

                try:
                    self._hub_cache[hub_id] = ModelConfig(
                        load_model_config(hub_id, allow_download=True), f"hf://{hub_id} config.json"
                    )
                except (InvalidInputError, OSError) as exc:
                    return (
                        None,
                        PlanningError("ModelConfigFetchFailed", f"fetching config.json of {hub_id}: {exc}"),
                        False,
                    )
            return self._hub_cache[hub_id], None, False
        if pvc_claim(spec.model.uri) and self.settings.planning_pods:
            return self._planning_pod_result(run)
        return None, None, False

    def _planning_pod_result(
        self, run: dict[str, Any]
    ) -> tuple[ModelConfig | None, PlanningError | None, bool]:
        meta = run["metadata"]
        job_name = child_names(meta["name"]).planner
        job = self.kube.get(JOB, meta["namespace"], job_name)
        if job is None:
            return None, None, False  # decide() asks for the pod
        pods = self.kube.list(POD, meta["namespace"], label_selector=f"job-name={job_name}")
        for pod in pods:
            try:
                cfg = config_from_planning_pod(pod)
            except PlanningError as exc:
                return None, exc, False
            if cfg is not None:
                return cfg, None, False
        return None, None, True

    def _reconcile_locked(self, run: dict[str, Any], *, verified: bool = True) -> str | None:
        run_key = f"{run['metadata'].get('namespace', 'default')}/{run['metadata']['name']}"
        self._seen.pop(run_key, None)
        status = run.get("status") or {}
        if status.get("phase") in TERMINAL_PHASES and status.get("completionTime"):
            if status.get("phase") == "Failed" and status.get("workload"):
                self._stop_failed(run)
            return str(status["phase"])
        validated, error = self._validated(run)
        choice = self._choice(run, validated)
        children = self._children(run, choice)
        workload_kind = choice.launcher.kind if choice and choice.launcher else None
        launched = any(ch.get("kind") == workload_kind for ch in children)
        model_config: ModelConfig | None = None
        planning_error: PlanningError | None = None
        pending = False
        if validated is not None and not launched:
            model_config, planning_error, pending = self._model_config(run, validated)
        pods = self._pods(run) if launched else []
        # Only while pods are missing: why the workload's controller could not create them.
        events = (
            diagnosis.create_failures(self.kube, run["metadata"]["namespace"])
            if launched and diagnosis.missing_pods(pods, status)
            else []
        )
        inp = ReconcileInput(
            run=run,
            pods=pods,
            events=events,
            validated=validated,
            spec_error=error,
            choice=choice,
            children=children,
            model_config=model_config,
            planning_error=planning_error,
            planning_pending=pending,
            settings=self.settings,
            now=now_rfc3339(),
        )
        decision = decide(inp)
        # A run that ends now: its record is stored first, then what still runs is stopped (a failed
        # cleanup is retried from the stored record; a refused status write leaves everything as it was).
        ended = bool(
            decision.status.get("phase") in TERMINAL_PHASES and decision.status.get("completionTime")
        )
        if not verified and (decision.needs_planning_pod or (decision.creates and not ended)):
            self._check_current(run)
        if decision.needs_planning_pod:
            self._start_planning_pod(run, validated)
        if (decision.creates or decision.patches) and not ended:
            report = WriteReport()
            try:
                made, created = self._apply(run, decision, report)
            except objectcheck.CreateRefused as refused:
                # Retrying the same create cannot pass: nothing of the run stays, the run says why.
                for kind, child in refused.created:
                    self.kube.delete(kind, run["metadata"]["namespace"], child)
                decision = create_refused(inp, decision, refused)
                self._write_status(run, decision)
                return decision.status.get("phase")
            for kind, name in report.delete:
                self.kube.delete(kind, run["metadata"]["namespace"], name)
            # The second pass sees the children as the API server answered the creates and patches.
            inp.children = _merged(inp.children, made)
            workloads = [ch for ch in inp.children if ch.get("kind") == workload_kind]
            if workloads and all((w.get("kind"), w["metadata"]["name"]) in created for w in workloads):
                inp.pods = []  # workload objects created a moment ago have no pods to tell about yet
            else:
                inp.pods = self._pods(run)  # a Job counts Pending pods as active: the pods say if they run
            inp.run = {**run, "status": decision.status}  # the second pass builds on the first
            second = decide(inp)
            second.events = decision.events + [e for e in second.events if e not in decision.events]
            second.events += report.events
            report.apply_to(second.status, run["metadata"].get("generation"), inp.now)
            decision = second
        self._write_status(run, decision)
        if ended:
            self._cleanup(run, decision)
        else:
            self._seen[run_key] = {
                (str(ch.get("kind")), str(ch["metadata"].get("name"))): str(ch["metadata"]["resourceVersion"])
                for ch in inp.children
                if (ch.get("metadata") or {}).get("resourceVersion")
            }
        meta = run["metadata"]
        self._note_stall(f"{meta.get('namespace', 'default')}/{meta['name']}", decision.status)
        self._note_waiting(
            f"{meta.get('namespace', 'default')}/{meta['name']}", decision.status, inp.pods, events
        )
        past_planning = decision.status.get("phase") not in (None, "Pending", "Planning")
        # Only runs that went through planning by a pod have a planning Job to delete.
        planned_by_pod = status.get("phase") == "Planning" or (
            ((decision.status.get("plan") or {}).get("inputs") or {}).get("modelConfig")
            == PLANNING_POD_ORIGIN
        )
        if decision.status.get("workload") and past_planning and planned_by_pod:
            self._cleanup_planning_job(run)
        return decision.status.get("phase")

    def _stop_failed(self, run: dict[str, Any]) -> None:
        """Stop what still runs of a run that failed earlier (a cleanup that did not get through)."""
        choice = self._choice(run, None)
        if choice is None or choice.launcher is None:
            return
        inp = ReconcileInput(
            run=run,
            validated=None,
            spec_error=None,
            choice=choice,
            children=self._children(run, choice),
            settings=self.settings,
            now=now_rfc3339(),
        )
        self._cleanup(run, decide(inp))

    def _cleanup(self, run: dict[str, Any], decision: Decision) -> None:
        """Apply the patches (suspend) and deletes that stop an ended run's workload."""
        ns = run["metadata"]["namespace"]
        for kind, name, patch in decision.patches:
            try:
                self.kube.patch(kind, ns, name, patch)
            except KubeError as exc:
                if not exc.not_found:  # gone already: nothing runs
                    raise
                continue
            log.info("stopped %s %s/%s: %s", kind.kind, ns, name, patch)
        for kind, name in decision.deletes:
            self.kube.delete(kind, ns, name)
            log.info("deleted %s %s/%s (the run ended)", kind.kind, ns, name)

    def _pods(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        """The run's training pods (for failure reasons); best effort: an error gives none."""
        meta = run["metadata"]
        selector = (
            f"{c.LABEL_RUN}={child_labels(meta['name'], 'x')[c.LABEL_RUN]},{c.LABEL_COMPONENT}!=planner"
        )
        try:
            return self.kube.list(POD, meta["namespace"], label_selector=selector)
        except KubeError as exc:
            log.warning("could not list the pods of %s/%s: %s", meta["namespace"], meta["name"], exc)
            return []

    def _check_current(self, run: dict[str, Any]) -> None:
        """Raise :class:`_OutdatedBody` unless ``run`` (not read by this reconcile) is the current version."""
        meta = run["metadata"]
        current = self.kube.get(TRAININGRUN, meta["namespace"], meta["name"])
        if current is None or (current.get("metadata") or {}).get("resourceVersion") != meta.get(
            "resourceVersion"
        ):
            raise _OutdatedBody()

    def _apply(
        self, run: dict[str, Any], decision: Decision, report: WriteReport | None = None
    ) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
        """Create and patch children; return them as the API server answered (an object that already
        existed is read back: adopted if it is the run's, else nothing more is created), and the
        ``(kind, name)`` of those created now. ``report`` collects what the API server said about the
        creates (warnings, pruned fields, refusals: see :mod:`training_hub_operator.write_checks`)."""
        ns = run["metadata"]["namespace"]
        uid = run["metadata"].get("uid")
        report = report if report is not None else WriteReport()
        out: list[dict[str, Any]] = []
        created: set[tuple[str, str]] = set()
        made_now: list[tuple[ResourceKind, str]] = []
        for kind, obj in decision.creates:
            name = obj["metadata"]["name"]
            try:
                warnings: list[str] = []
                made = self.kube.create(kind, obj, warnings=warnings)
                made_now.append((kind, name))
                log.info("created %s %s/%s", kind.kind, ns, name, extra={"run": run["metadata"]["name"]})
                for text in warnings:
                    log.warning("API server warning on creating %s %s/%s: %s", kind.kind, ns, name, text)
                report.warnings(kind, name, warnings)
                metrics.CHILDREN_CREATED.labels(kind=kind.kind).inc()
                if isinstance(made, dict) and made.get("metadata"):
                    report.created(kind, obj, made, workload=kind != CONFIGMAP)
                    if report.delete:
                        log.warning("%s %s/%s lost fields on create: deleting it", kind.kind, ns, name)
                        break
                    out.append({"kind": kind.kind, "apiVersion": kind.api_version, **made})
                    created.add((kind.kind, name))
            except KubeError as exc:
                if exc.status in objectcheck.PERMANENT_CREATE_STATUSES:
                    log.warning("the API server refused %s %s/%s: %s", kind.kind, ns, name, exc)
                    raise objectcheck.CreateRefused(kind.kind, name, str(exc), made_now) from None
                if not exc.conflict:
                    raise
                existing = self._get_child(kind, ns, name)
                if existing is not None:
                    out.append(existing)
                    if not _owned(existing, uid):
                        # Someone else's (or an earlier run's) object at this name: create nothing more
                        # (a job must never use it); the second decision reports why.
                        log.info("%s %s/%s exists and is not this run's: not launching", kind.kind, ns, name)
                        break
                    log.info("%s %s/%s already exists: adopting", kind.kind, ns, name)
            faults.checkpoint(f"created-{kind.kind.lower()}")
        for kind, name, patch in decision.patches:
            warnings = []
            patched = self.kube.patch(kind, ns, name, patch, warnings=warnings)
            log.info("patched %s %s/%s: %s", kind.kind, ns, name, patch)
            for text in warnings:
                log.warning("API server warning on patching %s %s/%s: %s", kind.kind, ns, name, text)
            report.warnings(kind, name, warnings)
            if isinstance(patched, dict) and patched.get("metadata"):
                out.append({"kind": kind.kind, "apiVersion": kind.api_version, **patched})
        return out, created

    def _write_status(self, run: dict[str, Any], decision: Decision) -> None:
        """Write the status if it changed and post the events."""
        old = run.get("status") or {}
        new = decision.status
        if new != old:
            # status.progress belongs to the training pod (it patches it concurrently): never write back
            # an older copy of it (see training_hub_operator.progress.status_patch).
            patch: dict[str, Any] = copy.deepcopy(status_patch(old, new))
            faults.checkpoint("before-status")
            body: dict[str, Any] = {"status": patch}
            rv = run["metadata"].get("resourceVersion")
            if rv:  # optimistic concurrency: 409 Conflict if the run changed since it was read
                body["metadata"] = {"resourceVersion": rv}
            self.kube.patch(
                TRAININGRUN, run["metadata"]["namespace"], run["metadata"]["name"], body, subresource="status"
            )
            metrics.STATUS_WRITES.inc()
        # One Normal Event per reconcile for the transitions it made, a Warning each (events.fold_events).
        reasons = {str(c.get("reason")) for c in decision.status.get("conditions") or []}
        for type_, reason, message in fold_events(decision.events, reasons):
            try:
                self.post_event(run, type_, reason, message)
            except KubeError as exc:  # events are best effort
                log.warning("could not post event %s: %s", reason, exc)

    def _start_planning_pod(self, run: dict[str, Any], validated: ValidatedSpec | None) -> None:
        if validated is None:
            return
        meta = run["metadata"]
        names = child_names(meta["name"])
        job = planning_job(
            name=names.planner,
            namespace=meta["namespace"],
            owner=owner_reference(run),
            labels=child_labels(meta["name"], "planner"),
            spec=validated.spec,
            settings=self.settings,
        )
        try:
            self.kube.create(JOB, job)
            log.info("started planning job %s/%s", meta["namespace"], names.planner)
        except KubeError as exc:
            if not exc.conflict:
                raise

    def _cleanup_planning_job(self, run: dict[str, Any]) -> None:
        meta = run["metadata"]
        name = child_names(meta["name"]).planner
        if self.kube.get(JOB, meta["namespace"], name) is not None:
            self.kube.delete(JOB, meta["namespace"], name)
