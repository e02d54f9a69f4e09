"""The resync reconciles only the runs that need it, against a real API server (Kubernetes 1.20).

A run this process reconciled, unchanged since, with no timer due, is skipped: the resync costs one LIST
page for it and nothing else. A run unknown to the process, changed since (its status, a child whose
reconcile did not get through), or whose timer is due (the start deadline) is reconciled.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.operator.test_runner_reads import _CountingKube
from tests.support.trainingruns import run_manifest
from training_hub.contracts.kinds import TRAININGRUN
from training_hub_operator import metrics
from training_hub_operator.handlers import unfinished_runs
from training_hub_operator.kube import KubeError
from training_hub_operator.launchers.pytorchjob import PYTORCHJOB
from training_hub_operator.runner import Runner
from training_hub_operator.settings import OperatorSettings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]


class _FailingKube(_CountingKube):
    """A real Kube that can be told to fail its next request (the API server briefly unavailable)."""

    fail_next = False

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        if self.fail_next:
            self.fail_next = False
            raise KubeError(503, "ServiceUnavailable")
        return super().request(method, path, body, **kwargs)


def _skipped() -> float:
    return metrics.RESYNC_SKIPPED._value.get()  # type: ignore[attr-defined]


def test_the_resync_skips_settled_runs_and_reconciles_unknown_changed_and_due_ones(operator_plane, namespace):
    kube = _FailingKube(operator_plane.api_client())
    operator_plane.apply([run_manifest("settled"), run_manifest("unknown")], namespace=namespace)
    runner = Runner(kube, OperatorSettings())
    assert runner.reconcile_by_name(namespace, "settled", "create") == "Queued"

    def resync(now: float | None = None) -> list[str]:
        return sorted(
            n for _, n in unfinished_runs(kube, [namespace], keep=lambda run: runner.needs_resync(run, now))
        )

    # A run this process never reconciled (e.g. after a restart) is reconciled; the settled one is not.
    skipped = _skipped()
    kube.calls.clear()
    assert resync() == ["unknown"]
    assert kube.calls == [("GET", TRAININGRUN.path(namespace))]  # one LIST page, nothing per run
    assert _skipped() == skipped + 1
    assert runner.reconcile_by_name(namespace, "unknown", "resync") == "Queued"
    kube.calls.clear()
    assert resync() == []
    assert kube.calls == [("GET", TRAININGRUN.path(namespace))]
    # Another process starting is a fresh runner: it knows nothing, so it reconciles everything.
    assert sorted(
        n for _, n in unfinished_runs(kube, [namespace], keep=Runner(kube, OperatorSettings()).needs_resync)
    ) == [
        "settled",
        "unknown",
    ]

    # Its timer due: the start deadline (the operator's default, 30 min after the workload was created).
    body = kube.get(TRAININGRUN, namespace, "settled") or {}
    assert body["status"]["phase"] == "Queued" and body["status"]["pendingSince"]
    assert resync(now=time.time() + 1700) == []
    assert resync(now=time.time() + 1802) == ["settled", "unknown"]

    # The run changed (a status write by someone else, e.g. the training pod's progress): reconciled.
    kube.patch(TRAININGRUN, namespace, "settled", {"status": {"progress": {"step": 1}}}, subresource="status")
    assert resync() == ["settled"]
    assert runner.reconcile_by_name(namespace, "settled", "resync") == "Queued"
    assert resync() == []

    # A child changed and the reconcile it triggered failed: the resync reconciles the run (and not only
    # the retry loop), until a reconcile gets through.
    job = kube.patch(PYTORCHJOB, namespace, "settled", {"metadata": {"labels": {"touched": "yes"}}})
    kube.fail_next = True
    with pytest.raises(KubeError):
        runner.child_event(namespace, "settled", job, "PyTorchJob", "pytorchjob-event", False)
    assert resync() == ["settled"]
    assert runner.reconcile_by_name(namespace, "settled", "resync") == "Queued"
    assert resync() == []
    # The child's event, now seen by the last reconcile, changes nothing.
    assert runner.child_event(namespace, "settled", job, "PyTorchJob", "pytorchjob-event", False) is None
    assert resync() == []

    # A deleted run is forgotten.
    runner.forget(namespace, "settled")
    assert resync() == ["settled"]
