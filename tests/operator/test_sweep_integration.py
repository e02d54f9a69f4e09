"""The full resync's bulk read against a real API server (Kubernetes 1.20): paged LISTs of the children and
pods, O(N/page) requests, and only the runs whose children or pods changed since their last reconcile."""

from __future__ import annotations

import math

import pytest

from tests.operator.test_runner_reads import _CountingKube
from tests.support.trainingruns import run_manifest
from training_hub.contracts.kinds import POD
from training_hub_operator.api import constants as c
from training_hub_operator.handlers import _needs_resync_or, unfinished_runs
from training_hub_operator.launchers.pytorchjob import PYTORCHJOB
from training_hub_operator.naming import child_labels
from training_hub_operator.runner import Runner
from training_hub_operator.settings import OperatorSettings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

RUNS = 12
PAGE = 5


def test_the_sweep_reads_in_pages_and_finds_only_the_runs_that_changed(operator_plane, namespace):
    kube = _CountingKube(operator_plane.api_client())
    names = [f"sweep-{i:02d}" for i in range(RUNS)]
    operator_plane.apply([run_manifest(n) for n in names], namespace=namespace)
    runner = Runner(kube, OperatorSettings())
    for name in names:
        assert runner.reconcile_by_name(namespace, name, "create") == "Queued"

    # Nothing changed: one LIST per page of PyTorchJobs and of pods (no ConfigMaps: the run spec is in the
    # pod template); nothing per run.
    kube.calls.clear()
    assert runner.changed_since_reconcile([namespace], page_size=PAGE) == set()
    pages = math.ceil(RUNS / PAGE)
    assert sorted(kube.calls) == sorted(
        [("GET", PYTORCHJOB.path(namespace))] * pages + [("GET", POD.path(namespace))]
    )

    # What no event told this runner: a workload's status written, another's metadata changed, a pod created.
    kube.patch(
        PYTORCHJOB,
        namespace,
        "sweep-03",
        {"status": {"conditions": [{"type": "Created", "status": "True", "reason": "PyTorchJobCreated"}]}},
        subresource="status",
    )
    kube.patch(PYTORCHJOB, namespace, "sweep-07", {"metadata": {"annotations": {"example.com/touched": "1"}}})
    labels = child_labels("sweep-10", "worker")
    kube.create(
        POD,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sweep-10-worker-0", "namespace": namespace, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "registry.example/none:1"}]},
        },
    )
    changed = runner.changed_since_reconcile([namespace], page_size=PAGE)
    assert changed == {f"{namespace}/sweep-03", f"{namespace}/sweep-07", f"{namespace}/sweep-10"}
    # An operator of every namespace lists cluster-wide: other namespaces' children are no run of its.
    assert runner.changed_since_reconcile([], page_size=PAGE) == changed

    # The full resync reconciles those (and what needs_resync names: nothing here), no other run.
    keys = unfinished_runs(kube, [namespace], page_size=PAGE, keep=_needs_resync_or(runner, changed))
    assert sorted(n for _, n in keys) == ["sweep-03", "sweep-07", "sweep-10"]
    for _, name in keys:
        runner.reconcile_by_name(namespace, name, "resync")
    # Reconciled, they match again (the changed job and the pod are remembered).
    assert runner.changed_since_reconcile([namespace], page_size=PAGE) == set()
    assert labels[c.LABEL_RUN] == "sweep-10"
