"""The one location parser (``storage.uri``), ``checkpoint_storage`` values, the store's error codes, fsspec
mirrors and the mirrored checkpoint URI in progress (pure)."""

from __future__ import annotations

import pytest

from training_hub.params import validate_params
from training_hub.storage.objectstore import StorageError, storage_error
from training_hub.storage.uri import (
    DATA_KINDS,
    MODEL_KINDS,
    OUTPUT_KINDS,
    final_model_uri,
    location_in_pod,
    mirrored_uri,
    parse_location,
    pvc_claim,
    user_location,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("uri", "kind", "root", "path", "in_pod"),
    [
        ("pvc://models/llama/8b/", "pvc", "models", "llama/8b", "/mnt/pvc/models/llama/8b"),
        ("pvc://out", "pvc", "out", "", "/mnt/pvc/out"),
        ("hf://meta-llama/Llama-3.1-8B", "hf", "meta-llama/Llama-3.1-8B", "", "meta-llama/Llama-3.1-8B"),
        ("tiny://llama?hidden_size=32", "tiny", "", "", "tiny://llama?hidden_size=32"),
        ("s3://my-bucket/runs/a/", "s3", "my-bucket", "runs/a", "s3://my-bucket/runs/a/"),
        ("s3://my.bucket", "s3", "my.bucket", "", "s3://my.bucket"),
        ("/data/train.jsonl", "path", "", "", "/data/train.jsonl"),
    ],
)
def test_every_location_kind_parses_in_one_place(uri, kind, root, path, in_pod):
    loc = parse_location(uri, MODEL_KINDS)
    assert (loc.kind, loc.root, loc.path) == (kind, root, path)
    assert location_in_pod(uri) == in_pod
    assert pvc_claim(uri) == (root if kind == "pvc" else None)


@pytest.mark.parametrize(
    ("uri", "kinds", "accepted"),
    [
        (
            "s4://bucket/x",
            MODEL_KINDS,
            "pvc://claim/path, hf://org/model, s3://bucket/prefix, tiny://<name> or an absolute path",
        ),
        (
            "hf://org/data",
            DATA_KINDS,
            "pvc://claim/path, s3://bucket/prefix, tiny://<name> or an absolute path",
        ),
        ("tiny://llama", OUTPUT_KINDS, "pvc://claim/path, s3://bucket/prefix or an absolute path"),
        ("s3://UPPER/x", OUTPUT_KINDS, "pvc://claim/path, s3://bucket/prefix or an absolute path"),
        ("relative/dir", OUTPUT_KINDS, "pvc://claim/path, s3://bucket/prefix or an absolute path"),
    ],
)
def test_a_bad_location_names_the_accepted_forms_not_a_regex(uri, kinds, accepted):
    with pytest.raises(ValueError) as err:
        parse_location(uri, kinds)
    assert str(err.value) == f"{uri!r} is not {accepted}"
    assert "[" not in str(err.value) and "(?" not in str(err.value)


def test_paths_map_back_to_what_the_user_wrote():
    assert user_location("/mnt/pvc/out/run/hf_format/final") == "pvc://out/run/hf_format/final"
    env = {"TRAINING_HUB_OUTPUT_MIRROR": "/mnt/scratch/output=s3://b/run"}
    assert mirrored_uri("/mnt/scratch/output/hf_format/samples_8", env) == "s3://b/run/hf_format/samples_8"
    assert mirrored_uri("/elsewhere/x", env) is None
    assert final_model_uri("s3://b/run/") == "s3://b/run/hf_format/final"


def test_checkpoint_storage_keeps_upstream_values():
    assert (
        validate_params(
            "sft", {"model_path": "m", "data_path": "d", "ckpt_output_dir": "o", "checkpoint_storage": "pvc"}
        ).checkpoint_storage
        is None
    )  # type: ignore[attr-defined]
    p = validate_params(
        "sft",
        {
            "model_path": "m",
            "data_path": "d",
            "ckpt_output_dir": "o",
            "checkpoint_storage": "s3://b/x",
            "enable_jit_checkpoint": True,
        },
    )
    assert p.checkpoint_storage == "s3://b/x" and p.enable_jit_checkpoint is True  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        validate_params(
            "sft",
            {"model_path": "m", "data_path": "d", "ckpt_output_dir": "o", "checkpoint_storage": "bucket/x"},
        )


def test_store_errors_are_classified_by_the_stores_code():
    from botocore.exceptions import ClientError

    def wrapped(code: str, message: str) -> Exception:
        """As s3fs raises it: a Python error whose cause is botocore's ClientError."""
        outer = PermissionError(message)
        outer.__cause__ = ClientError({"Error": {"Code": code, "Message": message}}, "ListObjectsV2")
        return outer

    assert storage_error(wrapped("NoSuchBucket", "gone"), "s3://b").reason == "StorageBucketNotFound"
    assert (
        storage_error(wrapped("SignatureDoesNotMatch", "sig"), "s3://b").reason == "StorageCredentialsInvalid"
    )
    assert storage_error(wrapped("AccessDenied", "no"), "s3://b").reason == "StorageAccessDenied"
    err = storage_error(wrapped("AccessDenied", "no"), "s3://b")
    assert isinstance(err, StorageError) and err.exit_code == 3 and "AccessDenied: no" in str(err)


@pytest.mark.parametrize("scheme", ["file", "memory"])
def test_any_fsspec_uri_mirrors_and_restores(scheme, tmp_path):
    from training_hub.engine import checkpoint as ckpt
    from training_hub.storage.mirror import COMPLETE_MARKER, CheckpointMirror

    src = tmp_path / "src"
    with ckpt.atomic_dir(src / "full_state" / "samples_4") as d:
        (d / "model.pt").write_bytes(b"weights")
    uri = f"file://{tmp_path}/remote/run" if scheme == "file" else f"memory://bkt-{tmp_path.name}/run"
    mirror = CheckpointMirror(uri, src)
    mirror.verify()
    mirror.on_checkpoint(str(src / "full_state" / "samples_4"), "full_state")
    mirror.drain()
    assert mirror.fs.exists(f"full_state/samples_4/{COMPLETE_MARKER}")
    restored = CheckpointMirror(uri, tmp_path / "fresh").restore_latest()
    assert restored is not None and (restored / "model.pt").read_bytes() == b"weights"
    assert ckpt.is_complete(restored)


def test_progress_names_the_bucket_for_a_mirrored_output():
    from training_hub.observability.tracker import checkpoint_uri

    env = {
        "TRAINING_HUB_MOUNT_ROOT": "/tmp/pod",
        "TRAINING_HUB_OUTPUT_MIRROR": "/tmp/pod/mnt/scratch/output=s3://b/r",
    }
    assert (
        checkpoint_uri("/tmp/pod/mnt/scratch/output/hf_format/samples_64", env)
        == "s3://b/r/hf_format/samples_64"
    )
    assert checkpoint_uri("/tmp/pod/mnt/pvc/out/r/hf_format/final", env) == "pvc://out/r/hf_format/final"
