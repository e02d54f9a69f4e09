"""The progress reporter: rank 0 patches ``status.progress`` of its TrainingRun, rate-limited.

Why the runtime pushes (rather than the operator pulling from pods) is explained in
``docs/observability.md``. The reporter is a training callback; the training loop never waits for the API
server: ``on_step`` hands the newest progress to a background thread, which sends it at most once per
``interval`` seconds (newer values replace unsent ones). A checkpoint is sent sooner (at most once per
``min_interval``), the end of training synchronously (bounded by ``flush_timeout``). The patch is a JSON
merge patch of ``status.progress`` alone, on the ``status`` subresource; the runtime's Role allows exactly
``patch`` on ``trainingruns/status`` and ``create`` on ``events``.

API failures never stop training: they are logged (once per kind) and retried with the next update; a
``403``/``404`` (no permission, run deleted) stops reporting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from training_hub.contracts.kinds import TRAININGRUN
from training_hub.observability.kubeapi import KubeApiError, KubeConnection
from training_hub.observability.tracker import ProgressTracker

log = logging.getLogger("training_hub.observability")

DEFAULT_INTERVAL = 15.0
DEFAULT_MIN_INTERVAL = 2.0

#: The Role rules the training pods' ServiceAccount needs (and nothing more): patch the status subresource
#: of TrainingRuns, create Events. The chart renders them; the tests bind exactly these.
RUNTIME_RBAC_RULES: list[dict[str, list[str]]] = [
    {"apiGroups": [TRAININGRUN.group], "resources": [f"{TRAININGRUN.plural}/status"], "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]


class StatusReporter:
    """Training callback reporting progress into ``TrainingRun.status.progress``.

    Args:
        namespace: The run's namespace.
        name: The run's name.
        connection: How to reach the API server.
        uid: The run's UID (for Events).
        interval: Minimum seconds between two progress patches.
        min_interval: Minimum seconds between patches for milestones (checkpoints).
        events: Post ``CheckpointSaved`` / ``Resumed`` Events on the run.
        tracker: Progress builder (a new one by default).
        clock: Wall clock (seconds since the epoch).
    """

    def __init__(
        self,
        namespace: str,
        name: str,
        connection: KubeConnection,
        *,
        uid: str | None = None,
        interval: float = DEFAULT_INTERVAL,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        events: bool = True,
        tracker: ProgressTracker | None = None,
        clock: Callable[[], float] = time.time,
        flush_timeout: float = 15.0,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.connection = connection
        self.interval = max(0.0, interval)
        self.min_interval = max(0.0, min(min_interval, self.interval))
        self.events = events
        self.tracker = tracker or ProgressTracker()
        self.clock = clock
        self.flush_timeout = flush_timeout
        self.patches_sent = 0
        self.events_sent = 0
        self.disabled: str | None = None
        self._pending: dict[str, Any] | None = None
        self._urgent = False
        self._events: list[tuple[str, str, str]] = []
        self._last_sent = float("-inf")
        self._cond = threading.Condition()
        self._stop = False
        self._warned: set[str] = set()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------ callbacks
    def on_step(self, metrics: Mapping[str, Any]) -> None:
        """Queue the progress after a step."""
        first = self.tracker.first_step is None
        progress = self.tracker.on_step(metrics, self.clock())
        if first and self.tracker.resumed_from_step is not None:
            self._event(
                "Normal",
                "Resumed",
                f"training resumed from the checkpoint at step {self.tracker.resumed_from_step}"
                + (f" of {progress['totalSteps']}" if progress.get("totalSteps") else ""),
            )
        self._offer(progress, urgent=first)

    def on_checkpoint(self, path: str, kind: str) -> None:
        """Queue the progress (with ``lastCheckpoint``) and a ``CheckpointSaved`` Event."""
        progress = self.tracker.on_checkpoint(path, kind, self.clock())
        if kind in ("hf", "final"):
            step = progress.get("step")
            self._event(
                "Normal",
                "CheckpointSaved",
                f"{'final model' if kind == 'final' else 'checkpoint'} saved to {self.tracker.last_checkpoint}"
                + (f" at step {step}" if step is not None else ""),
            )
        if progress:
            self._offer(progress, urgent=True)

    def on_train_end(self, summary: Mapping[str, Any]) -> None:
        """Send the final progress now (bounded wait) and stop the sender."""
        progress = self.tracker.on_train_end(summary, self.clock())
        self._offer(progress, urgent=True, force=True)
        self.close()

    # -------------------------------------------------------------------------------------- sending
    def _event(self, type_: str, reason: str, message: str) -> None:
        if self.events:
            with self._cond:
                self._events.append((type_, reason, message))
                self._cond.notify()
            self._ensure_thread()

    def _offer(self, progress: dict[str, Any], urgent: bool, force: bool = False) -> None:
        with self._cond:
            self._pending = progress
            self._urgent = self._urgent or urgent
            if force:
                self._last_sent = float("-inf")
            self._cond.notify()
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._thread is None and self.disabled is None:
            self._thread = threading.Thread(target=self._run, name="training-hub-progress", daemon=True)
            self._thread.start()

    def _due(self, now: float) -> float:
        """Seconds until the pending progress may be sent (0: now)."""
        gap = self.min_interval if self._urgent else self.interval
        return max(0.0, self._last_sent + gap - now)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._events:
                        break
                    if self._pending is not None:
                        wait = self._due(self.clock())
                        if wait <= 0 or self._stop:
                            break
                        self._cond.wait(timeout=min(wait, 1.0))
                        continue
                    if self._stop:
                        return
                    self._cond.wait(timeout=1.0)
                events, self._events = self._events, []
                progress = None
                if self._pending is not None and (self._stop or self._due(self.clock()) <= 0):
                    progress, self._pending, self._urgent = self._pending, None, False
                    self._last_sent = self.clock()
            if progress is not None:
                self._send_progress(progress)
            for type_, reason, message in events:
                self._send_event(type_, reason, message)
            if self.disabled:
                return

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)

    def _send_progress(self, progress: dict[str, Any]) -> None:
        try:
            self.connection.patch_run_status(self.namespace, self.name, {"progress": progress})
            self.patches_sent += 1
        except KubeApiError as exc:
            if exc.status in (401, 403, 404):
                self.disabled = f"progress reporting stopped: {exc}"
                self._warn(
                    "disabled", f"{self.disabled} (check the training pods' Role: see docs/observability.md)"
                )
            else:
                self._warn("patch", f"could not report progress (will retry with the next update): {exc}")

    def _send_event(self, type_: str, reason: str, message: str) -> None:
        try:
            self.connection.post_event(self.namespace, self.name, self.uid, type_, reason, message)
            self.events_sent += 1
        except KubeApiError as exc:
            self._warn("event", f"could not post event {reason}: {exc}")

    def close(self) -> None:
        """Send what is pending (waiting at most ``flush_timeout``) and stop the sender thread."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=self.flush_timeout)
