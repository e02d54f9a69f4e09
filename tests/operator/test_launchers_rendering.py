"""Rendering and observing of the ``native`` and ``trainjob`` launchers (pure, no cluster)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.runs import tiny_run
from training_hub.local import expand
from training_hub.local.environment import expand_refs
from training_hub.local.runner import render_run
from training_hub.pod.spec import POD_COMMAND, PodRunSpec
from training_hub_operator.launchers.native import LAUNCHER as NATIVE
from training_hub_operator.launchers.trainjob import LAUNCHER as TRAINJOB

pytestmark = pytest.mark.unit


def manifest(launcher: str, **spec: Any) -> dict[str, Any]:
    run = tiny_run("demo", launcher=launcher, nodes=3, namespace="ml")
    run["spec"].update(spec)
    return run


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


# ---------------------------------------------------------------------------------------------- native
def test_native_renders_headless_service_and_one_job_per_node() -> None:
    objects = render_run(manifest("native")).objects
    assert [o["kind"] for o in objects] == ["Service", "Job", "Job", "Job"]
    svc = by_kind(objects, "Service")[0]
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True
    jobs = by_kind(objects, "Job")
    # Node 0's Job is the workload the reconciler looks up by name.
    assert [j["metadata"]["name"] for j in jobs] == ["demo", "demo-node-1", "demo-node-2"]
    masters = set()
    for rank, job in enumerate(jobs):
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        assert pod["hostname"] == f"demo-node-{rank}" and pod["subdomain"] == svc["metadata"]["name"]
        # The pod's labels select it into the headless Service.
        labels = job["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
        env = env_of(pod["containers"][0])
        assert (
            env["PET_NODE_RANK"] == str(rank)
            and env["PET_NNODES"] == "3"
            and env["PET_NPROC_PER_NODE"] == "1"
        )
        assert env["MASTER_ADDR"] == env["PET_MASTER_ADDR"] and env["MASTER_PORT"] == env["PET_MASTER_PORT"]
        masters.add(env["PET_MASTER_ADDR"])
        assert pod["containers"][0]["command"] == POD_COMMAND
        assert job["spec"]["backoffLimit"] == 3
        codes = job["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"]
        assert 3 in codes and 4 not in codes and 1 not in codes
        assert job["metadata"]["ownerReferences"][0]["kind"] == "TrainingRun"
    assert masters == {"demo-node-0.demo.ml.svc"}
    assert "suspend" not in jobs[0]["spec"]


def test_native_gpus_queue_and_priority() -> None:
    run = manifest("native", queueName="team-a")
    run["spec"]["resources"] = {"nodes": 2, "gpusPerNode": 8}
    run["spec"]["runtime"] = {"priorityClassName": "high"}
    jobs = by_kind(render_run(run).objects, "Job")
    for job in jobs:
        assert job["spec"]["suspend"] is True
        assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
        # The pods' PriorityClass is not a Kueue WorkloadPriorityClass: no priority-class label for it.
        assert "kueue.x-k8s.io/priority-class" not in job["metadata"]["labels"]
        assert job["spec"]["template"]["spec"]["priorityClassName"] == "high"
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"
        assert env_of(container)["PET_NPROC_PER_NODE"] == "8"
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/dev/shm", "/mnt/pvc/out"} <= mounts and "/etc/training-hub" not in mounts


def job_with(name: str, rank: int, **status: Any) -> dict[str, Any]:
    return {
        "kind": "Job",
        "metadata": {"name": name, "labels": {"traininghub.io/node-rank": str(rank)}},
        "spec": {},
        "status": status,
    }


def cond(type_: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {"type": type_, "status": "True", "reason": reason, "message": message, "lastTransitionTime": "t"}


def test_native_observe_needs_every_node() -> None:
    done = job_with("r", 0, conditions=[cond("Complete")], completionTime="2026-01-01T00:00:02Z", succeeded=1)
    running = job_with("r-node-1", 1, active=1, startTime="2026-01-01T00:00:00Z")
    obs = NATIVE.observe([done, running])
    assert obs.phase == "Running"
    both = NATIVE.observe([done, job_with("r-node-1", 1, conditions=[cond("Complete")], failed=1)])
    assert both.phase == "Succeeded" and both.restarts == 1
    failed = job_with(
        "r-node-1", 1, conditions=[cond("Failed", "BackoffLimitExceeded", "too many")], failed=4
    )
    obs = NATIVE.observe([done, failed])
    assert obs.phase == "Failed" and obs.reason == "BackoffLimitExceeded" and "r-node-1" in obs.message
    pending = NATIVE.observe([job_with("r", 0), job_with("r-node-1", 1)])
    assert pending.phase == "Queued"


def test_native_observe_kueue_and_suspend() -> None:
    jobs = [job_with("r", 0), job_with("r-node-1", 1)]
    for j in jobs:
        j["spec"]["suspend"] = True
        j["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = "q"
    obs = NATIVE.observe(jobs)
    assert obs.phase == "Queued" and obs.queued and obs.admitted is False
    for j in jobs:
        j["metadata"]["annotations"] = {"traininghub.io/user-suspended": "true"}
    assert NATIVE.observe(jobs).phase == "Suspended"
    assert NATIVE.suspend_patch(True)["spec"] == {"suspend": True}
    assert NATIVE.is_suspended(jobs[0])


# --------------------------------------------------------------------------------------------- trainjob
def test_trainjob_renders_the_trainer_api() -> None:
    run = manifest("trainjob", queueName="team-a")
    run["spec"]["resources"] = {"nodes": 4, "gpusPerNode": 8, "shmSize": "16Gi"}
    run["spec"]["runtime"] = {
        "env": [{"name": "NCCL_DEBUG", "value": "INFO"}],
        "serviceAccountName": "trainer",
    }
    objects = render_run(run).objects
    assert [o["kind"] for o in objects] == ["TrainJob"]
    (job,) = objects
    assert job["apiVersion"] == "trainer.kubeflow.org/v1alpha1" and job["metadata"]["name"] == "demo"
    spec = job["spec"]
    assert spec["runtimeRef"] == {
        "name": "torch-distributed",
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
    }
    trainer = spec["trainer"]
    assert trainer["numNodes"] == 4 and trainer["numProcPerNode"] == 8
    assert trainer["command"] == POD_COMMAND
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == "8"
    names = {e["name"] for e in trainer["env"]}
    assert "NCCL_DEBUG" in names
    # Trainer's torch plugin owns the rendezvous: no reserved name in the trainer env.
    assert not [n for n in names if n.startswith(("PET_", "MASTER_")) or n in ("RANK", "WORLD_SIZE")]
    assert spec["suspend"] is True and job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert "podTemplateOverrides" not in spec and "labels" not in spec  # removed in Trainer v2.2
    (patch,) = spec["runtimePatches"]
    assert patch["manager"] == "traininghub.io/operator"
    template = patch["trainingRuntimeSpec"]["template"]
    assert template["metadata"]["labels"]["traininghub.io/run"] == "demo"
    (rjob,) = template["spec"]["replicatedJobs"]
    assert rjob["name"] == "node"
    pod = rjob["template"]["spec"]["template"]
    assert pod["metadata"]["labels"]["traininghub.io/run"] == "demo"
    pod_spec = pod["spec"]
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}
    assert any("persistentVolumeClaim" in v for v in volumes.values())
    (container,) = pod_spec["containers"]
    # Trainer's webhook refuses env for the node container in a patch: it goes through spec.trainer.env.
    assert container["name"] == "node" and "env" not in container
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/dev/shm", "/mnt/pvc/out"}
    assert pod_spec["serviceAccountName"] == "trainer"
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["terminationGracePeriodSeconds"] == 120
    assert pod_spec["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_trainjob_pods_get_the_torch_plugin_env_and_mounts() -> None:
    objects = render_run(manifest("trainjob")).objects
    pods = expand(objects)
    assert [p.name for p in pods] == ["demo-node-0-0", "demo-node-0-1", "demo-node-0-2"]
    for i, pod in enumerate(pods):
        container = pod.container
        env = env_of(container)
        assert env["PET_NNODES"] == "3" and env["PET_MASTER_ADDR"] == "demo-node-0-0.demo"
        assert env["PET_NODE_RANK"]["fieldRef"]["fieldPath"].endswith("job-completion-index']")
        assert pod.metadata["annotations"]["batch.kubernetes.io/job-completion-index"] == str(i)
        assert container["command"] == POD_COMMAND
        # The run spec reaches every pod through spec.trainer.env (no ConfigMap, no spec volume).
        assert PodRunSpec.model_validate_json(env["TRAINING_HUB_RUN_SPEC"]).run.name == "demo"
        assert "/etc/training-hub" not in {m["mountPath"] for m in container["volumeMounts"]}
        # The runtime patch's pod labels reach the pods (the operator finds a run's pods by them).
        assert pod.metadata["labels"]["traininghub.io/run"] == "demo"
        assert pod.metadata["labels"]["jobset.sigs.k8s.io/jobset-name"] == "demo"
        assert env["PET_MASTER_PORT"] == "29500" and env["PET_NPROC_PER_NODE"] == "1"
        assert {"containerPort": 29500} in container["ports"]
        assert pod.spec["subdomain"] == "demo" and pod.spec["securityContext"]["runAsNonRoot"] is True


def test_trainjob_observe() -> None:
    base = {"kind": "TrainJob", "metadata": {"name": "demo", "labels": {}}, "spec": {}}
    assert TRAINJOB.observe([base]).phase == "Queued"
    running = copy.deepcopy(base)
    running["status"] = {"jobsStatus": [{"name": "node", "active": 1, "ready": 1, "failed": 1}]}
    obs = TRAINJOB.observe([running])
    assert obs.phase == "Running" and obs.restarts == 1
    done = copy.deepcopy(base)
    done["status"] = {"conditions": [cond("Complete", "JobsCompleted")]}
    assert TRAINJOB.observe([done]).phase == "Succeeded"
    failed = copy.deepcopy(base)
    failed["status"] = {"conditions": [cond("Failed", "FailedJobs", "node 1 failed")]}
    obs = TRAINJOB.observe([failed])
    assert obs.phase == "Failed" and obs.message == "node 1 failed"
    queued = copy.deepcopy(base)
    queued["spec"]["suspend"] = True
    queued["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] = "q"
    obs = TRAINJOB.observe([queued])
    assert obs.phase == "Queued" and obs.admitted is False
    assert TRAINJOB.suspend_patch(False)["spec"] == {"suspend": False}


def test_pytorchjob_pods_get_the_training_operator_env() -> None:
    objects = render_run(manifest("pytorchjob")).objects
    pods = expand(objects)
    assert [p.name for p in pods] == ["demo-master-0", "demo-worker-0", "demo-worker-1"]
    for rank, pod in enumerate(pods):
        env = env_of(pod.container)
        assert env["MASTER_ADDR"] == env["PET_MASTER_ADDR"] == "demo-master-0"
        assert env["RANK"] == env["PET_NODE_RANK"] == str(rank)
        assert env["PET_NNODES"] == "3" and env["WORLD_SIZE"] == "3"


@pytest.mark.parametrize("example", ["tiny-cpu.yaml", "llama-3-8b-multinode.yaml"])
@pytest.mark.parametrize("launcher", ["native", "pytorchjob", "trainjob"])
def test_examples_render_with_every_launcher(example: str, launcher: str) -> None:
    from pathlib import Path

    from training_hub.local.runner import load_manifest

    path = Path(__file__).resolve().parents[2] / "examples" / example
    rendered = render_run(load_manifest(path), launcher)
    assert rendered.launcher == launcher
    pods = expand(rendered.objects)
    assert len(pods) == rendered.nodes == 2
    ranks = []
    for pod in pods:
        rank = env_of(pod.container)["PET_NODE_RANK"]
        if isinstance(rank, dict):  # TrainJob: the Job completion index, through the downward API
            rank = pod.metadata["annotations"]["batch.kubernetes.io/job-completion-index"]
        ranks.append(int(rank))
    assert sorted(ranks) == [0, 1]


def test_trainjob_passes_what_trainers_webhook_checks_and_the_emulator_refuses_the_rest() -> None:
    from training_hub.local.pods import LocalExecutionError
    from training_hub.local.trainjob import default_training_runtime, validate_trainjob

    job = by_kind(render_run(manifest("trainjob")).objects, "TrainJob")[0]
    runtime = default_training_runtime()
    assert validate_trainjob(job, runtime) == []
    bad = copy.deepcopy(job)
    bad["spec"]["trainer"]["env"].append({"name": "PET_NNODES", "value": "9"})
    patch = bad["spec"]["runtimePatches"][0]
    patch["manager"] = "operator"
    pod = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"][
        "template"
    ]
    pod["spec"]["containers"][0]["env"] = [{"name": "X", "value": "1"}]
    pod["spec"]["containers"].append({"name": "sidecar"})
    errors = " | ".join(validate_trainjob(bad, runtime))
    for expected in ("PET_NNODES", "domain-prefixed", "envs for the node container", "'sidecar'"):
        assert expected in errors
    with pytest.raises(LocalExecutionError, match="refused by Trainer's webhook"):
        expand([bad])


def _node_job(pod_spec: dict[str, Any]) -> dict[str, Any]:
    """The ``node`` replicated job of a TrainingRuntime whose pods have ``pod_spec``."""
    return {"name": "node", "template": {"spec": {"template": {"spec": pod_spec}}}}


def test_runtime_patches_merge_as_a_strategic_merge_patch() -> None:
    from training_hub.local.trainjob import apply_runtime_patches

    template = {
        "metadata": {"labels": {"a": "1"}},
        "spec": {
            "replicatedJobs": [
                {"name": "init", "template": {}},
                _node_job(
                    {
                        "containers": [{"name": "node", "image": "i", "env": [{"name": "E", "value": "1"}]}],
                        "volumes": [{"name": "v", "emptyDir": {}}],
                        "tolerations": [{"key": "t"}],
                    }
                ),
            ]
        },
    }
    node_patch = {
        "containers": [{"name": "node", "volumeMounts": [{"name": "w", "mountPath": "/w"}]}],
        "volumes": [{"name": "w", "emptyDir": {}}],
        "tolerations": [{"key": "u"}],
    }
    patch = {
        "manager": "x.io/m",
        "trainingRuntimeSpec": {
            "template": {
                "metadata": {"labels": {"b": "2"}},
                "spec": {"replicatedJobs": [_node_job(node_patch)]},
            }
        },
    }
    merged = apply_runtime_patches(template, [patch])
    assert merged["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert [r["name"] for r in merged["spec"]["replicatedJobs"]] == ["init", "node"]  # the runtime's order
    pod = merged["spec"]["replicatedJobs"][1]["template"]["spec"]["template"]["spec"]
    (node,) = pod["containers"]
    assert node["image"] == "i" and node["env"] == [{"name": "E", "value": "1"}]  # merged by name
    assert node["volumeMounts"] == [{"name": "w", "mountPath": "/w"}]
    assert [v["name"] for v in pod["volumes"]] == ["v", "w"]
    assert pod["tolerations"] == [{"key": "u"}]  # no patch strategy: replaced


def _trainer_v21_crd() -> dict[str, Any]:
    """The TrainJob CRD as Trainer v2.1 served it, for the launcher's check: today's schema (from the
    official model) with ``spec.runtimePatches`` replaced by v2.1's ``spec.podTemplateOverrides``
    (kubeflow/trainer v2.1.0 ``trainjob_types.go``)."""
    from tests.support.official_api import structural_crd

    crd = structural_crd("TrainJob")
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    spec.pop("runtimePatches")
    spec["podTemplateOverrides"] = {"type": "array", "items": {"type": "object"}}
    return crd


def test_trainjob_refuses_a_trainer_older_than_v2_2_and_auto_falls_back() -> None:
    from tests.support.official_api import structural_crd
    from training_hub_operator.launchers.auto import choose_launcher

    assert TRAINJOB.compatibility(structural_crd("TrainJob")) is None
    problem = TRAINJOB.compatibility(_trainer_v21_crd())
    assert problem and "older than v2.2" in problem and "podTemplateOverrides" in problem

    def incompatible(launcher: Any) -> str | None:
        return problem if launcher is TRAINJOB else None

    pinned = choose_launcher("trainjob", lambda k: True, incompatible)
    assert pinned.launcher is None and pinned.reason == "LauncherIncompatible" and "v2.2" in pinned.message
    auto = choose_launcher("auto", lambda k: True, incompatible)
    assert auto.launcher is not None and auto.launcher.name == "pytorchjob"
    assert "trainjob: the served TrainJob CRD has no spec.runtimePatches" in auto.message
    assert "could run too" not in auto.message


@pytest.mark.parametrize("launcher", ["native", "pytorchjob", "trainjob"])
def test_pods_tell_the_launcher_their_grace_period(launcher: str) -> None:
    # The launcher in the pod waits the pod's grace (less a margin) before killing the ranks after SIGTERM.
    for pod in expand(render_run(manifest(launcher)).objects):
        grace = pod.manifest["spec"]["terminationGracePeriodSeconds"]
        assert env_of(pod.container)["TRAINING_HUB_TERMINATION_GRACE_SECONDS"] == str(grace)
        assert grace > 30


# --------------------------------------------------------------------------------------- the run spec env
@pytest.mark.parametrize("launcher", ["native", "pytorchjob", "trainjob"])
def test_every_pod_receives_the_run_spec_exactly_through_the_kubelets_expansion(launcher: str) -> None:
    """Each launcher's pods carry run.json in TRAINING_HUB_RUN_SPEC and no ConfigMap is rendered; the
    kubelet expands ``$(VAR)`` in env values (``$$`` is ``$``), so a location holding such text reaches the
    process verbatim. ``expand`` builds the pods as each controller would (Job, Kubeflow, Trainer + JobSet)."""
    data = "pvc://data/$(HOME)/$$x/${HF_TOKEN}.jsonl"
    objects = render_run(manifest(launcher, data={"uri": data})).objects
    assert not by_kind(objects, "ConfigMap")
    pods = expand(objects)
    assert len(pods) == 3
    for pod in pods:
        value = env_of(pod.container)["TRAINING_HUB_RUN_SPEC"]
        spec = PodRunSpec.model_validate_json(expand_refs(value, {"HOME": "/home/u", "x": "y"}))
        assert spec.params["data_path"] == "/mnt/pvc/data/$(HOME)/$$x/${HF_TOKEN}.jsonl"
        assert spec.run.name == "demo" and spec.run.namespace == "ml"
        assert not [v for v in pod.spec.get("volumes") or [] if "configMap" in v]
