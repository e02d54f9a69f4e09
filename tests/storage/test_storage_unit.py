"""The one location parser, the operator's rendering of ``s3://`` runs, and storage failure reasons (pure)."""

from __future__ import annotations

import pytest

from tests.operator.helpers import run_manifest
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
from training_hub_operator.api.validation import SpecError, validate_spec
from training_hub_operator.failures import classify_failure
from training_hub_operator.launchers import get_launcher
from training_hub_operator.launchers.common import pod_spec
from training_hub_operator.planning import make_plan
from training_hub_operator.rendering import identity, render_context
from training_hub_operator.settings import OperatorSettings

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


def _s3_spec(**overrides):
    spec = run_manifest(
        "s3",
        model={"uri": "s3://models/tiny"},
        data={"uri": "s3://data/train.jsonl"},
        output={"uri": "s3://out/runs/s3"},
        storage={"secretRef": {"name": "creds"}, "endpoint": "http://minio.storage:9000", "region": "eu-1"},
        resources={"nodes": 1, "gpusPerNode": 0},
        launcher="native",
    )["spec"]
    spec.update(overrides)
    return spec


def _render(spec):
    v = validate_spec(spec)
    settings = OperatorSettings()
    run = {"metadata": {"name": "s3", "namespace": "ns", "uid": "u", "generation": 1}, "spec": spec}
    plan = make_plan(v.spec, v.hyperparameters.model_dump(), None, settings)
    ctx = render_context(identity(run), v, plan, settings)
    return ctx, get_launcher("native")


def test_an_s3_run_gets_credentials_endpoint_and_a_scratch_volume():
    ctx, _ = _render(_s3_spec())
    pod = pod_spec(ctx, container_name="trainer")
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"] == {
        "secretKeyRef": {"name": "creds", "key": "AWS_ACCESS_KEY_ID"}
    }
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "creds"
    assert env["AWS_SESSION_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert env["AWS_ENDPOINT_URL_S3"]["value"] == "http://minio.storage:9000"
    assert env["AWS_DEFAULT_REGION"]["value"] == "eu-1"
    assert env["TRAINING_HUB_SCRATCH_DIR"]["value"] == "/mnt/scratch"
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["/mnt/scratch"] == "scratch"
    assert {"name": "scratch", "emptyDir": {}} in pod["volumes"]
    params = ctx.pod_run_spec.params
    assert (params["model_path"], params["data_path"], params["ckpt_output_dir"]) == (
        "s3://models/tiny",
        "s3://data/train.jsonl",
        "s3://out/runs/s3",
    )


def test_a_pvc_run_gets_no_storage_env():
    ctx, _ = _render(run_manifest("p", resources={"nodes": 1, "gpusPerNode": 0}, launcher="native")["spec"])
    env = {e["name"] for e in pod_spec(ctx, container_name="trainer")["containers"][0]["env"]}
    assert not env & {"AWS_ACCESS_KEY_ID", "TRAINING_HUB_SCRATCH_DIR"}


def test_an_s3_output_on_several_nodes_gives_every_pod_its_scratch_volume():
    ctx, launcher = _render(_s3_spec(resources={"nodes": 2, "gpusPerNode": 0}))
    jobs = [o for o in launcher.render(ctx) if o["kind"] == "Job"]
    assert len(jobs) == 2
    for job in jobs:
        assert {"name": "scratch", "emptyDir": {}} in job["spec"]["template"]["spec"]["volumes"]


def test_a_bad_endpoint_is_refused():
    with pytest.raises(SpecError, match="spec.storage.endpoint"):
        validate_spec(_s3_spec(storage={"endpoint": "minio:9000"}))


@pytest.mark.parametrize(
    ("message", "reason", "retryable"),
    [
        (
            "StorageCredentialsInvalid: s3://b/run: InvalidAccessKeyId: The AWS Access Key Id you provided does "
            "not exist in our records. (check the access key)",
            "StorageCredentialsInvalid",
            False,
        ),
        (
            "StorageBucketNotFound: s3://b/run: NoSuchBucket: The specified bucket does not exist",
            "StorageBucketNotFound",
            False,
        ),
        ("StorageUnavailable: s3://b/run: Could not connect to the endpoint URL", "StorageUnavailable", True),
    ],
)
def test_storage_failures_keep_their_reason_and_the_stores_message(message, reason, retryable):
    failure = classify_failure(3 if not retryable else 4, message)
    assert failure.reason == reason and failure.retryable is retryable
    assert message.split(": ", 1)[1] in failure.message


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


@pytest.mark.parametrize(
    ("output", "model_uri"),
    [
        ("s3://out/runs/r1", "s3://out/runs/r1/hf_format/final"),
        ("pvc://outputs/runs/r1", "pvc://outputs/runs/r1/hf_format/final"),
    ],
)
def test_a_succeeded_run_records_its_model_uri(output, model_uri):
    from training_hub_operator.launchers.auto import choose_launcher
    from training_hub_operator.reconcile import ReconcileInput, decide

    spec = run_manifest(
        "r1", output={"uri": output}, resources={"nodes": 1, "gpusPerNode": 0}, launcher="native"
    )["spec"]
    run = {
        "metadata": {"name": "r1", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": spec,
        "status": {},
    }

    def inp(run, children):
        return ReconcileInput(
            run=run,
            validated=validate_spec(run["spec"]),
            spec_error=None,
            choice=choose_launcher("native", lambda k: True),
            children=children,
            model_config=None,
            settings=OperatorSettings(),
            now="2026-01-01T00:00:00Z",
        )

    first = decide(inp(run, []))
    assert first.status["outputs"] == {"uri": output}  # not known before the run succeeded
    done = {"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T01:00:00Z"}
    children = [
        dict(obj, metadata=dict(obj["metadata"], uid="c"), status={"conditions": [done], "succeeded": 1})
        if obj["kind"] == "Job"
        else obj
        for _, obj in first.creates
    ]
    final = decide(inp(dict(run, status=first.status), children))
    assert final.status["phase"] == "Succeeded", final.status
    assert final.status["outputs"] == {"uri": output, "modelUri": model_uri}


@pytest.mark.parametrize("launcher", ["native", "pytorchjob", "trainjob"])
def test_every_launcher_renders_the_storage_env_and_scratch_volume(launcher):
    import json

    ctx, _ = _render(_s3_spec(launcher=launcher))
    text = json.dumps(get_launcher(launcher).render(ctx))
    for needle in (
        '"secretKeyRef": {"name": "creds", "key": "AWS_SECRET_ACCESS_KEY"}',
        '"name": "AWS_ENDPOINT_URL_S3", "value": "http://minio.storage:9000"',
        '"mountPath": "/mnt/scratch"',
    ):
        assert needle in text, (launcher, needle)


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
