"""The operator under faults, against the real control plane: crashes, API server restarts, expired watches,
write conflicts and load. After every fault each TrainingRun has exactly one job and a converged status.

The operator runs as a subprocess (killed with SIGKILL, by pid); faults are placed with the operator's
``TRAINING_HUB_OPERATOR_FAULT`` hook and with a seeded random generator, so CI runs are repeatable.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane, wait_until
from tests.controlplane.operator_process import OperatorProcess
from tests.reliability.invariants import (
    assert_exactly_one_job_per_run,
    events_by_reason,
    runs_in,
    wait_phases,
)
from tests.support.trainingruns import patch_job_status, run_manifest
from training_hub.contracts.kinds import TRAININGRUN
from training_hub_operator.kube import Kube, KubeError, ResourceKind
from training_hub_operator.runner import Runner
from training_hub_operator.settings import OperatorSettings

pytestmark = pytest.mark.integration

SEED = 20261125
FAULT_ENV = "TRAINING_HUB_OPERATOR_FAULT"
FAULT_POINTS = ("created-pytorchjob", "before-status")


def apply_with_retry(plane: ControlPlane, manifest: Any, namespace: str, timeout: float = 60.0) -> None:
    """``kubectl apply``, retried while the API server is still coming up (after a restart)."""

    def attempt() -> bool:
        try:
            plane.apply(manifest, namespace=namespace)
            return True
        except Exception:
            return False

    wait_until(attempt, timeout, interval=1.0, message="apply after API server restart")


def spawn_operator(plane: ControlPlane, namespace: str, env: dict[str, str]) -> OperatorProcess:
    """Start the operator without waiting for its liveness endpoint.

    kopf runs the liveness probe in the handlers' thread pool (4 workers): when four reconciles are held
    at a fault point, /healthz stops answering (which is what a liveness probe should report), so
    :meth:`OperatorProcess.start` would wait for nothing.
    """
    op = OperatorProcess(plane.kubeconfig, namespaces=[namespace], env=env)
    full = {**os.environ, "KUBECONFIG": str(plane.kubeconfig), "PYTHONUNBUFFERED": "1", **env}
    with open(op.log_path, "ab") as log:
        op.proc = subprocess.Popen(
            op.argv(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full
        )
    return op


def running_status(name: str) -> dict[str, Any]:
    t = "2026-01-01T10:00:00Z"
    created = {"type": "Created", "status": "True", "reason": "PyTorchJobCreated", "message": "created"}
    running = {"type": "Running", "status": "True", "reason": "PyTorchJobRunning", "message": f"{name} runs"}
    for c in (created, running):
        c.update(lastUpdateTime=t, lastTransitionTime=t)
    return {"conditions": [created, running], "startTime": t, "replicaStatuses": {"Master": {"active": 1}}}


def test_random_sigkills_mid_reconcile_leave_exactly_one_job_per_run(
    operator_plane, namespace, operator_factory
):
    rng = random.Random(SEED)
    names = [f"kill-{i:02d}" for i in range(20)]
    kills: list[tuple[str, bool]] = []
    for round_ in range(10):
        # Two new runs per round, so every round has fresh work passing every fault point.
        operator_plane.apply(
            [run_manifest(n) for n in names[2 * round_ : 2 * round_ + 2]], namespace=namespace
        )
        if rng.random() < 0.7:
            point = rng.choice(FAULT_POINTS)
            op = spawn_operator(operator_plane, namespace, {FAULT_ENV: point})
            try:
                op.wait_for_log(f"fault-injection: paused at {point}", timeout=30)
                reached = True
            except AssertionError:
                reached = False
            finally:
                op.kill()  # SIGKILL while the reconcile is stopped at the point
                op.stop()
            kills.append((point, reached))
        else:
            delay = rng.uniform(0.0, 1.0)
            op = operator_factory(namespaces=[namespace])
            time.sleep(delay)
            op.kill()
            kills.append((f"after {delay:.2f}s", True))
    assert all(reached for _, reached in kills), kills

    final = operator_factory(namespaces=[namespace])
    wait_phases(operator_plane, namespace, dict.fromkeys(names, "Queued"), timeout=120)
    assert_exactly_one_job_per_run(operator_plane, namespace, names)
    events = events_by_reason(operator_plane, namespace)
    # Events are posted after the status write that records the transition: at most once per transition.
    assert all(events[(n, "Launched")] <= 1 for n in names), events
    assert final.pid is not None


def test_api_server_restart_and_expired_watches_lose_no_work(operator_plane, namespace, operator_factory):
    # No periodic resync during the test: recovery must come from the watches themselves.
    op = operator_factory(namespaces=[namespace], extra_args=["--resync-seconds=3600", "--verbose"])
    pid = op.pid
    before = [f"before-{i}" for i in range(5)]
    operator_plane.apply([run_manifest(n) for n in before], namespace=namespace)
    wait_phases(operator_plane, namespace, dict.fromkeys(before, "Queued"))

    after: list[str] = []
    for restart in range(3):
        # Restart the API server (etcd keeps the data) and compact etcd while it is down: the operator's
        # watches resume from a resourceVersion that no longer exists and get "410 Gone"; right after the
        # restart the API server may also answer 404 for the TrainingRun resource for a moment.
        compacted: list[int] = []
        operator_plane.restart_apiserver(
            while_down=lambda c=compacted: c.append(operator_plane.compact_etcd())
        )
        assert compacted
        # Work that arrives right after the restart: new runs, a job that starts running, a suspend.
        new = [f"after-{restart}-{i}" for i in range(3)]
        after += new
        apply_with_retry(operator_plane, [run_manifest(n) for n in new], namespace)
        if restart == 0:
            wait_until(
                lambda: _try(
                    lambda: patch_job_status(
                        operator_plane, namespace, "before-0", running_status("before-0")
                    )
                ),
                60,
                message="patch job status",
            )
            apply_with_retry(operator_plane, run_manifest("before-1", suspend=True), namespace)
        expected = dict.fromkeys(before + after, "Queued") | {"before-0": "Running", "before-1": "Suspended"}
        wait_phases(operator_plane, namespace, expected, timeout=120)

    assert_exactly_one_job_per_run(operator_plane, namespace, before + after)
    job = operator_plane.kubectl_json("get", "pytorchjob", "before-1", "-n", namespace)
    assert job["spec"]["runPolicy"]["suspend"] is True
    assert op.pid == pid, f"the operator process died:\n{op.log_tail()}"
    assert "Restarting the watch-stream" in op.log_tail(5_000_000), "the 410 path was not exercised"


def _try(fn: Any) -> bool:
    try:
        fn()
        return True
    except Exception:
        return False


def test_two_racing_operators_conflict_yet_one_job_per_run(operator_plane, namespace, operator_factory):
    # Two replicas without peering (a misconfiguration, but the worst case for write races): creates
    # collide (409 AlreadyExists, adopted) and status writes collide (409 Conflict, re-read and re-decided).
    ops = [operator_factory(namespaces=[namespace]) for _ in range(2)]
    names = [f"race-{i:02d}" for i in range(20)]
    operator_plane.apply([run_manifest(n) for n in names], namespace=namespace)
    wait_phases(operator_plane, namespace, dict.fromkeys(names, "Queued"), timeout=120)
    assert_exactly_one_job_per_run(operator_plane, namespace, names)

    for n in names[:3]:
        patch_job_status(operator_plane, namespace, n, running_status(n))
    wait_phases(
        operator_plane, namespace, dict.fromkeys(names[:3], "Running") | dict.fromkeys(names[3:], "Queued")
    )
    assert all(op.pid is not None for op in ops)
    logs = "".join(op.log_tail(2_000_000) for op in ops)
    assert "already exists: adopting" in logs or "(409)" in logs, "the race produced no conflict"


class _ConcurrentStatusWriter(Kube):
    """The real API client, plus another writer that updates ``status.progress`` (as the progress reporter
    does) just before the operator's first status write."""

    def __init__(self, api_client: Any) -> None:
        super().__init__(api_client)
        self.interfered = False
        self.conflicts = 0

    def patch(
        self, kind: ResourceKind, namespace: str, name: str, *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """:meth:`Kube.patch`; the other writer's update goes first, before the first run status write."""
        if kind == TRAININGRUN and kwargs.get("subresource") == "status" and not self.interfered:
            self.interfered = True
            other = {"status": {"progress": {"step": 7, "totalSteps": 10}}}
            super().patch(kind, namespace, name, other, subresource="status")
        try:
            return super().patch(kind, namespace, name, *args, **kwargs)
        except KubeError as exc:
            self.conflicts += int(exc.conflict)
            raise


def test_status_write_from_a_stale_read_is_refused_and_redone(operator_plane, namespace):
    operator_plane.apply(run_manifest("stale"), namespace=namespace)
    operator_plane.patch_status(
        "trainingrun", namespace, "stale", {"progress": {"step": 5, "totalSteps": 10}}
    )
    kube = _ConcurrentStatusWriter(operator_plane.api_client())
    runner = Runner(kube, OperatorSettings())
    run = kube.get(TRAININGRUN, namespace, "stale")
    assert runner.reconcile(run, "test") == "Queued"
    assert kube.interfered and kube.conflicts == 1
    status = runs_in(operator_plane, namespace)["stale"]["status"]
    # The other writer's newer progress survives: the operator's status, computed from a read that still
    # had step 5, was refused (409) and recomputed from a fresh read.
    assert status["progress"]["step"] == 7
    assert status["phase"] == "Queued"


def test_two_hundred_runs_at_once_all_launch_once_and_settle(operator_plane, namespace, operator_factory):
    op = operator_factory(namespaces=[namespace])
    names = [f"load-{i:03d}" for i in range(200)]
    operator_plane.apply([run_manifest(n) for n in names], namespace=namespace)
    # Poll slowly: listing 200 runs with kubectl competes with the operator for the CPU.
    wait_phases(operator_plane, namespace, dict.fromkeys(names, "Queued"), timeout=300, interval=3.0)
    assert_exactly_one_job_per_run(operator_plane, namespace, names)

    # Settled: nothing keeps rewriting the runs (no reconcile loop).
    versions = {n: r["metadata"]["resourceVersion"] for n, r in runs_in(operator_plane, namespace).items()}
    time.sleep(5)
    again = {n: r["metadata"]["resourceVersion"] for n, r in runs_in(operator_plane, namespace).items()}
    assert again == versions
    metrics = op.metrics()
    assert "traininghub_reconcile_errors_total{" not in metrics or all(
        line.endswith(" 0.0")
        for line in metrics.splitlines()
        if line.startswith("traininghub_reconcile_errors_total{")
    ), metrics
