"""The operator, as a separate process, against a real Kubernetes 1.20 control plane.

Objects are applied with kubectl; the PyTorchJob status is written the way Kubeflow's training operator
writes it (status subresource, its condition types and reasons).
"""

from __future__ import annotations

import time

import pytest
from kubeflow.training import ApiClient as KubeflowApiClient
from kubeflow.training.models import KubeflowOrgV1PyTorchJob
from kubernetes import client

from tests.controlplane.cluster import ControlPlane, wait_until
from tests.support.trainingruns import (
    get_run,
    jobs_in,
    patch_job_status,
    run_manifest,
    wait_for_condition,
    wait_for_phase,
)
from training_hub.pod.spec import POD_COMMAND, PodRunSpec
from training_hub_operator.api.validation import validate_spec
from training_hub_operator.planning import ModelConfig, make_plan
from training_hub_operator.settings import OperatorSettings

pytestmark = pytest.mark.integration


def expected_plan(manifest: dict) -> tuple[int, int]:
    v = validate_spec(manifest["spec"])
    cfg = ModelConfig(manifest["spec"]["model"]["config"], "inline")
    plan = make_plan(v.spec, v.hyperparameters.model_dump(), cfg, OperatorSettings())
    return plan.nodes, plan.gpus_per_node


def events_for(plane: ControlPlane, namespace: str, name: str, *reasons: str) -> list[dict]:
    """Events about the TrainingRun ``name``, once one of each of ``reasons`` was posted."""
    items = plane.events_for(namespace, name, reasons=reasons)
    return [e for e in items if e["involvedObject"].get("kind") == "TrainingRun"]


def test_run_yields_one_pytorchjob_with_planned_gpus(operator_plane, namespace, operator_factory):
    op = operator_factory(namespaces=[namespace])
    manifest = run_manifest("llama-sft")
    nodes, gpus = expected_plan(manifest)
    assert nodes * gpus > 1, "the example must need more than one GPU to test planning"
    operator_plane.apply(manifest, namespace=namespace)

    run = wait_for_phase(operator_plane, namespace, "llama-sft", "Queued")
    status = run["status"]
    assert status["plan"]["source"] == "estimated"
    assert (status["plan"]["nodes"], status["plan"]["gpusPerNode"]) == (nodes, gpus)
    assert status["workload"]["kind"] == "PyTorchJob" and status["workload"]["name"] == "llama-sft"
    assert status["observedGeneration"] == run["metadata"]["generation"]
    assert status["launcher"]["name"] == "pytorchjob"
    assert not run["metadata"].get("finalizers"), "no finalizer: owner references and GC clean up"
    assert not [a for a in run["metadata"].get("annotations", {}) if "kopf.zalando.org" in a]

    jobs = jobs_in(operator_plane, namespace)
    assert [j["metadata"]["name"] for j in jobs] == ["llama-sft"]
    job = jobs[0]
    assert status["workload"]["uid"] == job["metadata"]["uid"]
    owner = job["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "TrainingRun" and owner["uid"] == run["metadata"]["uid"] and owner["controller"]
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert specs["Master"]["replicas"] == 1
    assert specs.get("Worker", {}).get("replicas", 0) == nodes - 1
    container = specs["Master"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(gpus)
    assert job["spec"]["nprocPerNode"] == str(gpus)

    # The run spec travels in the pod template (TRAINING_HUB_RUN_SPEC); the operator creates no ConfigMap.
    env = {e["name"]: e.get("value") for e in container["env"]}
    pod_spec = PodRunSpec.model_validate_json(env["TRAINING_HUB_RUN_SPEC"])
    assert pod_spec.algorithm == "sft" and pod_spec.run.uid == run["metadata"]["uid"]
    assert container["command"] == POD_COMMAND
    core = client.CoreV1Api(operator_plane.api_client())
    assert not core.list_namespaced_config_map(namespace, label_selector="traininghub.io/run=llama-sft").items

    # The rendered job, as stored by the API server, deserializes with the official Kubeflow SDK models.
    sdk_job = KubeflowApiClient().deserialize(_Resp(job), "KubeflowOrgV1PyTorchJob")
    assert isinstance(sdk_job, KubeflowOrgV1PyTorchJob)
    assert sdk_job.spec.pytorch_replica_specs["Master"].template.spec.containers[0].name == "pytorch"

    # One Event for the launching reconcile (validated, planned, launched: see events.fold_events).
    launched = [
        e for e in events_for(operator_plane, namespace, "llama-sft", "Launched") if e["reason"] == "Launched"
    ]
    assert (
        len(launched) == 1 and "Valid: " in launched[0]["message"] and "Estimated: " in launched[0]["message"]
    )
    metrics = op.metrics()
    assert 'traininghub_reconcile_total{result="ok"' in metrics
    assert 'traininghub_runs{phase="Queued"} 1.0' in metrics
    assert "traininghub_reconcile_duration_seconds_bucket" in metrics

    # Further reconciles (resync, events) change nothing: still one job, status unchanged.
    before = get_run(operator_plane, namespace, "llama-sft")["metadata"]["resourceVersion"]
    operator_plane.kubectl("annotate", "trainingrun", "llama-sft", "-n", namespace, "touch=1")
    time.sleep(2)
    assert len(jobs_in(operator_plane, namespace)) == 1
    after = get_run(operator_plane, namespace, "llama-sft")
    assert int(after["metadata"]["resourceVersion"]) > int(before)  # the annotation itself
    assert after["status"] == run["status"] | {"workload": status["workload"]}


class _Resp:
    """A minimal response object for ``ApiClient.deserialize``."""

    def __init__(self, obj: dict) -> None:
        import json

        self.data = json.dumps(obj)


def test_invalid_run_is_refused_with_a_condition_and_no_job(operator_plane, namespace, operator_factory):
    operator_factory(namespaces=[namespace])
    bad = run_manifest("bad", hyperparameters={"learning_rate": 1e-5, "lora_r": 8})
    operator_plane.apply(bad, namespace=namespace)

    accepted = wait_for_condition(operator_plane, namespace, "bad", "Accepted", "False")
    assert accepted["reason"] == "InvalidSpec"
    assert "spec.hyperparameters.lora_r" in accepted["message"] and "lora_sft" in accepted["message"]
    run = get_run(operator_plane, namespace, "bad")
    assert run["status"]["phase"] == "Failed"
    assert any(c["type"] == "Stalled" and c["status"] == "True" for c in run["status"]["conditions"])
    assert jobs_in(operator_plane, namespace) == []
    warnings = [
        e for e in events_for(operator_plane, namespace, "bad", "InvalidSpec") if e["type"] == "Warning"
    ]
    assert any(e["reason"] == "InvalidSpec" and "lora_r" in e["message"] for e in warnings)

    # A reserved environment variable is refused the same way.
    env = run_manifest("bad-env", runtime={"env": [{"name": "MASTER_ADDR", "value": "x"}]})
    operator_plane.apply(env, namespace=namespace)
    accepted = wait_for_condition(operator_plane, namespace, "bad-env", "Accepted", "False")
    assert "MASTER_ADDR" in accepted["message"] and "reserved" in accepted["message"]

    # Fixing the spec launches the run.
    operator_plane.apply(run_manifest("bad"), namespace=namespace)
    wait_for_phase(operator_plane, namespace, "bad", "Queued")
    assert [j["metadata"]["name"] for j in jobs_in(operator_plane, namespace)] == ["bad"]
    assert jobs_in(operator_plane, namespace)[0]["metadata"]["name"] == "bad"


def test_killed_mid_reconcile_then_restarted_still_one_job(operator_plane, namespace, operator_factory):
    first = operator_factory(
        namespaces=[namespace], env={"TRAINING_HUB_OPERATOR_FAULT": "created-pytorchjob"}
    )
    operator_plane.apply(run_manifest("crash"), namespace=namespace)
    first.wait_for_log("fault-injection: paused at created-pytorchjob")
    jobs = jobs_in(operator_plane, namespace)
    assert len(jobs) == 1
    uid = jobs[0]["metadata"]["uid"]
    assert "workload" not in (get_run(operator_plane, namespace, "crash").get("status") or {})
    first.kill()

    operator_factory(namespaces=[namespace])
    run = wait_for_phase(operator_plane, namespace, "crash", "Queued")
    assert run["status"]["workload"]["uid"] == uid
    jobs = jobs_in(operator_plane, namespace)
    assert [(j["metadata"]["name"], j["metadata"]["uid"]) for j in jobs] == [("crash", uid)]


def test_status_follows_kubeflow_conditions_and_ended_run_is_not_relaunched(
    operator_plane, namespace, operator_factory
):
    operator_factory(namespaces=[namespace])
    operator_plane.apply(run_manifest("follow"), namespace=namespace)
    wait_for_phase(operator_plane, namespace, "follow", "Queued")

    t0 = "2026-01-01T10:00:00Z"
    created = {
        "type": "Created",
        "status": "True",
        "reason": "PyTorchJobCreated",
        "message": "PyTorchJob follow is created.",
        "lastUpdateTime": t0,
        "lastTransitionTime": t0,
    }
    patch_job_status(
        operator_plane, namespace, "follow", {"conditions": [created], "replicaStatuses": {"Master": {}}}
    )
    t1 = "2026-01-01T10:01:00Z"
    running = {
        "type": "Running",
        "status": "True",
        "reason": "PyTorchJobRunning",
        "message": "PyTorchJob follow is running.",
        "lastUpdateTime": t1,
        "lastTransitionTime": t1,
    }
    patch_job_status(
        operator_plane,
        namespace,
        "follow",
        {
            "conditions": [created, running],
            "startTime": t1,
            "replicaStatuses": {"Master": {"active": 1}, "Worker": {"active": 1}},
        },
    )
    run = wait_for_phase(operator_plane, namespace, "follow", "Running")
    assert run["status"]["startTime"] == t1
    running_cond = next(c for c in run["status"]["conditions"] if c["type"] == "Running")
    assert running_cond["status"] == "True" and running_cond["reason"] == "PyTorchJobRunning"

    t2 = "2026-01-01T11:00:00Z"
    done_running = running | {"status": "False", "lastTransitionTime": t2}
    succeeded = {
        "type": "Succeeded",
        "status": "True",
        "reason": "PyTorchJobSucceeded",
        "message": "PyTorchJob follow is successfully completed.",
        "lastUpdateTime": t2,
        "lastTransitionTime": t2,
    }
    patch_job_status(
        operator_plane,
        namespace,
        "follow",
        {
            "conditions": [created, done_running, succeeded],
            "completionTime": t2,
            "replicaStatuses": {"Master": {"succeeded": 1}},
        },
    )
    run = wait_for_phase(operator_plane, namespace, "follow", "Succeeded")
    assert run["status"]["completionTime"] == t2
    assert run["status"]["outputs"]["uri"] == "pvc://outputs/runs/follow"
    reasons = [e["reason"] for e in events_for(operator_plane, namespace, "follow", "Running", "Succeeded")]
    assert "Running" in reasons and "Succeeded" in reasons

    # The job is cleaned up (as a TTL would): the ended run is never relaunched.
    operator_plane.kubectl("delete", "pytorchjob", "follow", "-n", namespace)
    operator_plane.kubectl("annotate", "trainingrun", "follow", "-n", namespace, "poke=1")
    operator_plane.apply(run_manifest("follow", backoffLimit=5), namespace=namespace)  # a spec change too
    time.sleep(3)
    assert jobs_in(operator_plane, namespace) == []
    assert get_run(operator_plane, namespace, "follow")["status"]["phase"] == "Succeeded"

    # A failure is reported with the training operator's reason and message.
    operator_plane.apply(run_manifest("broken"), namespace=namespace)
    wait_for_phase(operator_plane, namespace, "broken", "Queued")
    failed = {
        "type": "Failed",
        "status": "True",
        "reason": "PyTorchJobFailed",
        "message": "PyTorchJob broken has failed because 1 Master replica(s) failed.",
        "lastUpdateTime": t2,
        "lastTransitionTime": t2,
    }
    patch_job_status(
        operator_plane,
        namespace,
        "broken",
        {"conditions": [created, failed], "replicaStatuses": {"Master": {"failed": 1}}},
    )
    run = wait_for_phase(operator_plane, namespace, "broken", "Failed")
    cond = next(c for c in run["status"]["conditions"] if c["type"] == "Failed")
    assert cond["reason"] == "PyTorchJobFailed" and "1 Master replica(s) failed" in cond["message"]
    assert run["status"]["restarts"] == 1


def test_suspend_immutable_fields_and_deletion(operator_plane, namespace, operator_factory):
    operator_factory(namespaces=[namespace])
    operator_plane.apply(run_manifest("life"), namespace=namespace)
    wait_for_phase(operator_plane, namespace, "life", "Queued")
    # A run launched by an earlier operator owns a <run>-config ConfigMap its pods mount: this operator
    # leaves it as it is through every reconcile below, and the garbage collector deletes it with the run.
    run = get_run(operator_plane, namespace, "life")
    owner = {"apiVersion": "traininghub.io/v1alpha1", "kind": "TrainingRun", "name": "life"}
    owner |= {"uid": run["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    old_config = {"name": "life-config", "labels": {"traininghub.io/run": "life"}, "ownerReferences": [owner]}
    core = client.CoreV1Api(operator_plane.api_client())
    core.create_namespaced_config_map(namespace, {"metadata": old_config, "data": {"run.json": "{}"}})

    operator_plane.apply(run_manifest("life", suspend=True), namespace=namespace)
    wait_for_phase(operator_plane, namespace, "life", "Suspended")
    job = jobs_in(operator_plane, namespace)[0]
    assert job["spec"]["runPolicy"]["suspend"] is True
    operator_plane.apply(run_manifest("life", suspend=False), namespace=namespace)
    wait_until(lambda: jobs_in(operator_plane, namespace)[0]["spec"]["runPolicy"]["suspend"] is False, 30)
    wait_for_phase(operator_plane, namespace, "life", "Queued")

    changed = run_manifest(
        "life", hyperparameters={"learning_rate": 5e-5, "max_seq_len": 4096, "max_tokens_per_gpu": 8192}
    )
    operator_plane.apply(changed, namespace=namespace)
    accepted = wait_for_condition(operator_plane, namespace, "life", "Accepted", "False")
    assert accepted["reason"] == "ImmutableFieldChanged"
    assert "spec.hyperparameters.learning_rate" in accepted["message"]
    assert len(jobs_in(operator_plane, namespace)) == 1
    operator_plane.apply(run_manifest("life"), namespace=namespace)  # reverting clears it
    wait_for_condition(operator_plane, namespace, "life", "Accepted", "True")

    kept = core.read_namespaced_config_map("life-config", namespace)
    assert kept.data == {"run.json": "{}"} and kept.metadata.resource_version
    operator_plane.kubectl("delete", "trainingrun", "life", "-n", namespace, "--wait=true", timeout=60)
    wait_until(lambda: jobs_in(operator_plane, namespace) == [], 60, message="GC deletes the PyTorchJob")
    wait_until(
        lambda: (
            not [
                c
                for c in core.list_namespaced_config_map(namespace).items
                if c.metadata.name == "life-config"
            ]
        ),
        60,
        message="GC deletes the earlier operator's ConfigMap",
    )


def test_dry_run_and_unreachable_model_config(operator_plane, namespace, operator_factory):
    operator_factory(namespaces=[namespace], extra_args=["--no-planning-pods"])
    operator_plane.apply(run_manifest("dry", dryRun=True), namespace=namespace)
    run = wait_for_phase(operator_plane, namespace, "dry", "Pending")
    wait_until(lambda: get_run(operator_plane, namespace, "dry")["status"].get("rendered"), 30)
    run = get_run(operator_plane, namespace, "dry")
    kinds = [o["kind"] for o in run["status"]["rendered"]]
    assert kinds == ["PyTorchJob"]
    assert run["status"]["plan"]["totalGpus"] >= 1
    assert jobs_in(operator_plane, namespace) == []

    no_config = run_manifest("noconfig", model={"uri": "pvc://models/llama-3-8b"})
    operator_plane.apply(no_config, namespace=namespace)
    planned = wait_for_condition(operator_plane, namespace, "noconfig", "Planned", "False")
    assert planned["reason"] == "ModelConfigUnavailable"
    assert "spec.model.config" in planned["message"] and "spec.resources.nodes" in planned["message"]
    assert jobs_in(operator_plane, namespace) == []


def test_kubectl_explain_teaches_the_api(operator_plane):
    def explain() -> str:
        proc = operator_plane.kubectl("explain", "trainingrun.spec.hyperparameters.lora_r", check=False)
        return proc.stdout if proc.returncode == 0 and "LoRA rank" in proc.stdout else ""

    text = wait_until(explain, 30, message="kubectl explain")
    assert "lora_sft" in text
    columns = operator_plane.kubectl("get", "trainingruns", "-A").stdout.splitlines()[0]
    for col in ("PHASE", "ALGORITHM", "MODEL", "NODES", "GPUS", "PROGRESS", "LOSS", "AGE"):
        assert col in columns


def test_a_run_recreated_under_the_same_name_waits_for_the_earlier_job(
    operator_plane, namespace, operator_factory
):
    """`kubectl delete` + `kubectl apply` of a run: the earlier run's job is still being garbage collected
    (held here by a finalizer, so the test does not race the garbage collector). The new run waits,
    without a Warning or a second job, and launches as soon as the earlier job is gone."""
    operator_factory(namespaces=[namespace])
    operator_plane.apply(run_manifest("again"), namespace=namespace)
    wait_for_phase(operator_plane, namespace, "again", "Queued")
    (old_job,) = jobs_in(operator_plane, namespace)
    operator_plane.kubectl(
        "patch", "pytorchjob", "again", "-n", namespace, "--type=merge",
        "-p", '{"metadata": {"finalizers": ["test.traininghub.io/hold"]}}',
    )  # fmt: skip
    operator_plane.kubectl("delete", "trainingrun", "again", "-n", namespace)
    wait_until(
        lambda: (jobs_in(operator_plane, namespace) or [{}])[0].get("metadata", {}).get("deletionTimestamp"),
        timeout=60,
        message="the garbage collector marks the earlier job for deletion",
    )

    operator_plane.apply(run_manifest("again"), namespace=namespace)
    run = wait_for_phase(operator_plane, namespace, "again", "Pending")
    queued = next(c for c in run["status"]["conditions"] if c["type"] == "Queued")
    assert queued["reason"] == "WaitingForEarlierRun" and "PyTorchJob again" in queued["message"]
    time.sleep(2)
    assert [j["metadata"]["uid"] for j in jobs_in(operator_plane, namespace)] == [old_job["metadata"]["uid"]]

    operator_plane.kubectl(
        "patch",
        "pytorchjob",
        "again",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"metadata": {"finalizers": []}}',
    )
    run = wait_for_phase(operator_plane, namespace, "again", "Queued")
    (job,) = jobs_in(operator_plane, namespace)
    assert job["metadata"]["uid"] != old_job["metadata"]["uid"]
    assert job["metadata"]["ownerReferences"][0]["uid"] == run["metadata"]["uid"]
    warnings = [e for e in events_for(operator_plane, namespace, "again") if e["type"] == "Warning"]
    assert warnings == []
