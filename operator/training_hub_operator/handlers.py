"""Thin kopf handlers: every trigger calls the same idempotent, level-triggered reconcile.

Triggers: TrainingRun create, resume (operator start) and spec update; events of workloads the operator
created (every launcher's workload kind) and of planning Jobs; a periodic resync of every TrainingRun.
No finalizer is used: the children carry controller owner references and the garbage collector deletes
them with the run (kopf timers and daemons would add a finalizer, so the resync is a plain thread).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import kopf

from training_hub.contracts.kinds import JOB, TRAININGRUN
from training_hub_operator import late_crds, metrics
from training_hub_operator.api import constants as c
from training_hub_operator.decision import has_ended
from training_hub_operator.events import EventRecorder, post_event
from training_hub_operator.kube import Kube, KubeError
from training_hub_operator.launchers import available_launchers
from training_hub_operator.runner import Runner
from training_hub_operator.settings import OperatorSettings
from training_hub_operator.sweep import LIST_PAGE_SIZE, paged

log = logging.getLogger("training_hub_operator")

_state: dict[str, Any] = {"runner": None, "namespaces": [], "stop": threading.Event(), "thread": None}


def configure(settings: OperatorSettings, namespaces: list[str]) -> None:
    """Set what the handlers use (called by ``main`` before kopf starts)."""
    _state["settings"] = settings
    _state["namespaces"] = list(namespaces)


def runner() -> Runner:
    """The process-wide runner (created at startup)."""
    r = _state.get("runner")
    if r is None:
        r = Runner(Kube(), _state.get("settings") or OperatorSettings.from_env())
        _state["runner"] = r
    return r


#: Delay before a failed reconcile is retried (doubled per failure in a row, up to RETRY_MAX_SECONDS).
RETRY_SECONDS = 2.0
RETRY_MAX_SECONDS = 60.0


class Retries:
    """Runs whose reconcile failed, and when to try each again (exponential back-off per run).

    Watch-event handlers are not retried by kopf; the resync thread runs what is due here.
    """

    def __init__(self) -> None:
        self._due: dict[tuple[str, str], tuple[float, int]] = {}
        self._guard = threading.Lock()

    def failed(self, namespace: str, name: str, now: float | None = None) -> float:
        """Record a failure; return the delay before the next attempt."""
        now = time.monotonic() if now is None else now
        with self._guard:
            _, failures = self._due.get((namespace, name), (0.0, 0))
            delay = min(RETRY_MAX_SECONDS, RETRY_SECONDS * 2**failures)
            self._due[(namespace, name)] = (now + delay, failures + 1)
        return delay

    def succeeded(self, namespace: str, name: str) -> None:
        """Forget a run's failures."""
        with self._guard:
            self._due.pop((namespace, name), None)

    def take_due(self, now: float | None = None) -> list[tuple[str, str]]:
        """The runs whose retry is due (they stay recorded until they succeed)."""
        now = time.monotonic() if now is None else now
        with self._guard:
            due = [key for key, (when, _) in self._due.items() if when <= now]
            for key in due:
                when, failures = self._due[key]
                self._due[key] = (now + RETRY_MAX_SECONDS, failures)  # not again before it reports back
        return due

    def __len__(self) -> int:
        return len(self._due)


_retries = Retries()


def _reconcile(namespace: str | None, name: str | None, trigger: str, body: Any = None) -> None:
    """Reconcile a run: from the event's body when there is one (no re-read), else read by name.

    A failure is logged and the run retried later (back-off) from the resync thread.
    """
    if not namespace or not name:
        return
    try:
        if body is not None and (body.get("metadata") or {}).get("resourceVersion"):
            phase = runner().reconcile(copy.deepcopy(dict(body)), trigger)
        else:
            phase = runner().reconcile_by_name(namespace, name, trigger)
    except Exception as exc:
        delay = _retries.failed(namespace, name)
        level = logging.WARNING if isinstance(exc, KubeError) else logging.ERROR
        log.log(
            level,
            "reconciling %s/%s (%s) failed, retrying in %.0fs: %s",
            namespace,
            name,
            trigger,
            delay,
            exc,
            exc_info=not isinstance(exc, KubeError),
        )
        return
    _retries.succeeded(namespace, name)
    log.log(
        logging.DEBUG if trigger == "resync" else logging.INFO,
        "reconciled %s/%s (%s): %s",
        namespace,
        name,
        trigger,
        phase,
    )


@kopf.on.startup()
def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Only watch-event handlers are registered, so kopf stores nothing on the objects (no annotations, no
    # finalizer): the runner is level-triggered and keeps what it needs in memory and in status.
    settings.persistence.finalizer = c.FINALIZER
    settings.posting.enabled = False  # the runner posts its own events, one per transition
    settings.execution.max_workers = 16
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # kopf lists every watched kind at (re)start before it watches: in pages, so that 10,000 runs (and
    # their workloads) are never one response held at once (kopf keeps one page in memory at a time).
    settings.watching.chunk_size = LIST_PAGE_SIZE
    r = runner()
    if _state.get("recorder") is None:
        recorder = EventRecorder(lambda run, t, reason, m: post_event(r.kube, run, t, reason, m))
        _state["recorder"] = recorder
        r.post_event = recorder.record
    stop: threading.Event = _state["stop"]
    stop.clear()
    thread = threading.Thread(target=_resync_loop, name="resync", daemon=True)
    _state["thread"] = thread
    thread.start()


@kopf.on.cleanup()
def _cleanup(**_: Any) -> None:
    _state["stop"].set()
    recorder = _state.get("recorder")
    if recorder is not None:
        recorder.flush(timeout=5.0)


@kopf.on.probe(id="runs")
def _probe(**_: Any) -> int:
    return len(runner().phases)


@kopf.on.event(c.GROUP, c.VERSION, c.PLURAL)
def on_run_event(event: Any, body: Any, namespace: str | None, name: str | None, **_: Any) -> None:
    """Every TrainingRun event: reconcile when the run is new to this process (``create``, or ``resume`` at
    start) or its spec changed (``update``); forget deleted runs (the garbage collector deletes their
    children). Status-only changes (the operator's own writes, the training pod's progress) need nothing."""
    type_ = event.get("type")
    if type_ == "DELETED" and namespace and name:
        runner().forget(namespace, name)
        _retries.succeeded(namespace, name)
        return
    trigger = runner().trigger_for(body, type_)
    if trigger is not None:
        _reconcile(namespace, name, trigger, body)


def _owner_name(body: Any) -> str | None:
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if (
            ref.get("kind") == c.KIND
            and str(ref.get("apiVersion", "")).startswith(f"{c.GROUP}/")
            and ref.get("controller")
        ):
            return str(ref.get("name"))
    return None


def _child_event(body: Any, namespace: str | None, type_: str | None, trigger: str) -> None:
    """Reconcile the owner run, unless its last reconcile already saw the child in this state."""
    owner = _owner_name(body)
    if not owner or not namespace:
        return
    try:
        phase = runner().child_event(
            namespace, owner, copy.deepcopy(dict(body)), str(body.get("kind")), trigger, type_ == "DELETED"
        )
    except Exception as exc:
        delay = _retries.failed(namespace, owner)
        log.warning(
            "reconciling %s/%s (%s) failed, retrying in %.0fs: %s", namespace, owner, trigger, delay, exc
        )
        return
    if phase is not None:
        _retries.succeeded(namespace, owner)
        log.info("reconciled %s/%s (%s): %s", namespace, owner, trigger, phase)


def _register_child_watches() -> None:
    managed = {c.LABEL_MANAGED_BY: c.MANAGED_BY}
    seen: set[str] = set()
    custom: set[tuple[str, str]] = set()
    for launcher in available_launchers().values():
        kind = launcher.workload_kind
        if f"{kind.api_version}/{kind.plural}" in seen:
            continue
        seen.add(f"{kind.api_version}/{kind.plural}")
        if kind.group:
            custom.add((kind.group, kind.plural))

        def handler(
            body: Any, namespace: str | None, type: str | None, _k: str = kind.kind, **_: Any
        ) -> None:  # noqa: A002
            _child_event(body, namespace, type, f"{_k.lower()}-event")

        kopf.on.event(
            kind.group or None, kind.version, kind.plural, labels=managed, id=f"watch-{kind.plural}"
        )(  # type: ignore[arg-type]
            handler
        )

    def planner_handler(body: Any, namespace: str | None, type: str | None, **_: Any) -> None:  # noqa: A002
        _child_event(body, namespace, type, "planner-event")

    kopf.on.event(
        JOB.group,
        JOB.version,
        JOB.plural,
        labels={**managed, c.LABEL_COMPONENT: "planner"},
        id="watch-planners",
    )(planner_handler)
    # Workload kinds whose CRD may be installed after the operator starts.
    late_crds.install(custom)


_register_child_watches()


def unfinished_runs(
    kube: Kube,
    namespaces: list[str],
    page_size: int = LIST_PAGE_SIZE,
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> list[tuple[str, str]]:
    """``(namespace, name)`` of every unfinished TrainingRun in ``namespaces`` (all when empty) for which
    ``keep(body)`` holds (every one when ``keep`` is None; the others are counted in
    ``traininghub_resync_skipped_total``).

    Listed in pages of ``page_size`` (:func:`~training_hub_operator.sweep.paged`), keeping only the keys:
    at 10,000 runs a single list is tens of MiB of JSON, and the bodies parsed at once would leave the
    process's heap that much larger for good.
    """
    paths = [TRAININGRUN.path(ns) for ns in namespaces] or [TRAININGRUN.path()]
    keys: list[tuple[str, str]] = []
    for path in paths:
        for run in paged(kube, path, [], page_size):
            if has_ended(run.get("status")):
                continue
            if keep is not None and not keep(run):
                metrics.RESYNC_SKIPPED.inc()
                continue
            meta = run.get("metadata") or {}
            keys.append((str(meta.get("namespace", "default")), str(meta["name"])))
    return keys


def waiting_runs(r: Runner) -> list[str]:
    """Runs the resync thread re-checks every 10 s: ``Planning`` and ``Pending`` runs (from memory, no API
    call), and ``Queued`` runs waiting on their pods whose pods or create failures changed since their
    last reconcile (pod changes trigger no reconcile; two LISTs per namespace, :meth:`Runner.waiting_changed`)."""
    planning = [key for key, phase in dict(r.phases).items() if phase in ("Planning", "Pending")]
    return planning + r.waiting_changed()


def _needs_resync_or(r: Runner, changed: set[str]) -> Callable[[dict[str, Any]], bool]:
    """The full resync's filter: what :meth:`Runner.needs_resync` reconciles, and the ``changed`` runs."""

    def keep(run: dict[str, Any]) -> bool:
        meta = run.get("metadata") or {}
        return f"{meta.get('namespace', 'default')}/{meta.get('name')}" in changed or r.needs_resync(run)

    return keep


#: Period of the re-check of waiting runs (:func:`waiting_runs`).
RECHECK_SECONDS = 10.0


def _resync_loop() -> None:
    """Retry failed reconciles when due; re-check waiting runs every 10 s (:func:`waiting_runs`); every
    ``resync_seconds`` list the unfinished runs and reconcile those that need it (:meth:`Runner.needs_resync`:
    unknown, changed since their last reconcile, or a timer due), and every ``full_resync_seconds`` also
    those whose children or pods changed since their last reconcile, read in bulk
    (:meth:`Runner.changed_since_reconcile`: the safety net for a missed child event)."""
    stop: threading.Event = _state["stop"]
    settings: OperatorSettings = _state.get("settings") or OperatorSettings.from_env()
    fast_period = min(RECHECK_SECONDS, settings.resync_seconds)
    next_fast = time.monotonic() + fast_period
    next_resync = time.monotonic() + settings.resync_seconds
    next_full = time.monotonic() + settings.full_resync_seconds
    while not stop.wait(1.0):
        for namespace, name in _retries.take_due():
            _reconcile(namespace, name, "retry")
        now = time.monotonic()
        keys: list[tuple[str, str]] = []
        if now >= next_resync:
            next_resync = now + settings.resync_seconds
            r = runner()
            namespaces: list[str] = _state.get("namespaces") or []
            keep: Callable[[dict[str, Any]], bool] = r.needs_resync
            if now >= next_full:  # the runs whose children or pods changed without an event too
                next_full = now + settings.full_resync_seconds
                try:
                    keep = _needs_resync_or(r, r.changed_since_reconcile(namespaces))
                except Exception as exc:  # the plain resync goes on; the sweep again at the next one
                    log.warning("resync: reading the runs' children failed: %s", exc)
                    next_full = next_resync
            try:
                keys = unfinished_runs(r.kube, namespaces, keep=keep)
            except Exception as exc:  # keep the loop alive; the API may be briefly unavailable
                log.warning("resync: listing TrainingRuns failed: %s", exc)
        # Not skipped by the resync: waiting runs' pods change without a reconcile (no watch on pods).
        if now >= next_fast:
            next_fast = now + fast_period
            try:
                waiting = waiting_runs(runner())
            except Exception as exc:  # the same: an error here must not end the thread
                log.warning("resync: re-checking waiting runs failed: %s", exc)
                waiting = []
            listed = set(keys)
            keys += [
                k for k in ((w.partition("/")[0], w.partition("/")[2]) for w in waiting) if k not in listed
            ]
        for namespace, name in keys:
            if stop.is_set():
                return
            _reconcile(namespace, name, "resync")
