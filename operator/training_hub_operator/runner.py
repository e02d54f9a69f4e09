"""The reconcile runner: gathers what exists, calls :func:`~training_hub_operator.reconcile.decide`, applies it.

Everything that talks to the API server is here; every kopf handler and the periodic resync call
:meth:`Runner.reconcile`. Calls for one run are serialised by a per-run lock.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from training_hub_operator import diagnosis, metrics, objectcheck, sweep, waiting
from training_hub_operator.api import constants as c
from training_hub_operator.api.conditions import now_rfc3339
from training_hub_operator.children import merged
from training_hub_operator.decision import Decision, ReconcileInput, has_ended
from training_hub_operator.events import post_event as post_event_now
from training_hub_operator.kube import Kube, KubeError
from training_hub_operator.model_config_sources import PLANNING_POD_ORIGIN
from training_hub_operator.naming import child_labels
from training_hub_operator.planning import ModelConfig, PlanningError
from training_hub_operator.reads import RunReads, validated
from training_hub_operator.reconcile import create_refused, decide, settle
from training_hub_operator.rendering import identity
from training_hub_operator.settings import OperatorSettings
from training_hub_operator.stall import REASON_NO_PROGRESS
from training_hub_operator.write_checks import WriteReport
from training_hub_operator.writes import RunWrites

__all__ = ["Runner"]

log = logging.getLogger("training_hub_operator")

#: Re-reads of a run whose status write hit ``409 Conflict`` before the error goes to kopf's retry.
STATUS_CONFLICT_RETRIES = 5
#: Runs share this many locks (by hash of namespace/name): memory stays constant however many runs exist.
LOCK_STRIPES = 256
#: ``Queued`` reasons of runs that do not wait on their pods: Kueue holds the workload (its admission
#: updates the workload, which triggers a reconcile) or the run is suspended.
NOT_WAITING_ON_PODS = ("WaitingForAdmission", "Suspended")


class _OutdatedBody(Exception):
    """The run's body (from an event) is not the current version: decide again from a fresh read."""


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
        self.reads = RunReads(kube, settings)
        self.writes = RunWrites(kube, lambda run, t, r, m: self.post_event(run, t, r, m))
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        #: Per run: ``(kind, name, resourceVersion)`` of each child its last reconcile decided from (tuples,
        #: kinds interned: ~0.5 KiB per run where a dict per run took ~0.8).
        self._seen: dict[str, tuple[tuple[str, str, str], ...]] = {}
        #: Per run: :func:`~training_hub_operator.sweep.fingerprint` of the pods its last reconcile decided
        #: from (absent: none), compared by the full resync (:meth:`changed_since_reconcile`).
        self._pods_seen: dict[str, int] = {}
        #: Per run: the generation its last successful reconcile decided from.
        self._handled: dict[str, int] = {}
        #: Per run: the ``resourceVersion`` of its newest version this process knows, and whether that is
        #: its own status write's (then watch events no longer replace it) or the newest watch event's
        #: body. A body the reconcile did not read is current when it is that version (:meth:`_current`).
        self._newest: dict[str, tuple[str, bool]] = {}
        self._newest_lock = threading.Lock()
        #: Per run: the ``resourceVersion`` its last successful reconcile left it at (its status write's,
        #: else the version it decided from) and when its earliest timer is due (UNIX seconds,
        #: :attr:`Decision.recheck_at`). Absent: unknown, changed since (a child's event) or failed; the
        #: resync reconciles it (:meth:`needs_resync`).
        self._settled: dict[str, tuple[str, float]] = {}
        self.phases = metrics.RunPhases()
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
        key = sys.intern(f"{meta.get('namespace', 'default')}/{meta.get('name')}")  # one copy per run
        self._note_version(key, meta.get("resourceVersion"), written=False)
        if event_type is None:
            return "resume"
        handled = self._handled.get(key)
        if handled is None:
            return "create"
        return "update" if meta.get("generation") != handled else None

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted run from the bookkeeping (metrics, locks)."""
        key = f"{namespace}/{name}"
        self.phases.pop(key, None)
        self.stalled.discard(key)
        metrics.RUNS_STALLED.set(len(self.stalled))
        self.waiting_on_pods.pop(key, None)
        self._seen.pop(key, None)
        self._pods_seen.pop(key, None)
        self._handled.pop(key, None)
        self._newest.pop(key, None)
        self._settled.pop(key, None)

    def needs_resync(self, run: dict[str, Any], now: float | None = None) -> bool:
        """Whether the resync must reconcile a run, given its body from the resync's LIST.

        False only when all hold: this process reconciled the run and it is still at the version that
        reconcile left it at (no spec, metadata or status change since: same ``resourceVersion``), no
        child event changed anything since (:meth:`child_event` drops what the reconcile left), and none of
        its timers is due (``now`` >= its :attr:`Decision.recheck_at`). Anything unknown is reconciled.
        """
        meta = run.get("metadata") or {}
        key = f"{meta.get('namespace', 'default')}/{meta.get('name')}"
        settled = self._settled.get(key)
        if settled is None or settled[0] != str(meta.get("resourceVersion")):
            return True
        if self._handled.get(key) != meta.get("generation"):
            return True
        return (time.time() if now is None else now) >= settled[1]

    def _note_version(self, key: str, resource_version: Any, *, written: bool) -> None:
        """Remember the newest version of a run this process knows: the body of each watch event (in the
        stream's order) until this process writes the run's status, then its own writes only (an event
        handled late must not pass for newer than the write)."""
        if not resource_version:
            return
        with self._newest_lock:
            if written or not self._newest.get(key, ("", False))[1]:
                self._newest[key] = (str(resource_version), written)

    def _current(self, run: dict[str, Any]) -> bool:
        """Whether a run's body that the reconcile did not read is the stored version, as far as needed
        before creating children from it (an outdated body must never relaunch an ended run).

        A run ends only by this operator's status write, so the body is current enough when it is the
        version of this process's own last write of the run, or, for a run it has not written, the newest
        its watch delivered (kopf's initial LIST at start is current; events come in order). A spec edit
        after the body makes the status write (``resourceVersion`` precondition) answer 409, and the next
        pass sees the children as a spec change. Otherwise (a body older than what this process wrote or
        saw, or one it never saw): one GET.
        """
        meta = run["metadata"]
        newest = self._newest.get(f"{meta.get('namespace', 'default')}/{meta.get('name')}")
        if newest is not None and newest[0] == str(meta.get("resourceVersion")):
            return True
        return self.reads.is_current(run)

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
        name = str(meta.get("name"))
        with self._lock(key):
            seen = next((v for k, n, v in self._seen.get(key, ()) if k == kind and n == name), None)
        if rv and seen == rv and not deleted and not meta.get("deletionTimestamp"):
            return None
        self._settled.pop(key, None)  # changed: the resync reconciles it until a reconcile succeeds
        return self.reconcile_by_name(namespace, run_name, trigger)

    def reconcile(self, run: dict[str, Any], trigger: str, *, read: bool = False) -> str | None:
        """Reconcile one TrainingRun.

        Args:
            run: The run's body (e.g. from a watch event): decisions start from it without reading the run
                again. A status write from an outdated body is refused (409, resourceVersion) and redone
                from a fresh read; before creating children from a body it did not read, the runner checks
                that the body is current (:meth:`_current`: the version this process last wrote or saw,
                else one GET), so an outdated body never relaunches an ended run.
            trigger: What caused the reconcile (metrics label).
            read: Read the run under its lock first (``run`` only names it).

        Returns:
            The resulting phase (None when the run does not exist or is being deleted).

        Raises:
            KubeError: When the API server refuses or fails a call (the caller retries).
        """
        meta = run.get("metadata") or {}
        ns, name = meta.get("namespace", "default"), meta["name"]
        key = sys.intern(f"{ns}/{name}")  # the maps share one copy of a run's key
        start = time.perf_counter()
        with self._lock(key):
            try:
                body: dict[str, Any] | None = None if read or not meta.get("resourceVersion") else run
                for attempt in range(STATUS_CONFLICT_RETRIES + 1):
                    verified = body is None
                    fresh = self.reads.run(ns, name) if body is None else body
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
                self._settled.pop(key, None)  # a failed reconcile leaves the run unknown to the resync
                metrics.RECONCILE_ERRORS.labels(trigger=trigger).inc()
                metrics.RECONCILES.labels(trigger=trigger, result="error").inc()
                raise
            finally:
                metrics.RECONCILE_LATENCY.observe(time.perf_counter() - start)
        metrics.RECONCILES.labels(trigger=trigger, result="ok").inc()
        if phase:
            self.phases[key] = phase
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

    def changed_since_reconcile(
        self, namespaces: list[str], page_size: int = sweep.LIST_PAGE_SIZE
    ) -> set[str]:
        """The runs whose children or pods changed since their last reconcile, read in bulk (paged LISTs
        by label selector, O(N/page) requests; :func:`~training_hub_operator.sweep.changed_runs`)."""
        return sweep.changed_runs(self.kube, namespaces, dict(self._seen), dict(self._pods_seen), page_size)

    def waiting_changed(self) -> list[str]:
        """The runs waiting on their pods whose pods or create failures changed since their last
        reconcile (two LISTs per namespace; see :mod:`~training_hub_operator.waiting`)."""
        marks = {k: m for k, m in dict(self.waiting_on_pods).items() if self.phases.get(k) == "Queued"}
        return waiting.changed(self.kube, marks) if marks else []

    # -------------------------------------------------------------------------------------- internals
    def _reconcile_locked(self, run: dict[str, Any], *, verified: bool = True) -> str | None:
        who = identity(run)
        run_key = sys.intern(f"{who.namespace}/{who.name}")
        self._seen.pop(run_key, None)
        self._pods_seen.pop(run_key, None)
        self._settled.pop(run_key, None)
        status = run.get("status") or {}
        if has_ended(status):
            if status.get("phase") == "Failed" and status.get("workload"):
                self._stop_failed(run)
            return str(status["phase"])
        spec, error = validated(run)
        choice = self.reads.choice(run, spec)
        children = self.reads.children(run, choice, who.names)
        workload_kind = choice.launcher.kind if choice and choice.launcher else None
        launched = any(ch.get("kind") == workload_kind for ch in children)
        model_config: ModelConfig | None = None
        planning_error: PlanningError | None = None
        pending = False
        if spec is not None and not launched:
            model_config, planning_error, pending = self.reads.model_config(run, spec, who.names)
        pods = self.reads.pods(run) if launched else []
        # Only while pods are missing: why the workload's controller could not create them.
        events = (
            diagnosis.create_failures(self.kube, who.namespace)
            if launched and diagnosis.missing_pods(pods, status)
            else []
        )
        inp = ReconcileInput(
            run=run,
            pods=pods,
            events=events,
            validated=spec,
            spec_error=error,
            choice=choice,
            children=children,
            model_config=model_config,
            planning_error=planning_error,
            planning_pending=pending,
            settings=self.settings,
            now=now_rfc3339(),
            who=who,
        )
        decision = decide(inp)
        # A run that ends now: its record is stored first, then what still runs is stopped (a failed
        # cleanup is retried from the stored record; a refused status write leaves everything as it was).
        ended = has_ended(decision.status)
        needs_current = decision.needs_planning_pod or (decision.creates and not ended)
        if not verified and needs_current and not self._current(run):
            raise _OutdatedBody()
        if decision.needs_planning_pod:
            self.writes.start_planning_pod(run, spec, who.names, self.settings)
        if (decision.creates or decision.patches) and not ended:
            report = WriteReport()
            try:
                made, created = self.writes.apply(run, decision, report)
            except objectcheck.CreateRefused as refused:
                # Retrying the same create cannot pass: nothing of the run stays, the run says why.
                for kind, child in refused.created:
                    self.writes.delete(run, kind, child)
                decision = create_refused(inp, decision, refused)
                self._settle(run_key, run, decision, self.writes.status(run, decision))
                return decision.status.get("phase")
            for kind, name in report.delete:
                self.writes.delete(run, kind, name)
            # One decision: the API server's answers (uid, creationTimestamp, a same-named object, the
            # pods after a patch) settle its status without deciding again.
            answered = merged(inp.children, made)
            workloads = [obj for obj in answered if obj.get("kind") == workload_kind]
            fresh = bool(workloads) and all(
                (w.get("kind"), w["metadata"]["name"]) in created for w in workloads
            )
            # Workload objects created a moment ago have no pods yet; a Job counts Pending pods as active:
            # the pods say if they run.
            inp = dataclasses.replace(inp, children=answered, pods=[] if fresh else self.reads.pods(run))
            decision = settle(inp, decision)
            decision.events += report.events
            report.apply_to(decision.status, run["metadata"].get("generation"), inp.now)
        self._settle(run_key, run, decision, self.writes.status(run, decision))
        if ended:
            self.writes.stop(run, decision)
        else:
            self._seen[run_key] = tuple(
                (
                    sys.intern(str(ch.get("kind"))),
                    str(ch["metadata"].get("name")),
                    str(ch["metadata"]["resourceVersion"]),
                )
                for ch in inp.children
                if (ch.get("metadata") or {}).get("resourceVersion")
            )
            if inp.pods:
                self._pods_seen[run_key] = sweep.fingerprint(inp.pods)
        self._note_stall(run_key, decision.status)
        self._note_waiting(run_key, decision.status, inp.pods, events)
        past_planning = decision.status.get("phase") not in (None, "Pending", "Planning")
        # Only runs that went through planning by a pod have a planning Job to delete.
        planned_by_pod = status.get("phase") == "Planning" or (
            ((decision.status.get("plan") or {}).get("inputs") or {}).get("modelConfig")
            == PLANNING_POD_ORIGIN
        )
        if decision.status.get("workload") and past_planning and planned_by_pod:
            self.writes.delete_planning_job(run, who.names)
        return decision.status.get("phase")

    def _settle(self, key: str, run: dict[str, Any], decision: Decision, written: str | None) -> None:
        """Remember the version a reconcile left the run at (``written``: its status write's, None when it
        wrote nothing) and when the decision's next timer is due (:meth:`needs_resync`)."""
        self._note_version(key, written, written=True)
        rv = written or (run.get("metadata") or {}).get("resourceVersion")
        if rv:
            self._settled[key] = (str(rv), decision.recheck_at)

    def _stop_failed(self, run: dict[str, Any]) -> None:
        """Stop what still runs of a run that failed earlier (a cleanup that did not get through)."""
        choice = self.reads.choice(run, None)
        if choice is None or choice.launcher is None:
            return
        who = identity(run)
        inp = ReconcileInput(
            run=run,
            validated=None,
            spec_error=None,
            choice=choice,
            children=self.reads.children(run, choice, who.names),
            settings=self.settings,
            now=now_rfc3339(),
            who=who,
        )
        self.writes.stop(run, decide(inp))
