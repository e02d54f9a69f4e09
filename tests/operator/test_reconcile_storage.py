"""The operator's side of object storage: rendering of ``s3://`` runs on every launcher, the endpoint check,
storage failure reasons and the model URI of a succeeded run (pure)."""

from __future__ import annotations

import pytest

from tests.support.trainingruns import run_manifest
from training_hub_operator.api.validation import SpecError, validate_spec
from training_hub_operator.failures import classify_failure
from training_hub_operator.launchers import get_launcher
from training_hub_operator.launchers.training_pod import pod_spec
from training_hub_operator.planning import make_plan
from training_hub_operator.rendering import identity, render_context
from training_hub_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit


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
