"""Kubernetes Events on TrainingRuns: the Event object, the fold of one reconcile's transitions, and an
asynchronous recorder.

Every reconcile that makes transitions posts **one** ``Normal`` Event for them (:func:`fold_events`; each
``Warning`` keeps an Event of its own): a new run's first reconcile validates, plans and launches it
(``Valid``, ``Estimated``/``Fixed``, ``Launched``) and posts one ``Launched`` Event whose message names
every step, where it used to post three (one API request per run instead of three; the steps are also in
the run's status conditions). :class:`EventRecorder` posts
them from one background thread, like client-go's event broadcaster: a reconcile never waits for an
Event, so a burst of new runs gets its jobs first and its Events as fast as one poster goes (best effort:
a failed post is logged and dropped, never retried into a storm).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Collection
from typing import Any

from training_hub.worker_thread import ensure_running, serve_queue
from training_hub_operator import metrics
from training_hub_operator.api import constants as c
from training_hub_operator.api.conditions import now_rfc3339

log = logging.getLogger("training_hub_operator")

#: Longest message posted (the API server accepts 1 KiB for ``message`` in practice).
MAX_MESSAGE = 1024
#: Events waiting to be posted beyond which new ones are dropped (logged): the API server is struggling.
MAX_PENDING = 10_000


def fold_events(
    events: list[tuple[str, str, str]], condition_reasons: Collection[str] = ()
) -> list[tuple[str, str, str]]:
    """The Events to post for the transitions of one reconcile: its ``Normal`` transitions folded into one,
    and every ``Warning`` on its own (a warning is never folded into, or hidden behind, another reason).

    The folded Event carries the reason of the last *phase* transition (where the run is now:
    ``Launched``, ``Running``, ``Succeeded``), told from condition transitions (``Valid``, ``Estimated``,
    ``Progressing``) by ``condition_reasons``, else of the last transition. Its message is that
    transition's message (first, so the 1 KiB limit never cuts it), then the others as
    ``(also: Reason: message; ...)`` in the order they were made. A single transition is unchanged.

    Args:
        events: ``(type, reason, message)`` of each transition.
        condition_reasons: The reasons of the run's status conditions after the reconcile.

    Returns:
        The folded ``Normal`` Event (if any), then the warnings in order.
    """
    normal = [e for e in events if e[0] != "Warning"]
    warnings = [e for e in events if e[0] == "Warning"]
    if len(normal) <= 1:
        return normal + warnings
    phases = [e for e in normal if e[1] not in condition_reasons]
    head = phases[-1] if phases else normal[-1]
    earlier = "; ".join(f"{r}: {m}" for t, r, m in normal if (t, r, m) != head)
    return [(head[0], head[1], f"{head[2]} (also: {earlier})"), *warnings]


def event_body(run: dict[str, Any], type_: str, reason: str, message: str, now: str) -> dict[str, Any]:
    """A core/v1 Event about ``run``."""
    meta = run["metadata"]
    host = os.environ.get("HOSTNAME", "")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": run.get("apiVersion", c.API_VERSION),
            "kind": run.get("kind", c.KIND),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        },
        "type": type_,
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "source": {"component": c.MANAGED_BY, "host": host},
        "reportingComponent": c.MANAGED_BY,
        "reportingInstance": host or c.MANAGED_BY,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


def post_event(kube: Any, run: dict[str, Any], type_: str, reason: str, message: str) -> None:
    """Post one Event now (raises :class:`~training_hub_operator.kube.KubeError` on failure)."""
    from training_hub.contracts.kinds import EVENT

    kube.create(EVENT, event_body(run, type_, reason, message, now_rfc3339()))
    metrics.EVENTS.labels(type=type_, reason=reason).inc()


class EventRecorder:
    """Posts Events from one background thread, in the order they were recorded.

    Args:
        post: ``(run, type, reason, message)`` that posts one event now (raises on failure).
    """

    def __init__(self, post: Callable[[dict[str, Any], str, str, str], None]) -> None:
        self._post = post
        self._queue: queue.Queue[tuple[dict[str, Any], str, str, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self.dropped = 0

    def record(self, run: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """Queue an event (returns at once). The run is reduced to what the Event needs."""
        if self._queue.qsize() >= MAX_PENDING:
            self.dropped += 1
            log.warning(
                "dropping event %s on %s: %d events pending", reason, run["metadata"]["name"], MAX_PENDING
            )
            return
        meta = run["metadata"]
        slim = {
            "apiVersion": run.get("apiVersion", c.API_VERSION),
            "kind": run.get("kind", c.KIND),
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid")},
        }
        self._ensure_thread()
        self._queue.put((slim, type_, reason, message))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event was posted (or dropped); False on timeout."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Post what is queued (up to ``timeout``) and stop the thread."""
        with self._guard:
            thread = self._thread
            self._thread = None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)

    def _ensure_thread(self) -> None:
        with self._guard:
            self._thread = ensure_running(self._thread, self._loop, "events")

    def _loop(self) -> None:
        serve_queue(self._queue, self._post_queued)

    def _post_queued(self, item: tuple[dict[str, Any], str, str, str]) -> None:
        run, type_, reason, message = item
        try:
            self._post(run, type_, reason, message)
        except Exception as exc:  # best effort: log and go on
            log.warning("could not post event %s on %s: %s", reason, run["metadata"]["name"], exc)
