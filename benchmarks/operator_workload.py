"""The operator benchmark's workload: TrainingRuns created through the API (:func:`create_runs`) and a
watch that records when each object of a kind first appears (:class:`Watcher`)."""

from __future__ import annotations

import threading
import time
from typing import Any

#: Threads creating TrainingRuns (each one request at a time).
CREATE_WORKERS = 4


class Watcher(threading.Thread):
    """Records when each object of a kind first appears in a namespace (ADDED events of a watch)."""

    def __init__(self, api_client: Any, namespace: str, group: str, version: str, plural: str) -> None:
        super().__init__(daemon=True)
        self.api_client, self.namespace = api_client, namespace
        self.group, self.version, self.plural = group, version, plural
        self.seen: dict[str, float] = {}
        self.ready = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        from kubernetes import client, watch

        api = client.CustomObjectsApi(self.api_client)
        rv = api.list_namespaced_custom_object(self.group, self.version, self.namespace, self.plural)[
            "metadata"
        ]["resourceVersion"]
        self.ready.set()
        while not self._stop.is_set():
            w = watch.Watch()
            try:
                for ev in w.stream(
                    api.list_namespaced_custom_object,
                    self.group,
                    self.version,
                    self.namespace,
                    self.plural,
                    resource_version=rv,
                    timeout_seconds=5,
                ):
                    now = time.time()
                    obj = ev["object"]
                    rv = obj["metadata"]["resourceVersion"]
                    if ev["type"] == "ADDED":
                        self.seen.setdefault(obj["metadata"]["name"], now)
                    if self._stop.is_set():
                        break
            except Exception:
                time.sleep(0.2)
            finally:
                w.stop()

    def stop(self) -> None:
        """Ask the thread to finish (within a watch timeout)."""
        self._stop.set()


def create_runs(
    api_client: Any,
    namespace: str,
    names: list[str],
    *,
    workers: int = CREATE_WORKERS,
    rate: float | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Create TrainingRuns through the API (not kubectl): a bounded pool of ``workers`` threads, at most
    ``rate`` creates per second overall (None: as fast as the pool goes), none after ``deadline``
    (``time.time()``). A run that exists already counts as created, so a second call resumes.

    Returns:
        ``created`` (names), ``errors`` (count), ``seconds`` (wall time of the creates).
    """
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from tests.support.trainingruns import run_manifest

    api = client.CustomObjectsApi(api_client)
    guard = threading.Lock()
    created: list[str] = []
    errors = [0]
    t0 = time.time()
    next_slot = [t0]
    pending = iter(names)

    def worker() -> None:
        while True:
            with guard:
                name = next(pending, None)
                if name is None or (deadline is not None and time.time() >= deadline):
                    return
                slot = next_slot[0]
                if rate:
                    next_slot[0] = max(slot, time.time()) + 1.0 / rate
            wait = slot - time.time()
            if rate and wait > 0:
                time.sleep(wait)
            try:
                api.create_namespaced_custom_object(
                    "traininghub.io", "v1alpha1", namespace, "trainingruns", run_manifest(name)
                )
            except ApiException as exc:
                if exc.status != 409:
                    with guard:
                        errors[0] += 1
                    continue
            with guard:
                created.append(name)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in range(workers):
            pool.submit(worker)
    return {"created": created, "errors": errors[0], "seconds": time.time() - t0}
