"""A battery of malformed runs against the real operator and a real API server: each is refused by the
schema or not accepted with a readable message, nothing of it is left in the cluster, the operator's memory
stays flat and a good run beside them launches as usual."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane, wait_until
from tests.support.model_configs import LLAMA_8B_CONFIG
from tests.support.trainingruns import get_run, run_manifest

pytestmark = pytest.mark.integration


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def huge_config() -> dict[str, Any]:
    return {**copy.deepcopy(LLAMA_8B_CONFIG), "num_hidden_layers": 10**6}


#: name -> (spec overrides, condition type that must be False, words its reason or message must hold).
BATTERY: dict[str, tuple[dict[str, Any], str, tuple[str, ...]]] = {
    "long-label": (
        {"runtime": {"image": "r/x:1", "labels": {"team": "x" * 300}}},
        "Accepted",
        ("labels[team]", "must be no more than 63 characters"),
    ),
    "bad-annotation": (
        {"runtime": {"image": "r/x:1", "annotations": {"bad key!": "v"}}},
        "Accepted",
        ("annotations", "bad key!"),
    ),
    "bad-selector": (
        {"runtime": {"image": "r/x:1", "nodeSelector": {"pool": "a b"}}},
        "Accepted",
        ("nodeSelector[pool]",),
    ),
    "huge-model": (
        {"model": {"uri": "pvc://models/x", "config": huge_config()}},
        "Planned",
        ("num_hidden_layers", "2048"),
    ),
    # The run spec the pods receive in TRAINING_HUB_RUN_SPEC is longer than Linux passes in one
    # environment string (128 KiB): refused before anything is created.
    "oversized-spec": (
        {
            "runtime": {"image": "r/x:1"},
            "hyperparameters": {
                "learning_rate": 1e-5,
                "max_seq_len": 4096,
                "max_tokens_per_gpu": 8192,
                "unmask_roles": ["x" * (130 * 1024)],
            },
        },
        "Accepted",
        ("RunSpecTooLarge", "TRAINING_HUB_RUN_SPEC", "128 KiB"),
    ),
    # Passes every local check; the API server refuses the Job (422): the Service made before it is
    # deleted and the API's message is quoted.
    "bad-toleration": (
        {"runtime": {"image": "r/x:1", "tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}},
        "Accepted",
        ("refused to create", "value must be empty when `operator` is 'Exists'"),
    ),
}


def children(plane: ControlPlane, namespace: str, run: str) -> list[str]:
    out = plane.kubectl(
        "get",
        "configmaps,services,jobs,pytorchjobs,pods",
        "-n",
        namespace,
        "-l",
        f"traininghub.io/run={run}",
        "-o",
        "name",
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_malformed_runs_are_refused_cleanly_and_never_hurt_other_runs(
    operator_plane: ControlPlane, namespace: str, operator_factory: Any
) -> None:
    plane = operator_plane
    op = operator_factory(namespaces=[namespace])
    time.sleep(2)
    before = rss_kib(op.pid)

    for name, (spec, _, _) in BATTERY.items():
        plane.apply(run_manifest(name, launcher="native", **spec), namespace=namespace)
    # A bad URI scheme is refused with the accepted schemes listed (never a raw regex).
    bad_uri = run_manifest("bad-uri", launcher="native", data={"uri": "s4://bucket/x"})
    plane.apply(bad_uri, namespace=namespace)
    good = run_manifest(
        "good", launcher="native", resources={"nodes": 1, "gpusPerNode": 1, "gpuMemory": "80Gi"}
    )
    plane.apply(good, namespace=namespace)

    for name, (_, type_, words) in BATTERY.items():

        def settled(name: str = name, type_: str = type_) -> dict[str, Any]:
            conds = {
                c["type"]: c
                for c in (get_run(plane, namespace, name).get("status") or {}).get("conditions") or []
            }
            c = conds.get(type_) or {}
            return c if c.get("status") == "False" else {}

        cond = wait_until(settled, 60, message=f"{name}: {type_}=False")
        assert all(w in f"{cond['reason']}: {cond['message']}" for w in words), (name, cond)
        assert get_run(plane, namespace, name)["status"]["phase"] == "Failed", name
    uri = wait_until(
        lambda: next(
            (
                c
                for c in (get_run(plane, namespace, "bad-uri").get("status") or {}).get("conditions") or []
                if c["type"] == "Accepted"
            ),
            None,
        ),
        60,
    )
    assert uri["status"] == "False" and "s3://" in uri["message"] and "pvc://" in uri["message"], uri
    assert "^" not in uri["message"], uri  # no regular expression

    # The good run launched beside them: its node Job exists.
    wait_until(
        lambda: "job.batch/good" in children(plane, namespace, "good"), 60, message="the good run's Job"
    )

    # Nothing of the bad runs stays (also after a few resyncs), and none is created again.
    time.sleep(3)
    for name in [*BATTERY, "bad-uri"]:
        assert children(plane, namespace, name) == [], (name, children(plane, namespace, name))
    events = plane.events_for(namespace, "bad-toleration", reasons=("CreateRefused",))
    assert len([e for e in events if e["reason"] == "CreateRefused"]) == 1
    assert rss_kib(op.pid) - before < 80 * 1024, (before, rss_kib(op.pid))
