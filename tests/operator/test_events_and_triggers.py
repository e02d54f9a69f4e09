"""The operator's event recorder, its retry back-off, and which TrainingRun watch events reconcile.

Pure parts (no API server): the recorder runs its real background thread against a recording poster;
trigger selection and retries are plain objects. The same pieces serve the operator process in the
integration tests (``test_operator_integration.py``, ``tests/reliability``).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from training_hub_operator.events import MAX_PENDING, EventRecorder, event_body
from training_hub_operator.handlers import RETRY_MAX_SECONDS, RETRY_SECONDS, Retries
from training_hub_operator.kube import KubeError
from training_hub_operator.runner import Runner
from training_hub_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit


def _run(name: str = "r", generation: int = 1, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "traininghub.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": generation, **meta},
        "spec": {"algorithm": "sft"},
        "status": {"phase": "Queued", "plan": {"nodes": 2}},
    }


def test_recorder_posts_in_order_from_its_own_thread_and_survives_failures() -> None:
    posted: list[tuple[str, str, str]] = []
    threads: set[str] = set()

    def post(run: dict[str, Any], type_: str, reason: str, message: str) -> None:
        threads.add(threading.current_thread().name)
        if reason == "Broken":
            raise KubeError(500, "Internal Server Error")
        posted.append((run["metadata"]["name"], reason, message))

    recorder = EventRecorder(post)
    for i in range(50):
        recorder.record(_run(f"r{i}"), "Normal", "Broken" if i == 3 else "Launched", f"m{i}")
    assert recorder.flush(timeout=10)
    assert posted == [(f"r{i}", "Launched", f"m{i}") for i in range(50) if i != 3]
    assert threads == {"events"}  # never the caller's thread
    recorder.close()


def test_recorder_keeps_only_what_an_event_needs_and_drops_beyond_the_limit() -> None:
    release = threading.Event()
    seen: list[dict[str, Any]] = []

    def slow(run: dict[str, Any], *_: Any) -> None:
        release.wait(10)
        seen.append(run)

    recorder = EventRecorder(slow)
    for i in range(MAX_PENDING + 5):
        recorder.record(_run(f"r{i}"), "Normal", "Launched", "m")
    assert recorder.dropped >= 4  # the queue is bounded while the API server is slow
    release.set()
    assert recorder.flush(timeout=30)
    assert len(seen) == MAX_PENDING + 5 - recorder.dropped
    assert set(seen[0]) == {"apiVersion", "kind", "metadata"} and "status" not in seen[0]
    assert seen[0]["metadata"] == {"name": "r0", "namespace": "ns", "uid": "uid-r0"}
    recorder.close()


def test_event_body_names_the_run_and_truncates_long_messages() -> None:
    body = event_body(_run("x"), "Warning", "InvalidSpec", "y" * 5000, "2026-01-01T00:00:00Z")
    assert body["involvedObject"] == {
        "apiVersion": "traininghub.io/v1alpha1",
        "kind": "TrainingRun",
        "name": "x",
        "namespace": "ns",
        "uid": "uid-x",
    }
    assert body["metadata"] == {"generateName": "x.", "namespace": "ns"}
    assert (body["type"], body["reason"], len(body["message"])) == ("Warning", "InvalidSpec", 1024)


def test_retries_back_off_per_run_and_stop_after_success() -> None:
    retries = Retries()
    assert retries.failed("ns", "a", now=100.0) == RETRY_SECONDS
    assert retries.failed("ns", "a", now=100.0) == 2 * RETRY_SECONDS
    assert retries.take_due(now=100.0 + RETRY_SECONDS) == []  # the second failure pushed it back
    assert retries.take_due(now=100.0 + 2 * RETRY_SECONDS) == [("ns", "a")]
    assert retries.take_due(now=100.0 + 2 * RETRY_SECONDS) == []  # taken: not again until it reports
    for _ in range(20):
        delay = retries.failed("ns", "a", now=200.0)
    assert delay == RETRY_MAX_SECONDS
    retries.succeeded("ns", "a")
    assert len(retries) == 0 and retries.take_due(now=10_000.0) == []


def test_run_events_reconcile_new_runs_spec_changes_and_listings_only() -> None:
    runner = Runner(kube=None, settings=OperatorSettings())  # type: ignore[arg-type]
    run = _run("t", generation=1)
    assert runner.trigger_for(run, None) == "resume"  # listed at (re)start
    assert runner.trigger_for(run, "ADDED") == "create"
    assert runner.trigger_for(run, "MODIFIED") == "create"  # not handled by this process yet
    runner._handled["ns/t"] = 1
    assert runner.trigger_for(run, "MODIFIED") is None  # status, labels, annotations: same generation
    assert runner.trigger_for(run, None) == "resume"  # a restart of the watch looks again
    assert runner.trigger_for(_run("t", generation=2), "MODIFIED") == "update"
    assert runner.trigger_for(run, "DELETED") is None
    assert runner.trigger_for(_run("t", deletionTimestamp="2026-01-01T00:00:00Z"), "MODIFIED") is None
    runner.forget("ns", "t")
    assert runner.trigger_for(run, "MODIFIED") == "create"


def test_runs_share_a_fixed_set_of_locks() -> None:
    runner = Runner(kube=None, settings=OperatorSettings())  # type: ignore[arg-type]
    locks = {id(runner._lock(f"ns/run-{i}")) for i in range(5000)}
    assert len(locks) <= 256
    assert runner._lock("ns/a") is runner._lock("ns/a")


def test_one_reconciles_normal_transitions_fold_into_one_event() -> None:
    from training_hub_operator.events import fold_events

    single = ("Normal", "Running", "pods run")
    assert fold_events([single]) == [single] and fold_events([]) == []
    launch = [
        ("Normal", "Valid", "spec is valid"),
        ("Normal", "Estimated", "2 nodes x 4 GPUs"),
        ("Normal", "Launched", "PyTorchJob llama created"),
    ]
    conditions = {"Valid", "Estimated"}
    assert fold_events(launch, conditions) == [
        (
            "Normal",
            "Launched",
            "PyTorchJob llama created (also: Valid: spec is valid; Estimated: 2 nodes x 4 GPUs)",
        )
    ]
    # When every reason is also a condition's, the last transition heads the Event.
    assert fold_events(launch, {"Valid", "Estimated", "Launched"})[0][1] == "Launched"
    # The phase transition heads the Event, not a condition that changed after it in the same reconcile.
    running = [("Normal", "Running", "training is running"), ("Normal", "Progressing", "steps are coming")]
    assert [e[1] for e in fold_events(running, {"PyTorchJobRunning", "Progressing"})] == ["Running"]
    # A warning keeps its own Event (never folded, never hiding the phase), its message whole up to 1 KiB.
    stalled = [("Normal", "Running", "training is running"), ("Warning", "NoProgress", "x" * 2000)]
    folded = fold_events(stalled, {"PyTorchJobRunning", "NoProgress"})
    assert [(t, r) for t, r, _ in folded] == [("Normal", "Running"), ("Warning", "NoProgress")]
    body = event_body(_run(), *folded[1], "2026-01-01T00:00:00Z")
    assert body["message"] == "x" * 1024


class _Lists:
    """The two reads of the re-check (pods by label, Warning Events), served from lists; calls counted."""

    def __init__(self) -> None:
        self.pods: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.calls: list[str] = []

    def list(self, kind: Any, namespace: str, label_selector: str | None = None, **_: Any) -> list[Any]:
        self.calls.append(f"list {kind.plural} {label_selector}")
        return [p for p in self.pods if p["metadata"]["namespace"] == namespace]

    def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        self.calls.append(f"{method} {path}")
        return {"items": self.events}


def _pod(run: str, rv: str) -> dict[str, Any]:
    labels = {"traininghub.io/run": run, "traininghub.io/component": "node"}
    return {"metadata": {"name": f"{run}-0", "namespace": "ns", "resourceVersion": rv, "labels": labels}}


def _refused(count: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "refused.1"},
        "reason": "FailedCreate",
        "count": count,
        "lastTimestamp": f"2026-01-01T00:00:0{count}Z",
        "involvedObject": {"uid": "uid-refused"},
    }


def test_waiting_runs_are_rechecked_when_their_pods_or_create_failures_change() -> None:
    from training_hub_operator.handlers import waiting_runs

    kube = _Lists()
    r = Runner(kube, OperatorSettings())  # type: ignore[arg-type]

    def status(phase: str, reason: str, uid: str = "", workload: bool = True) -> dict[str, Any]:
        st: dict[str, Any] = {"phase": phase, "conditions": [{"type": "Queued", "reason": reason}]}
        if workload:
            st["workload"] = {"kind": "Job", "name": "x", "uid": uid}
        return st

    kube.pods = [_pod("unsched", "1")]
    kube.events = [_refused(1)]
    cases = {
        "ns/unsched": (status("Queued", "Unschedulable", "uid-unsched"), [_pod("unsched", "1")], []),
        "ns/refused": (status("Queued", "QuotaExceeded", "uid-refused"), [], [_refused(1)]),
        "ns/kueue": (status("Queued", "WaitingForAdmission"), [], []),
        "ns/suspended": (status("Queued", "Suspended"), [], []),
        "ns/running": (status("Running", "Admitted"), [], []),
        "ns/planning": (status("Planning", "PlanningPodRunning", workload=False), [], []),
    }
    for key, (st, pods, events) in cases.items():
        r._note_waiting(key, st, pods, events)
        r.phases[key] = st["phase"]
    assert sorted(r.waiting_on_pods) == ["ns/refused", "ns/unsched"]
    # Nothing changed since their reconciles: only the planning run is re-checked, for two reads.
    assert waiting_runs(r) == ["ns/planning"]
    assert len(kube.calls) == 2, kube.calls
    # The scheduler marked the pod (new resourceVersion); the Job controller was refused again.
    kube.pods = [_pod("unsched", "2")]
    kube.events = [_refused(2)]
    assert sorted(waiting_runs(r)) == ["ns/planning", "ns/refused", "ns/unsched"]
    # Once its pods run, a run leaves the re-check; a deleted run is forgotten.
    r._note_waiting("ns/unsched", status("Running", "Admitted"), [], [])
    r.forget("ns", "refused")
    assert r.waiting_on_pods == {}
