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
from typing import Any

import kopf

from training_hub_operator.api import constants as c
from training_hub_operator.kube import JOB, Kube, KubeError
from training_hub_operator.launchers import available_launchers
from training_hub_operator.runner import TRAININGRUN, Runner
from training_hub_operator.settings import OperatorSettings

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


def _reconcile(namespace: str | None, name: str | None, trigger: str, body: Any = None) -> None:
    """Reconcile a run: from the event's body when there is one (no re-read), else read by name."""
    if not namespace or not name:
        return
    try:
        if body is not None and (body.get("metadata") or {}).get("resourceVersion"):
            phase = runner().reconcile(copy.deepcopy(dict(body)), trigger)
        else:
            phase = runner().reconcile_by_name(namespace, name, trigger)
    except KubeError as exc:
        raise kopf.TemporaryError(f"API error while reconciling {namespace}/{name}: {exc}", delay=5) from exc
    log.info("reconciled %s/%s (%s): %s", namespace, name, trigger, phase)


@kopf.on.startup()
def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=c.KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=c.KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = c.FINALIZER
    settings.posting.enabled = False  # the runner posts its own events, one per transition
    settings.execution.max_workers = 16
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    runner()
    stop: threading.Event = _state["stop"]
    stop.clear()
    thread = threading.Thread(target=_resync_loop, name="resync", daemon=True)
    _state["thread"] = thread
    thread.start()


@kopf.on.cleanup()
def _cleanup(**_: Any) -> None:
    _state["stop"].set()


@kopf.on.probe(id="runs")
def _probe(**_: Any) -> int:
    return len(runner().phases)


@kopf.on.resume(c.GROUP, c.VERSION, c.PLURAL)
def on_resume(body: Any, namespace: str | None, name: str | None, **_: Any) -> None:
    """The operator (re)started and found this run: adopt and reconcile."""
    _reconcile(namespace, name, "resume", body)


@kopf.on.create(c.GROUP, c.VERSION, c.PLURAL)
def on_create(body: Any, namespace: str | None, name: str | None, **_: Any) -> None:
    """A new run."""
    _reconcile(namespace, name, "create", body)


@kopf.on.update(c.GROUP, c.VERSION, c.PLURAL, field="spec")
def on_update(body: Any, namespace: str | None, name: str | None, **_: Any) -> None:
    """The spec changed (suspend, a fix of an invalid spec, or a refused change of a launched run)."""
    _reconcile(namespace, name, "update", body)


@kopf.on.event(c.GROUP, c.VERSION, c.PLURAL)
def on_run_event(event: Any, namespace: str | None, name: str | None, **_: Any) -> None:
    """Forget deleted runs (metrics); the garbage collector deletes their children."""
    if event.get("type") == "DELETED" and namespace and name:
        runner().forget(namespace, name)


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
    except KubeError as exc:
        raise kopf.TemporaryError(f"API error while reconciling {namespace}/{owner}: {exc}", delay=5) from exc
    if phase is not None:
        log.info("reconciled %s/%s (%s): %s", namespace, owner, trigger, phase)


def _register_child_watches() -> None:
    managed = {c.LABEL_MANAGED_BY: c.MANAGED_BY}
    seen: set[str] = set()
    for launcher in available_launchers().values():
        kind = launcher.workload_kind
        if f"{kind.api_version}/{kind.plural}" in seen:
            continue
        seen.add(f"{kind.api_version}/{kind.plural}")

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


_register_child_watches()


def _list_runs() -> list[dict[str, Any]]:
    kube = runner().kube
    namespaces = _state.get("namespaces") or []
    if namespaces:
        out: list[dict[str, Any]] = []
        for ns in namespaces:
            out.extend(kube.list(TRAININGRUN, ns, resource_version="0"))
        return out
    # resourceVersion=0: served from the API server's watch cache (each run is read again to reconcile it).
    data = kube.request("GET", f"/apis/{c.API_VERSION}/{c.PLURAL}", query=[("resourceVersion", "0")])
    return list(data.get("items") or [])


def _resync_loop() -> None:
    """Reconcile every run periodically (faster while planning); safety net for missed events."""
    stop: threading.Event = _state["stop"]
    settings: OperatorSettings = _state.get("settings") or OperatorSettings.from_env()
    due: dict[str, float] = {}
    tick = min(5.0, settings.resync_seconds)
    while not stop.wait(tick):
        now = time.monotonic()
        try:
            runs = _list_runs()
        except Exception as exc:  # keep the loop alive; the API may be briefly unavailable
            log.warning("resync: listing TrainingRuns failed: %s", exc)
            continue
        for run in runs:
            meta = run.get("metadata") or {}
            key = f"{meta.get('namespace')}/{meta.get('name')}"
            phase = (run.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed") and (run.get("status") or {}).get("completionTime"):
                continue
            if key not in due:
                due[key] = now + settings.resync_seconds
                continue
            if now < due[key]:
                continue
            try:
                runner().reconcile_by_name(meta.get("namespace", "default"), meta["name"], "resync")
            except Exception as exc:
                log.warning("resync of %s failed: %s", key, exc)
            fast = phase in ("Planning", "Pending", None)
            due[key] = time.monotonic() + (
                min(10.0, settings.resync_seconds) if fast else settings.resync_seconds
            )
