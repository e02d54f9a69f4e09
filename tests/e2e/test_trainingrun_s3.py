"""End to end: a TrainingRun whose model, data and output are ``s3://`` locations in a real S3-compatible
server on loopback (moto, authentication on), on the local control plane.

The operator (a real subprocess) renders the run with ``spec.storage`` (credentials from a Secret, the
endpoint override); kube-controller-manager's Job controller creates the pod and :class:`LocalKubelet` runs
it as a process (the Secret's keys resolved from the API as a kubelet does, the scratch ``emptyDir`` fresh for
every pod). The pod stages the model and data from the bucket, trains into its scratch volume and mirrors its
checkpoints to the bucket. SIGTERM of the pod (preemption) makes it write its JIT checkpoint and mirror it;
the Job's replacement pod starts on an empty scratch volume, restores from the bucket and continues. The run
ends ``Succeeded`` with ``status.outputs.modelUri`` the bucket's final model, shown by ``kubectl get tr``.
"""

from __future__ import annotations

import io
import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.operator_process import OperatorProcess
from tests.support.s3server import S3Server
from tests.support.trainingruns import trainingrun, wait_finished
from training_hub.local import LocalExecutor
from training_hub.local.kubelet import LocalKubelet

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 300.0
ENV = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def storage_plane(control_plane: ControlPlane) -> Iterator[ControlPlane]:
    control_plane.install_crds(*sorted((REPO / "crds").glob("*.yaml")))
    yield control_plane


def s3_run(
    name: str, bucket: str, server: S3Server, *, max_steps: int, secret: str = "s3-creds", nodes: int = 1
) -> dict:
    spec = {
        "algorithm": "sft",
        "model": {"uri": f"s3://{bucket}/models/tiny"},
        "data": {"uri": f"s3://{bucket}/data/train.jsonl"},
        "output": {"uri": f"s3://{bucket}/runs/{name}"},
        "storage": {"secretRef": {"name": secret}, "endpoint": server.endpoint, "region": server.region},
        "hyperparameters": {
            "effective_batch_size": 16,
            "learning_rate": 3e-3,
            "max_seq_len": 64,
            "max_tokens_per_gpu": 160,
            "seed": 3,
            "max_steps": max_steps,
            "num_epochs": 2,
            "save_samples": 64,
        },
        "resources": {"nodes": nodes, "gpusPerNode": 0},
        "launcher": "native",
        "backoffLimit": 3,
    }
    return trainingrun(name, spec)


def credentials_secret(name: str, access_key: str, secret_key: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key},
    }


@pytest.fixture
def inputs_bucket(s3_server: S3Server, bucket: str, tiny_model_dir: Path, messages_data: Path) -> str:
    """``bucket`` holding the tiny model (``models/tiny/``) and the chat data (``data/train.jsonl``)."""
    client = s3_server.client()
    for path in sorted(p for p in tiny_model_dir.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"models/tiny/{path.relative_to(tiny_model_dir).as_posix()}")
    client.upload_file(str(messages_data), bucket, "data/train.jsonl")
    return bucket


@dataclass(frozen=True)
class S3Runs:
    """What every operator test here uses: the plane, the test's namespace, its operators, the S3 server and
    a scratch directory for the pods' volumes."""

    plane: ControlPlane
    namespace: str
    operator_factory: Callable[..., OperatorProcess]
    server: S3Server
    tmp_path: Path

    def start(self, secret: dict, run: dict) -> tuple[OperatorProcess, LocalExecutor, io.StringIO]:
        """Apply the credentials Secret, start an operator for the namespace and apply the run; return the
        operator, a local executor for its pods (output into the returned buffer)."""
        self.plane.apply(secret, self.namespace)
        operator = self.operator_factory(namespaces=[self.namespace])
        self.plane.apply(run, namespace=self.namespace)
        log = io.StringIO()
        root, claims = self.tmp_path / "root", self.tmp_path / "claims"
        return operator, LocalExecutor(root, pvc_root=claims, output=log, extra_env=ENV), log

    def kubelet(self, executor: LocalExecutor, name: str) -> LocalKubelet:
        """The local kubelet running the pods of run ``name``."""
        selector = f"traininghub.io/run={name}"
        return LocalKubelet(self.plane.api_client(), self.namespace, executor, label_selector=selector)

    def wait_finished(self, name: str, log: io.StringIO) -> dict[str, Any]:
        """The run's status once it has finished (:func:`tests.support.trainingruns.wait_finished`)."""
        return wait_finished(self.plane, self.namespace, name, RUN_TIMEOUT, log)


@pytest.fixture
def s3_runs(
    storage_plane: ControlPlane,
    namespace: str,
    operator_factory: Callable[..., OperatorProcess],
    s3_server: S3Server,
    tmp_path: Path,
) -> S3Runs:
    """The fixtures every operator test here uses, together."""
    return S3Runs(storage_plane, namespace, operator_factory, s3_server, tmp_path)


def preempt_at_a_checkpoint(
    runs: S3Runs, executor: LocalExecutor, bucket: str, prefix: str, gang: int
) -> list[str]:
    """Once ``gang`` pods run and a full state is complete under ``prefix``, SIGTERM them (a preemption: the
    pods are asked to stop); return the pods (none if that did not happen within ``RUN_TIMEOUT``)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        running = [n for n, p in executor.processes.items() if p.poll() is None]
        if len(running) >= gang and any(
            c.startswith("full_state/") for c in runs.server.completed(bucket, prefix)
        ):
            for pod in running:
                executor.kill(pod, signal.SIGTERM)
            return running
        time.sleep(0.1)
    return []


def remote_steps(server: S3Server, bucket: str, checkpoint: str) -> list[int]:
    """The steps in the ``training_metrics.jsonl`` of a checkpoint in the bucket."""
    body = server.client().get_object(Bucket=bucket, Key=f"{checkpoint}/training_metrics.jsonl")
    return [json.loads(line)["step"] for line in body["Body"].read().decode().splitlines()]


def test_trainingrun_trains_from_s3_survives_a_pod_kill_and_writes_the_model_to_the_bucket(
    s3_runs: S3Runs, inputs_bucket: str
) -> None:
    name, server = "s3-run", s3_runs.server
    secret = credentials_secret("s3-creds", server.access_key, server.secret_key)
    run = s3_run(name, inputs_bucket, server, max_steps=24)
    operator, executor, log = s3_runs.start(secret, run)
    prefix = f"runs/{name}/"
    with s3_runs.kubelet(executor, name):
        killed = preempt_at_a_checkpoint(s3_runs, executor, inputs_bucket, prefix, gang=1)
        assert killed, f"no checkpoint reached the inputs_bucket while the pod ran:\n{log.getvalue()[-4000:]}"
        status = s3_runs.wait_finished(name, log)
    text = log.getvalue()
    assert status["phase"] == "Succeeded", f"{status}\n{text[-5000:]}\n{operator.log_tail()}"
    assert int(status.get("restarts") or 0) >= 1, status
    model_uri = f"s3://{inputs_bucket}/runs/{name}/hf_format/final"
    assert status["outputs"] == {"uri": f"s3://{inputs_bucket}/runs/{name}", "modelUri": model_uri}

    # Staged from the inputs_bucket, with progress; the first pod wrote its JIT checkpoint at SIGTERM.
    assert (
        f"staging s3://{inputs_bucket}/data/train.jsonl" in text
        and f"staging s3://{inputs_bucket}/models/tiny" in text
    )
    assert "preempted by SIGTERM" in text
    # The replacement pod started on an empty scratch volume and continued from the inputs_bucket.
    assert "restored checkpoint" in text and "resuming from" in text, text[-5000:]
    done = server.completed(inputs_bucket, prefix)
    assert "hf_format/final" in done and any(d.startswith("full_state/") for d in done), done
    assert any(k.endswith(".safetensors") for k in server.keys(inputs_bucket, prefix + "hf_format/final/"))
    last_state = max((d for d in done if d.startswith("full_state/")), key=lambda d: int(d.split("_")[-1]))
    steps = remote_steps(server, inputs_bucket, f"{prefix}{last_state}")
    assert last_state == "full_state/samples_384", done  # 24 steps of 16 samples
    assert steps == list(range(1, 25)), steps  # one continuous step count across both pods
    # `kubectl get tr` shows where the model is.
    table = s3_runs.plane.kubectl("get", "tr", name, "-n", s3_runs.namespace).stdout
    assert "OUTPUT" in table and model_uri in table, table


def test_two_nodes_with_an_s3_output_are_preempted_and_both_resume_from_the_bucket(
    s3_runs: S3Runs, inputs_bucket: str
) -> None:
    """Each node trains into its own scratch volume; SIGTERM of the whole gang (a preemption) saves and
    mirrors the JIT checkpoint; the replacement pods (fresh volumes, both nodes) restore it and continue."""
    name, server = "s3-gang", s3_runs.server
    secret = credentials_secret("s3-creds", server.access_key, server.secret_key)
    run = s3_run(name, inputs_bucket, server, max_steps=16, nodes=2)
    operator, executor, log = s3_runs.start(secret, run)
    prefix = f"runs/{name}/"
    with s3_runs.kubelet(executor, name):
        killed = preempt_at_a_checkpoint(s3_runs, executor, inputs_bucket, prefix, gang=2)
        assert killed, (
            f"no checkpoint reached the inputs_bucket while both pods ran:\n{log.getvalue()[-4000:]}"
        )
        status = s3_runs.wait_finished(name, log)
    text = log.getvalue()
    assert status["phase"] == "Succeeded", f"{status}\n{text[-6000:]}\n{operator.log_tail()}"
    assert status["outputs"]["modelUri"] == f"s3://{inputs_bucket}/runs/{name}/hf_format/final"
    done = server.completed(inputs_bucket, prefix)
    # The JIT checkpoint: at SIGTERM both training processes save the full state after the current step and
    # exit 143; the replacement pods restore the newest full state from the bucket. It usually falls between
    # the scheduled ones (every 64 samples), but lands on one when the kill comes late (a loaded machine).
    terminated = [line for line in text.splitlines() if "the training process exited with 143" in line]
    assert len(terminated) >= 2, text[-6000:]
    jit = re.findall(rf"restored checkpoint s3://{inputs_bucket}/{prefix}(full_state/samples_\d+)", text)[:1]
    assert jit and jit[0] in done, (jit, done)
    # Both replacement pods restored it into their own fresh scratch volume (node 0 and node 1).
    restored = [
        line
        for line in text.splitlines()
        if f"restored checkpoint s3://{inputs_bucket}/{prefix}{jit[0]}" in line
    ]
    assert any(line.startswith("[s3-gang-node-1-") for line in restored), text[-6000:]
    assert any(not line.startswith("[s3-gang-node-1-") for line in restored), text[-6000:]
    steps = remote_steps(server, inputs_bucket, f"{prefix}full_state/samples_256")
    assert steps == list(range(1, 17)), (steps, done)


def test_trainingrun_with_bad_credentials_fails_with_the_stores_reason(s3_runs: S3Runs, bucket: str) -> None:
    name = "s3-bad"
    secret = credentials_secret("bad-creds", "AKIAEXAMPLEWRONG", "nope")
    run = s3_run(name, bucket, s3_runs.server, max_steps=2, secret="bad-creds")
    operator, executor, log = s3_runs.start(secret, run)
    with s3_runs.kubelet(executor, name):
        status = s3_runs.wait_finished(name, log)
    assert status["phase"] == "Failed", f"{status}\n{log.getvalue()[-3000:]}\n{operator.log_tail()}"
    failed = {c["type"]: c for c in status["conditions"]}["Failed"]
    assert failed["reason"] == "StorageCredentialsInvalid", failed
    assert "InvalidAccessKeyId" in failed["message"] and f"s3://{bucket}/runs/{name}" in failed["message"]
    assert "Traceback" not in failed["message"]


@pytest.mark.integration
def test_local_mode_runs_an_s3_trainingrun_with_the_secret_from_the_same_manifest(
    s3_server: S3Server, inputs_bucket: str, tmp_path: Path
) -> None:
    """``training-hub run --local`` on the YAML one would ``kubectl apply`` (Secret + TrainingRun)."""
    import yaml

    from training_hub.local.runner import run_local

    manifest = tmp_path / "run.yaml"
    manifest.write_text(
        yaml.safe_dump_all(
            [
                credentials_secret("s3-creds", s3_server.access_key, s3_server.secret_key),
                s3_run("local-s3", inputs_bucket, s3_server, max_steps=4),
            ]
        )
    )
    out = io.StringIO()
    _, result = run_local(manifest, root=tmp_path / "root", timeout=RUN_TIMEOUT, output=out, extra_env=ENV)
    assert result.succeeded, out.getvalue()[-4000:]
    assert f"outputs in s3://{inputs_bucket}/runs/local-s3" in out.getvalue()
    assert "hf_format/final" in s3_server.completed(inputs_bucket, "runs/local-s3/")
