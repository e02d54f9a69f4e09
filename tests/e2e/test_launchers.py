"""End to end: a TrainingRun on the local control plane becomes pods that train together.

The operator (a real subprocess) plans and renders the run; the pods run as local processes:

* ``native``: kube-controller-manager's Job controller creates the node pods; :class:`LocalKubelet` runs
  them and reports their phases back, so the real Job controller completes (or retries) the Jobs;
* ``pytorchjob`` / ``trainjob``: the test plays Kubeflow's controller (:class:`KubeflowEmulator`): it runs
  the workload's pods with the env that controller injects and writes the workload's conditions.

Each run trains the tiny model across two "nodes" through the real rendezvous (torchrun, gloo) and must
end ``Succeeded`` with a checkpoint in the output directory.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane

# Own plane: these tests install the Kubeflow CRDs, and a plane that serves TrainJob makes ``launcher: auto``
# choose it, which the other tests of this directory do not expect.
from tests.controlplane.fixtures import own_control_plane  # noqa: F401
from tests.support.kubeflow_emulation import KubeflowEmulator
from tests.support.planes import own_launch_plane  # noqa: F401
from tests.support.runs import tiny_run
from tests.support.trainingruns import wait_finished
from training_hub.local import LocalExecutor
from training_hub.local.kubelet import LocalKubelet

pytestmark = pytest.mark.e2e

RUN_TIMEOUT = float(os.environ.get("TH_E2E_RUN_TIMEOUT", "300"))
ENV = {"OMP_NUM_THREADS": "1"}


def checkpoints(out: Path) -> list[Path]:
    return sorted(p for p in (out / "hf_format").glob("*") if any(p.glob("*.safetensors")))


def execute(
    plane: ControlPlane, namespace: str, name: str, launcher: str, executor: LocalExecutor
) -> dict[str, Any]:
    """Run the workload the operator created for ``name`` until the TrainingRun finished."""
    if launcher == "native":
        with LocalKubelet(
            plane.api_client(), namespace, executor, label_selector=f"traininghub.io/run={name}"
        ):
            return wait_finished(plane, namespace, name, RUN_TIMEOUT, log=executor.output)  # type: ignore[arg-type]
    kind = {"pytorchjob": "PyTorchJob", "trainjob": "TrainJob"}[launcher]
    result = KubeflowEmulator(plane.api_client(), namespace, kind, name, executor).run(timeout=RUN_TIMEOUT)
    assert result.succeeded, result.message
    return wait_finished(plane, namespace, name, RUN_TIMEOUT)


@pytest.mark.parametrize("algorithm", ["sft", "lora_sft"])
@pytest.mark.parametrize("launcher", ["native", "pytorchjob", "trainjob"])
def test_two_nodes_train_together(
    launch_plane: ControlPlane,
    namespace: str,
    operator_factory: Any,
    tmp_path: Path,
    launcher: str,
    algorithm: str,
) -> None:
    operator = operator_factory(namespaces=[namespace])
    name = f"{launcher}-{algorithm.replace('_', '-')}"
    launch_plane.apply(tiny_run(name, algorithm=algorithm, launcher=launcher), namespace=namespace)
    log = io.StringIO()
    executor = LocalExecutor(tmp_path / "root", pvc_root=tmp_path / "claims", output=log, extra_env=ENV)
    status = execute(launch_plane, namespace, name, launcher, executor)
    assert status["phase"] == "Succeeded", f"{status}\n{log.getvalue()[-4000:]}\n{operator.log_tail()}"
    assert status["launcher"]["name"] == launcher
    assert {c["type"]: c["status"] for c in status["conditions"]}["Succeeded"] == "True"
    out = tmp_path / "claims" / "out" / name
    assert checkpoints(out), f"no checkpoint in {out}: {sorted(p.name for p in out.rglob('*'))[:40]}"
    text = log.getvalue()
    # Both nodes took part: node 0 and node 1 each ran, in one 2-process world.
    assert "node 0 of 2 x 1 processes" in text and "node 1 of 2 x 1 processes" in text
    summary = json.loads((out / "training_summary_node0.json").read_text())
    assert summary.get("world_size") == 2, summary


def test_native_node_killed_mid_run_resumes_from_checkpoint(
    launch_plane: ControlPlane, namespace: str, operator_factory: Any, tmp_path: Path
) -> None:
    operator = operator_factory(namespaces=[namespace])
    name = "resume"
    launch_plane.apply(
        tiny_run(name, max_steps=200, save_samples=400, samples=64, num_epochs=30, backoff_limit=4),
        namespace=namespace,
    )
    log = io.StringIO()
    executor = LocalExecutor(tmp_path / "root", pvc_root=tmp_path / "claims", output=log, extra_env=ENV)
    out = tmp_path / "claims" / "out" / name
    killed: list[str] = []
    with LocalKubelet(
        launch_plane.api_client(), namespace, executor, label_selector=f"traininghub.io/run={name}"
    ):
        deadline = time.monotonic() + RUN_TIMEOUT
        while not killed and time.monotonic() < deadline:
            state = sorted((out / "full_state").glob("samples_*")) if (out / "full_state").exists() else []
            node1 = [n for n, p in executor.processes.items() if "node-1" in n and p.poll() is None]
            if state and node1:
                executor.kill(node1[0], signal.SIGKILL)
                killed.append(node1[0])
            time.sleep(0.05)
        assert killed, f"no checkpoint appeared while node 1 ran:\n{log.getvalue()[-3000:]}"
        status = wait_finished(launch_plane, namespace, name, RUN_TIMEOUT, log=log)
    assert status["phase"] == "Succeeded", f"{status}\n{log.getvalue()[-4000:]}\n{operator.log_tail()}"
    assert int(status.get("restarts") or 0) >= 1
    summary = json.loads((out / "training_summary_node0.json").read_text())
    assert summary.get("resumed_from"), summary
    assert "resuming from" in log.getvalue()
