"""The local executor runs pods as processes: volumes, env, host mapping, retries, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from training_hub.local import LocalExecutionError, LocalExecutor, expand
from training_hub.local.environment import LoopbackNetwork, expand_refs
from training_hub.pod import exit_codes

pytestmark = pytest.mark.unit

# A tiny "container": prints what a pod sees, and fails on its first attempt when asked to.
PROBE = r"""
import json, os, pathlib, sys
root = os.environ["TRAINING_HUB_MOUNT_ROOT"]
cfg = pathlib.Path(root, "etc/training-hub/run.json").read_text()
out = pathlib.Path(root, "mnt/pvc/shared/out")
out.mkdir(parents=True, exist_ok=True)
marker = out / ("attempt-" + os.environ["PET_NODE_RANK"])
first = not marker.exists()
marker.write_text("x")
keys = ["PET_NODE_RANK", "PET_NNODES", "PET_MASTER_ADDR", "PET_MASTER_PORT", "MASTER_ADDR", "FROM_CM", "HOSTNAME"]
(out / ("env-" + os.environ["PET_NODE_RANK"] + ".json")).write_text(json.dumps({k: os.environ.get(k) for k in keys}))
print("config", json.loads(cfg)["x"])
code = int(os.environ.get("FAIL_FIRST", "0")) if first else 0
if code:
    pathlib.Path(os.environ["TRAINING_HUB_TERMINATION_LOG"]).write_text("InfrastructureError: first try fails")
sys.exit(code)
"""


def native_objects(nodes: int = 2, fail_first: int = 0, backoff: int = 2) -> list[dict]:
    objs: list[dict] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "r-config"},
            "data": {"run.json": '{"x": 7}'},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "r-nodes"},
            "spec": {"clusterIP": "None"},
        },
    ]
    for i in range(nodes):
        objs.append(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": f"r-node-{i}"},
                "spec": {
                    "backoffLimit": backoff,
                    "template": {
                        "spec": {
                            "hostname": f"r-node-{i}",
                            "subdomain": "r-nodes",
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "trainer",
                                    "image": "example/runtime:1",
                                    "command": ["python", "-c", PROBE],
                                    "env": [
                                        {"name": "PET_NODE_RANK", "value": str(i)},
                                        {"name": "PET_NNODES", "value": str(nodes)},
                                        {"name": "PET_MASTER_ADDR", "value": "r-node-0.r-nodes"},
                                        {"name": "PET_MASTER_PORT", "value": "29500"},
                                        {"name": "MASTER_ADDR", "value": "$(PET_MASTER_ADDR)"},
                                        {"name": "FAIL_FIRST", "value": str(fail_first if i == 1 else 0)},
                                        {
                                            "name": "FROM_CM",
                                            "valueFrom": {
                                                "configMapKeyRef": {"name": "r-config", "key": "run.json"}
                                            },
                                        },
                                    ],
                                    "volumeMounts": [
                                        {
                                            "name": "config",
                                            "mountPath": "/etc/training-hub",
                                            "readOnly": True,
                                        },
                                        {"name": "pvc-shared", "mountPath": "/mnt/pvc/shared"},
                                        {"name": "dshm", "mountPath": "/dev/shm"},
                                    ],
                                }
                            ],
                            "volumes": [
                                {"name": "config", "configMap": {"name": "r-config"}},
                                {"name": "pvc-shared", "persistentVolumeClaim": {"claimName": "shared"}},
                                {"name": "dshm", "emptyDir": {"medium": "Memory"}},
                            ],
                        }
                    },
                },
            }
        )
    return objs


def make_executor(tmp_path: Path, objects: list[dict]) -> tuple[LocalExecutor, io.StringIO]:
    out = io.StringIO()
    ex = LocalExecutor(tmp_path / "root", pvc_root=tmp_path / "claims", output=out)
    ex.add_objects(objects)
    return ex, out


def test_pods_see_volumes_env_and_loopback_rendezvous(tmp_path: Path) -> None:
    objects = native_objects()
    ex, out = make_executor(tmp_path, objects)
    result = ex.run(expand(objects), timeout=60)
    assert result.succeeded, result.message
    assert [p.exit_code for p in result.pods] == [0, 0]
    seen = [json.loads((tmp_path / "claims/shared/out" / f"env-{i}.json").read_text()) for i in range(2)]
    # Host names become loopback; the rendezvous port becomes one free local port, the same for all nodes.
    assert {s["PET_MASTER_ADDR"] for s in seen} == {"127.0.0.1"}
    assert {s["MASTER_ADDR"] for s in seen} == {"127.0.0.1"}
    ports = {s["PET_MASTER_PORT"] for s in seen}
    assert len(ports) == 1 and ports != {"29500"}
    assert [s["PET_NODE_RANK"] for s in seen] == ["0", "1"]
    assert seen[0]["FROM_CM"] == '{"x": 7}'
    assert seen[1]["HOSTNAME"] == "r-node-1"
    text = out.getvalue()
    assert "[r-node-0-0] config 7" in text and "[r-node-1-0] config 7" in text


def test_retryable_failure_restarts_the_gang(tmp_path: Path) -> None:
    objects = native_objects(fail_first=exit_codes.INFRASTRUCTURE)
    ex, _ = make_executor(tmp_path, objects)
    events: list[tuple[str, str]] = []
    ex.on_event = lambda kind, proc: events.append((kind, proc.name))
    result = ex.run(expand(objects), timeout=60)
    assert result.succeeded, result.message
    assert ("retrying", "r-node-1-0") in events
    attempts = {p.name: p.attempts for p in result.pods}
    assert attempts["r-node-1-0"] == 2


def test_bad_input_is_not_retried(tmp_path: Path) -> None:
    objects = native_objects(fail_first=exit_codes.INVALID_INPUT)
    ex, _ = make_executor(tmp_path, objects)
    result = ex.run(expand(objects), timeout=60)
    assert not result.succeeded
    assert result.reason == "InvalidInput"
    assert "r-node-1-0" in result.message and "first try fails" in result.message
    failed = next(p for p in result.pods if p.name == "r-node-1-0")
    assert failed.attempts == 1 and failed.exit_code == exit_codes.INVALID_INPUT


def test_backoff_limit_ends_the_run(tmp_path: Path) -> None:
    objects = native_objects(fail_first=exit_codes.FAILED, backoff=0)
    ex, _ = make_executor(tmp_path, objects)
    result = ex.run(expand(objects), timeout=60)
    assert not result.succeeded and result.reason == "BackoffLimitExceeded"


def test_missing_configmap_is_a_clear_error(tmp_path: Path) -> None:
    objects = [o for o in native_objects() if o["kind"] != "ConfigMap"]
    ex, _ = make_executor(tmp_path, objects)
    with pytest.raises(LocalExecutionError, match="r-config"):
        ex.run(expand(objects), timeout=30)


def test_unknown_command_is_a_clear_error(tmp_path: Path) -> None:
    objects = native_objects(nodes=1)
    objects[-1]["spec"]["template"]["spec"]["containers"][0]["command"] = ["no-such-program-here"]
    ex, _ = make_executor(tmp_path, objects)
    with pytest.raises(LocalExecutionError, match="no-such-program-here"):
        ex.run(expand(objects), timeout=30)


def test_env_references_expand_like_kubernetes() -> None:
    env = {"A": "x", "B": "y"}
    assert expand_refs("$(A)-$(B)-$(C)-$$(A)", env) == "x-y-$(C)-$(A)"


def test_network_maps_known_hosts_only() -> None:
    net = LoopbackNetwork({"job-master-0", "job-master-0.ns.svc"})
    port = net.map_value("MASTER_PORT", "23456")
    assert port != "23456" and net.map_value("PET_MASTER_PORT", "23456") == port
    assert net.map_value("MASTER_ADDR", "job-master-0") == "127.0.0.1"
    assert net.map_value("PET_RDZV_ENDPOINT", "job-master-0.ns.svc:23456") == f"127.0.0.1:{port}"
    assert net.map_value("HF_ENDPOINT", "example.com") == "example.com"


def test_network_knows_pods_behind_a_service_before_they_exist() -> None:
    net = LoopbackNetwork()
    net.add_services([{"metadata": {"name": "run", "namespace": "ns"}}])
    assert net.map_value("PET_MASTER_ADDR", "run-node-0.run.ns.svc") == "127.0.0.1"
    assert net.map_value("PET_MASTER_ADDR", "run-node-0.run") == "127.0.0.1"
    assert net.map_value("PET_MASTER_ADDR", "run-node-0.other.ns.svc") == "run-node-0.other.ns.svc"
