"""Checks shared by the reliability tests: what must hold for every run after any fault."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.controlplane.cluster import ControlPlane, wait_until
from tests.support.trainingruns import condition_of

RUN_LABEL = "traininghub.io/run"


_CLIENTS: dict[str, Any] = {}


def runs_in(plane: ControlPlane, namespace: str) -> dict[str, dict[str, Any]]:
    """Every TrainingRun of a namespace, by name (through the API client: cheaper than kubectl when polled)."""
    from kubernetes import client

    key = str(plane.kubeconfig)
    if key not in _CLIENTS:
        _CLIENTS[key] = client.CustomObjectsApi(plane.api_client())
    listed = _CLIENTS[key].list_namespaced_custom_object(
        "traininghub.io", "v1alpha1", namespace, "trainingruns"
    )
    return {r["metadata"]["name"]: r for r in listed["items"]}


def items(plane: ControlPlane, kind: str, namespace: str) -> list[dict[str, Any]]:
    """Every object of a kind in a namespace."""
    return list(plane.kubectl_json("get", kind, "-n", namespace)["items"])


def wait_phases(
    plane: ControlPlane,
    namespace: str,
    expected: dict[str, str],
    timeout: float = 120.0,
    interval: float = 0.5,
) -> dict[str, dict[str, Any]]:
    """Wait until every named run has its expected ``status.phase``; return the runs."""

    def check() -> dict[str, dict[str, Any]] | None:
        runs = runs_in(plane, namespace)
        ok = all((runs.get(n, {}).get("status") or {}).get("phase") == p for n, p in expected.items())
        return runs if ok else None

    def describe() -> str:
        runs = runs_in(plane, namespace)
        wrong = {
            n: (runs.get(n, {}).get("status") or {}).get("phase")
            for n, p in expected.items()
            if (runs.get(n, {}).get("status") or {}).get("phase") != p
        }
        return f"runs not in their expected phase: {dict(list(wrong.items())[:10])}"

    try:
        return wait_until(check, timeout, interval=interval, message="phases")  # type: ignore[no-any-return]
    except AssertionError as exc:
        raise AssertionError(describe()) from exc


def assert_exactly_one_job_per_run(
    plane: ControlPlane, namespace: str, names: list[str], job_kind: str = "pytorchjobs"
) -> None:
    """Each run has exactly one workload, owned by it and recorded in its status, and no ConfigMap (the run
    spec travels in the workload's pod template)."""
    runs = runs_in(plane, namespace)
    jobs = items(plane, job_kind, namespace)
    per_run = Counter(j["metadata"]["labels"].get(RUN_LABEL) for j in jobs)
    assert sorted(j["metadata"]["name"] for j in jobs) == sorted(names), "one workload per run, no extra"
    assert all(per_run[n] == 1 for n in names), per_run
    by_name = {j["metadata"]["name"]: j for j in jobs}
    configs = [
        c for c in items(plane, "configmaps", namespace) if (c["metadata"].get("labels") or {}).get(RUN_LABEL)
    ]
    assert configs == [], "the operator creates no ConfigMap per run"
    for n in names:
        run, job = runs[n], by_name[n]
        owners = job["metadata"]["ownerReferences"]
        assert [o["uid"] for o in owners if o.get("controller")] == [run["metadata"]["uid"]]
        assert run["status"]["workload"]["uid"] == job["metadata"]["uid"], n
        assert run["status"]["observedGeneration"] == run["metadata"]["generation"], n
        accepted = condition_of(run, "Accepted")
        assert accepted and accepted["status"] == "True", (n, accepted)


def events_by_reason(plane: ControlPlane, namespace: str) -> Counter[tuple[str, str]]:
    """(run name, reason) -> number of Events posted on TrainingRuns."""
    out: Counter[tuple[str, str]] = Counter()
    for e in items(plane, "events", namespace):
        if e["involvedObject"].get("kind") == "TrainingRun":
            out[(e["involvedObject"]["name"], e["reason"])] += int(e.get("count") or 1)
    return out
