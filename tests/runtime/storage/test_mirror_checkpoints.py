"""``checkpoint_storage`` and ``enable_jit_checkpoint`` (upstream training_hub 0.11 semantics) against a real
S3-compatible server on loopback (moto, authentication on).

* every checkpoint and the final model are mirrored to the bucket, each with its completion marker, while
  training runs (not only at the end);
* a process SIGTERMed mid-run writes its JIT checkpoint, mirrors it, and exits 143;
* a run on a fresh, empty output directory restores the newest complete checkpoint from the bucket and
  continues its step count;
* a remote checkpoint without its completion marker is never restored;
* bad credentials and a missing bucket stop the run before training, with the store's own message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import training_hub
from tests.support.s3server import S3Server
from tests.support.tiny_training import read_metrics, wait_for_steps
from training_hub.engine import checkpoint as ckpt
from training_hub.jit_checkpoint import UPLOAD_URI_ENV, RemoteCheckpointSyncCallback
from training_hub.storage.mirror import COMPLETE_MARKER, CheckpointMirror
from training_hub.storage.objectstore import StorageError

pytestmark = pytest.mark.integration


class BucketWatcher:
    """A training callback that lists the bucket's completed checkpoints after every step."""

    def __init__(self, server: S3Server, bucket: str, prefix: str) -> None:
        self.server, self.bucket, self.prefix = server, bucket, prefix
        self.seen: dict[int, list[str]] = {}

    def on_step(self, metrics: dict[str, Any]) -> None:
        time.sleep(0.3)  # give the background upload of the previous step's checkpoint a moment
        self.seen[int(metrics["step"])] = self.server.completed(self.bucket, self.prefix)


#: ``tiny_params(out, **overrides)``, the fixture of ``tests/conftest.py``.
TinyParams = Callable[..., dict[str, Any]]


@pytest.mark.usefixtures("s3_env")
def test_sft_mirrors_every_checkpoint_and_the_final_model_during_training(
    s3_server: S3Server, bucket: str, tmp_path: Path, tiny_params: TinyParams
) -> None:
    out = tmp_path / "out"
    uri = f"s3://{bucket}/run1"
    watcher = BucketWatcher(s3_server, bucket, "run1")
    params = tiny_params(out, max_steps=6, save_samples=32)
    result = training_hub.sft(**params, checkpoint_storage=uri, callbacks=[watcher])

    done = s3_server.completed(bucket, "run1")
    assert "hf_format/final" in done
    assert {"full_state/samples_32", "hf_format/samples_32", "full_state/samples_96"} <= set(done)
    keys = s3_server.keys(bucket, "run1/hf_format/final/")
    assert any(k.endswith(".safetensors") for k in keys) and any(k.endswith("config.json") for k in keys)
    # Uploaded while training ran: a checkpoint of step 2 was complete in the bucket before the last step.
    assert any("full_state/samples_32" in seen for step, seen in watcher.seen.items() if step < 6), (
        watcher.seen
    )
    # The staging copies are gone; the summary names what was mirrored.
    assert not (out / ".upload_staging").exists()
    assert result["output_model_uri"] == f"{uri}/hf_format/final"
    assert f"{uri}/hf_format/final" in result["mirrored"]


def _engine_process(params: dict[str, Any], tmp: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    params_file = tmp / f"params-{time.monotonic_ns()}.json"
    params_file.write_text(json.dumps(params))
    cmd = [sys.executable, "-m", "training_hub.engine", "--algorithm", "sft", "--params", str(params_file)]
    full_env = {**os.environ, **env, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _sigterm_after_steps(proc: subprocess.Popen[str], out: Path, steps: int) -> tuple[str, str]:
    wait_for_steps(proc, out, steps)
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=180)


@pytest.mark.usefixtures("s3_env")
def test_upstreams_upload_callback_does_not_upload_again_what_checkpoint_storage_mirrors(
    s3_server: S3Server, bucket: str, tmp_path: Path, tiny_params: TinyParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Upstream's scripts pass checkpoint_storage and add RemoteCheckpointSyncCallback with the same URI in
    # $TRAINING_HUB_CHECKPOINT_UPLOAD_URI: the engine's mirror uploads each checkpoint once, the callback skips it.
    marker = f"{bucket}/same/hf_format/final/{COMPLETE_MARKER}"
    monkeypatch.setenv(UPLOAD_URI_ENV, f"s3://{bucket}/same/")
    params = tiny_params(tmp_path / "a", max_steps=2, save_samples=0)
    training_hub.sft(
        **params, checkpoint_storage=f"s3://{bucket}/same", callbacks=[RemoteCheckpointSyncCallback()]
    )
    assert "hf_format/final" in s3_server.completed(bucket, "same")
    assert s3_server.requests("PUT", marker) == 1
    # Another URI: the callback uploads there too (it is not simply off).
    monkeypatch.setenv(UPLOAD_URI_ENV, f"s3://{bucket}/other")
    params = tiny_params(tmp_path / "b", max_steps=2, save_samples=0)
    training_hub.sft(
        **params, checkpoint_storage=f"s3://{bucket}/own", callbacks=[RemoteCheckpointSyncCallback()]
    )
    assert "hf_format/final" in s3_server.completed(bucket, "own")
    assert "hf_format/final" in s3_server.completed(bucket, "other")


def test_sigterm_mid_run_mirrors_the_jit_checkpoint_and_a_fresh_directory_resumes_from_the_bucket(
    s3_server: S3Server, s3_env: dict[str, str], bucket: str, tmp_path: Path, tiny_params: TinyParams
) -> None:
    uri = f"s3://{bucket}/preempt"
    first = tmp_path / "pod1"
    params = tiny_params(first, num_epochs=200, save_samples=0, checkpoint_at_epoch=False)
    params.update(checkpoint_storage=uri, enable_jit_checkpoint=True)
    proc = _engine_process(params, tmp_path, s3_env)
    _, stderr = _sigterm_after_steps(proc, first, 3)
    assert proc.returncode == 143, stderr[-3000:]
    assert "preempted by SIGTERM" in stderr
    last = read_metrics(first)[-1]
    jit = f"full_state/samples_{last['samples_seen']}"
    assert jit in s3_server.completed(bucket, "preempt"), (jit, s3_server.keys(bucket))
    remote_state = s3_server.client().get_object(Bucket=bucket, Key=f"preempt/{jit}/trainer_state.json")
    assert json.loads(remote_state["Body"].read())["step"] == last["step"]

    # A fresh pod: an empty output directory, the same bucket. It continues at the next step.
    second = tmp_path / "pod2"
    resumed = dict(params, ckpt_output_dir=str(second), num_epochs=1, max_steps=last["step"] + 2)
    result = training_hub.sft(**resumed)
    assert result["resumed_from"] and result["resumed_from"].endswith(jit), result
    rows = read_metrics(second)
    steps = [r["step"] for r in rows]
    assert steps == list(range(1, last["step"] + 3)), steps  # restored history, then the new steps
    assert rows[last["step"]]["samples_seen"] > last["samples_seen"]
    assert f"full_state/samples_{rows[-1]['samples_seen']}" in s3_server.completed(bucket, "preempt")
    assert "hf_format/final" in s3_server.completed(bucket, "preempt")


def test_enable_jit_checkpoint_false_ends_at_sigterm_without_a_checkpoint(
    tmp_path: Path, tiny_params: TinyParams
) -> None:
    out = tmp_path / "out"
    params = tiny_params(out, num_epochs=200, save_samples=0, checkpoint_at_epoch=False)
    params["enable_jit_checkpoint"] = False
    proc = _engine_process(params, tmp_path, {})
    _, stderr = _sigterm_after_steps(proc, out, 2)
    assert proc.returncode == -signal.SIGTERM, stderr[-2000:]
    assert ckpt.latest_checkpoint(out / "full_state") is None


@pytest.mark.usefixtures("s3_env")
def test_a_remote_checkpoint_without_its_completion_marker_is_ignored(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    uri = f"s3://{bucket}/partial"
    src = tmp_path / "src"
    for n in (16, 48):
        with ckpt.atomic_dir(src / "full_state" / f"samples_{n}") as d:
            (d / "trainer_state.json").write_text(json.dumps({"samples_seen": n}))
    mirror = CheckpointMirror(uri, src)
    for n in (16, 48):
        mirror.on_checkpoint(str(src / "full_state" / f"samples_{n}"), "full_state")
    mirror.drain()
    client = s3_server.client()
    # An upload cut off half way: files without the marker (newer than every complete one) ...
    client.put_object(Bucket=bucket, Key="partial/full_state/samples_999/trainer_state.json", Body=b"{}")
    # ... and a complete checkpoint being replaced loses its marker before its first file is rewritten.
    client.delete_object(Bucket=bucket, Key=f"partial/full_state/samples_48/{COMPLETE_MARKER}")

    fresh = tmp_path / "fresh"
    restored = CheckpointMirror(uri, fresh).restore_latest()
    assert restored == fresh / "full_state" / "samples_16"
    assert ckpt.is_complete(restored)
    assert json.loads((restored / "trainer_state.json").read_text()) == {"samples_seen": 16}
    assert not (fresh / "full_state" / "samples_999").exists()
    # A local complete checkpoint wins: nothing is downloaded.
    assert CheckpointMirror(uri, fresh).restore_latest() is None


@pytest.mark.parametrize(
    ("case", "reason", "store_text"),
    [
        ("missing-bucket", "StorageBucketNotFound", "The specified bucket does not exist"),
        ("bad-key", "StorageCredentialsInvalid", "InvalidAccessKeyId"),
        ("bad-secret", "StorageCredentialsInvalid", "SignatureDoesNotMatch"),
    ],
)
def test_bad_credentials_and_a_missing_bucket_stop_before_training(
    s3_server: S3Server,
    bucket: str,
    tmp_path: Path,
    tiny_params: TinyParams,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    reason: str,
    store_text: str,
) -> None:
    env = s3_server.env(
        access_key="AKIAEXAMPLEWRONG" if case == "bad-key" else None,
        secret_key="wrong-secret" if case == "bad-secret" else None,
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    target = f"s3://no-such-bucket-{os.getpid()}/run" if case == "missing-bucket" else f"s3://{bucket}/run"
    out = tmp_path / "out"
    params = tiny_params(out, max_steps=2)
    with pytest.raises(StorageError) as info:
        training_hub.sft(**params, checkpoint_storage=target)
    err = info.value
    assert err.reason == reason and err.exit_code == 3
    assert store_text in str(err) and target in str(err)
    assert not (out / "training_metrics.jsonl").exists()  # refused before the first step


@pytest.mark.parametrize(
    ("algorithm", "extra", "final_file"),
    [
        ("osft", {"unfreeze_rank_ratio": 0.5}, "model.safetensors"),
        ("lora_sft", {"lora_r": 4, "lora_alpha": 8, "learning_rate": 1e-2}, "adapter_config.json"),
    ],
)
@pytest.mark.usefixtures("s3_env")
def test_osft_and_lora_mirror_their_final_model(
    s3_server: S3Server,
    bucket: str,
    tmp_path: Path,
    tiny_params: TinyParams,
    algorithm: str,
    extra: dict[str, Any],
    final_file: str,
) -> None:
    uri = f"s3://{bucket}/{algorithm}"
    params = tiny_params(tmp_path / "out", max_steps=2, **extra)
    result = getattr(training_hub, algorithm)(**params, checkpoint_storage=uri)
    assert result["output_model_uri"] == f"{uri}/hf_format/final"
    assert {"hf_format/final", "full_state/samples_32"} <= set(s3_server.completed(bucket, algorithm))
    assert f"{algorithm}/hf_format/final/{final_file}" in s3_server.keys(bucket, f"{algorithm}/")
