"""Pure parts: planning, rendering, launcher choice, reconcile decisions, status from Kubeflow conditions."""

from __future__ import annotations

import dataclasses
import json

import pytest
from kubeflow.training import ApiClient as KubeflowApiClient
from kubeflow.training.models import KubeflowOrgV1PyTorchJob

from tests.support.model_configs import LLAMA_8B_CONFIG
from tests.support.trainingruns import run_manifest
from training_hub.pod.spec import MAX_RUN_SPEC_BYTES, POD_COMMAND, PodRunSpec
from training_hub_operator.api.constants import ANNOTATION_LAUNCHED_SPEC
from training_hub_operator.api.validation import validate_spec
from training_hub_operator.kube import ResourceKind
from training_hub_operator.launchers import get_launcher
from training_hub_operator.launchers.auto import choose_launcher
from training_hub_operator.launchers.pytorchjob import PYTORCHJOB, PyTorchJobLauncher
from training_hub_operator.naming import MAX_WORKLOAD_NAME, child_names
from training_hub_operator.planning import ModelConfig, PlanningError, make_plan
from training_hub_operator.reconcile import ReconcileInput, decide, settle
from training_hub_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit
SETTINGS = OperatorSettings()


def _run(name="r1", status=None, generation=1, **overrides):
    m = run_manifest(name, **overrides)
    m["metadata"].update({"namespace": "ns", "uid": f"uid-{name}", "generation": generation})
    m["status"] = status or {}
    return m


def _pytorchjob_cluster(kind):
    """A cluster with the Training Operator (PyTorchJob) and no Trainer: ``auto`` renders a PyTorchJob."""
    return kind.kind != "TrainJob"


def _inp(run, children=(), served=_pytorchjob_cluster, **kw):
    try:
        v, err = validate_spec(run["spec"]), None
    except Exception as exc:  # SpecError
        v, err = None, exc
    cfg = run["spec"]["model"].get("config")
    return ReconcileInput(
        run=run,
        validated=v,
        spec_error=err,
        choice=choose_launcher(run["spec"].get("launcher", "auto"), served),
        children=list(children),
        model_config=ModelConfig(cfg, "inline") if cfg else None,
        settings=SETTINGS,
        now="2026-01-01T00:00:00Z",
        **kw,
    )


def _created(decision):
    return {obj["kind"]: obj for _, obj in decision.creates}


def _launch(run):
    """Decide, then 'create' the children and decide again (as the runner does)."""
    first = decide(_inp(run))
    children = [dict(obj, metadata=dict(obj["metadata"], uid="job-uid")) for _, obj in first.creates]
    run2 = dict(run, status=first.status)
    return first, children, run2


# ------------------------------------------------------------------------------------------------- planning
def test_planner_picks_gpus_from_the_model_and_fixed_resources_are_honoured():
    v = validate_spec(run_manifest("p")["spec"])
    plan = make_plan(v.spec, v.hyperparameters.model_dump(), ModelConfig(LLAMA_8B_CONFIG, "inline"), SETTINGS)
    assert plan.source == "estimated" and plan.total_gpus > 1
    assert plan.per_gpu and plan.per_gpu.expected_bytes <= 80 * 1024**3
    assert plan.estimator_version

    small = validate_spec(run_manifest("p", resources={"gpuMemory": "141Gi", "maxNodes": 1})["spec"])
    tight = make_plan(
        small.spec, small.hyperparameters.model_dump(), ModelConfig(LLAMA_8B_CONFIG, "inline"), SETTINGS
    )
    assert tight.nodes == 1

    fixed = validate_spec(
        run_manifest("p", resources={"nodes": 2, "gpusPerNode": 4}, model={"uri": "pvc://m/x"})["spec"]
    )
    plan = make_plan(fixed.spec, fixed.hyperparameters.model_dump(), None, SETTINGS)
    assert (plan.nodes, plan.gpus_per_node, plan.source) == (2, 4, "fixed")


def test_planning_refuses_to_guess():
    v = validate_spec(run_manifest("p", model={"uri": "hf://meta-llama/Llama-3.1-8B"})["spec"])
    with pytest.raises(PlanningError) as err:
        make_plan(v.spec, v.hyperparameters.model_dump(), None, SETTINGS)
    assert err.value.reason == "ModelConfigUnavailable"
    assert "allowConfigFetch" in str(err.value) and "spec.resources.nodes" in str(err.value)

    v = validate_spec(run_manifest("p", resources=None)["spec"])
    with pytest.raises(PlanningError) as err:
        make_plan(v.spec, v.hyperparameters.model_dump(), ModelConfig(LLAMA_8B_CONFIG, "inline"), SETTINGS)
    assert err.value.reason == "GPUMemoryUnknown" and "gpuMemory" in str(err.value)

    tiny_gpu = validate_spec(
        run_manifest("p", resources={"gpuMemory": "1Gi", "maxNodes": 1, "maxGpusPerNode": 1})["spec"]
    )
    with pytest.raises(PlanningError) as err:
        make_plan(
            tiny_gpu.spec,
            tiny_gpu.hyperparameters.model_dump(),
            ModelConfig(LLAMA_8B_CONFIG, "inline"),
            SETTINGS,
        )
    assert err.value.reason == "DoesNotFit"


# ----------------------------------------------------------------------------------------------- rendering
def test_pytorchjob_rendering_matches_the_plan_and_deserializes_with_the_kubeflow_sdk():
    run = _run(
        resources={"nodes": 3, "gpusPerNode": 4},
        queueName="team-a",
        runtime={
            "image": "img:1",
            "env": [{"name": "FOO", "value": "bar"}],
            "hfTokenSecretRef": {"name": "hf", "key": "token"},
            "nodeSelector": {"pool": "gpu"},
            "priorityClassName": "high",
            "workloadPriorityClassName": "team-a-high",
            "imagePullSecrets": [{"name": "pull"}],
            "serviceAccountName": "trainer",
            "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        },
        ttlSecondsAfterFinished=600,
        activeDeadlineSeconds=7200,
    )
    d = decide(_inp(run))
    objs = _created(d)
    assert list(objs) == ["PyTorchJob"]
    job = objs["PyTorchJob"]
    assert job["metadata"]["name"] == "r1" and job["metadata"]["ownerReferences"][0]["controller"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    # Kueue's label names a WorkloadPriorityClass; the pods keep their PriorityClass.
    assert job["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == "team-a-high"
    rp = job["spec"]["runPolicy"]
    assert rp == {
        "cleanPodPolicy": "Running",
        "backoffLimit": 3,
        "suspend": True,
        "ttlSecondsAfterFinished": 600,
        "activeDeadlineSeconds": 7200,
    }
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert (specs["Master"]["replicas"], specs["Worker"]["replicas"], job["spec"]["nprocPerNode"]) == (
        1,
        2,
        "4",
    )
    pod = specs["Worker"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["name"] == "pytorch" and c["command"] == POD_COMMAND and c["image"] == "img:1"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "4"
    sc = c["securityContext"]
    assert (
        sc["runAsNonRoot"]
        and sc["allowPrivilegeEscalation"] is False
        and sc["capabilities"] == {"drop": ["ALL"]}
    )
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    env = {e["name"]: e for e in c["env"]}
    assert env["FOO"]["value"] == "bar" and env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "hf",
        "key": "token",
    }
    assert not [n for n in env if n.startswith(("PET_", "MASTER_")) or n in ("RANK", "WORLD_SIZE")]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/mnt/pvc/models"]["readOnly"] and not mounts["/mnt/pvc/outputs"]["readOnly"]
    assert "/dev/shm" in mounts and "/etc/training-hub" not in mounts
    assert pod["nodeSelector"] == {"pool": "gpu"} and pod["serviceAccountName"] == "trainer"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["imagePullSecrets"] == [{"name": "pull"}] and pod["priorityClassName"] == "high"

    spec = PodRunSpec.model_validate_json(env["TRAINING_HUB_RUN_SPEC"]["value"])
    assert spec.params["model_path"] == "/mnt/pvc/models/llama-3-8b"
    assert spec.params["data_path"] == "/mnt/pvc/datasets/chat/train.jsonl"
    assert spec.params["ckpt_output_dir"] == "/mnt/pvc/outputs/runs/r1"
    assert spec.params["learning_rate"] == 1e-5 and "nproc_per_node" not in spec.params

    class Resp:
        data = json.dumps(job)

    sdk = KubeflowApiClient().deserialize(Resp(), "KubeflowOrgV1PyTorchJob")
    assert isinstance(sdk, KubeflowOrgV1PyTorchJob)
    assert sdk.spec.pytorch_replica_specs["Worker"].replicas == 2
    assert sdk.spec.run_policy.backoff_limit == 3


def test_child_names_are_deterministic_and_bounded():
    long = "a" * 30 + "." + "b" * 60
    names = child_names(long)
    assert names == child_names(long)
    assert len(names.workload) <= MAX_WORKLOAD_NAME and "." not in names.workload
    assert child_names("9lives").workload.startswith("tr-")
    assert child_names("short").workload == "short" and child_names("short").planner == "short-plan"


def test_launcher_choice():
    none = choose_launcher("auto", lambda k: False)
    native = get_launcher("native")
    if native is None:
        assert none.launcher is None and "PyTorchJob" in none.message
    else:
        assert none.launcher is native
    both = choose_launcher("auto", lambda k: True)
    assert both.launcher.name == "trainjob" and both.reason == "AutoSelected"
    assert "pytorchjob could run too, trainjob is preferred" in both.message
    only_v1 = choose_launcher("auto", _pytorchjob_cluster)
    assert only_v1.launcher.name == "pytorchjob" and "trainjob needs TrainJob" in only_v1.message
    missing = choose_launcher("pytorchjob", lambda k: k != PYTORCHJOB)
    assert (
        missing.launcher is None
        and missing.reason == "LauncherCRDMissing"
        and "pytorchjobs.kubeflow.org" in missing.message
    )


# ------------------------------------------------------------------------------------------------ decisions
def test_first_reconcile_plans_and_creates_and_second_is_a_no_op():
    run = _run()
    first, children, run2 = _launch(run)
    assert [o["kind"] for _, o in first.creates] == ["PyTorchJob"]
    assert first.status["phase"] == "Queued" and first.status["plan"]["source"] == "estimated"
    assert {r for _, r, _ in first.events} >= {"Valid", "Launched"}
    again = decide(_inp(run2, children))
    assert again.creates == [] and again.patches == []
    third = decide(_inp(dict(run2, status=again.status), children))
    assert third.status == again.status and third.events == []


def test_adopts_existing_job_after_a_crash_and_never_creates_twice():
    run = _run()
    first, children, _ = _launch(run)
    # Crash before the status was written: status is empty, the job exists.
    d = decide(_inp(run, children))
    assert d.creates == []
    assert d.status["workload"]["uid"] == "job-uid"


def _foreign(kind, name, **meta):
    return {"kind": kind, "apiVersion": "v1", "metadata": {"name": name, "namespace": "ns", **meta}}


def test_someone_elses_object_at_a_child_name_blocks_the_launch():
    run = _run()
    d = decide(_inp(run, [_foreign("PyTorchJob", "r1", uid="job-uid-x")]))
    assert d.creates == []
    assert d.status["phase"] == "Failed" and "completionTime" not in d.status  # launches once it is gone
    acc = next(c for c in d.status["conditions"] if c["type"] == "Accepted")
    assert acc["reason"] == "NameConflict" and "PyTorchJob named r1" in acc["message"]
    assert [(t, r) for t, r, _ in d.events] == [("Warning", "NameConflict"), ("Warning", "NameConflict")]


def test_an_earlier_same_named_runs_children_are_waited_for():
    run = _run()
    earlier = {"kind": "TrainingRun", "name": "r1", "uid": "old-uid", "controller": True}
    job = _foreign("PyTorchJob", "r1", ownerReferences=[earlier])
    d = decide(_inp(run, [job]))
    assert d.creates == [] and d.status["phase"] == "Pending"
    queued = next(c for c in d.status["conditions"] if c["type"] == "Queued")
    assert queued["reason"] == "WaitingForEarlierRun" and "PyTorchJob r1" in queued["message"]
    assert all(t == "Normal" for t, _, _ in d.events)
    # Anything being deleted is waited for too; once it is gone the run launches.
    deleting = _foreign("PyTorchJob", "r1", deletionTimestamp="2026-01-01T00:00:00Z")
    assert decide(_inp(run, [deleting])).status["phase"] == "Pending"
    assert [o["kind"] for _, o in decide(_inp(dict(run, status=d.status))).creates] == ["PyTorchJob"]


def test_a_run_launched_with_a_configmap_by_an_earlier_operator_is_left_alone():
    """Runs launched before the spec moved into the pod template own a ``<run>-config`` ConfigMap (their
    pods mount it): deciding again over it creates, patches and deletes nothing, and the run stays as it is."""
    _, children, run2 = _launch(_run())
    owner = {"kind": "TrainingRun", "name": "r1", "uid": "uid-r1", "controller": True}
    old_config = _foreign("ConfigMap", "r1-config", uid="cm-uid", ownerReferences=[owner])
    old_config["data"] = {"run.json": "{}"}
    d = decide(_inp(run2, [*children, old_config]))
    assert d.creates == [] and d.patches == [] and not d.deletes
    assert d.status["phase"] == "Queued"


def test_ended_run_is_not_relaunched_and_vanished_workload_fails():
    done = _run(
        status={"phase": "Succeeded", "completionTime": "2026-01-01T00:00:00Z", "workload": {"name": "r1"}}
    )
    d = decide(_inp(done))
    assert d.creates == [] and d.status["phase"] == "Succeeded"

    first, _, run2 = _launch(_run())
    d = decide(_inp(run2, children=[]))  # the job disappeared while queued
    assert d.creates == [] and d.status["phase"] == "Failed"
    assert any(c["reason"] == "WorkloadDeleted" for c in d.status["conditions"])


def test_a_run_spec_too_long_for_the_pod_environment_is_refused_before_any_create():
    """The pods receive run.json in one environment variable (Linux: 128 KiB per string): a longer spec
    fails the run with a reason naming it, and nothing is created."""
    big = {"learning_rate": 1e-5, "max_seq_len": 4096, "max_tokens_per_gpu": 8192}
    fits = decide(_inp(_run(hyperparameters={**big, "unmask_roles": ["x" * 30_000]})))
    assert [o["kind"] for _, o in fits.creates] == ["PyTorchJob"]
    d = decide(_inp(_run(hyperparameters={**big, "unmask_roles": ["x" * MAX_RUN_SPEC_BYTES]})))
    assert d.creates == [] and d.patches == [] and d.status["phase"] == "Failed"
    acc = next(c for c in d.status["conditions"] if c["type"] == "Accepted")
    assert acc["status"] == "False" and acc["reason"] == "RunSpecTooLarge"
    assert "TRAINING_HUB_RUN_SPEC" in acc["message"] and "spec.hyperparameters" in acc["message"]
    assert ("Warning", "RunSpecTooLarge") in {(t, r) for t, r, _ in d.events}


def test_invalid_spec_yields_accepted_false_and_no_children():
    d = decide(_inp(_run(hyperparameters={"lora_r": 4})))
    assert d.creates == []
    acc = next(c for c in d.status["conditions"] if c["type"] == "Accepted")
    assert acc["status"] == "False" and acc["reason"] == "InvalidSpec" and "lora_r" in acc["message"]
    assert ("Warning", "InvalidSpec") in {(t, r) for t, r, _ in d.events}


def test_immutable_change_is_refused_and_suspend_is_patched():
    first, children, run2 = _launch(_run())
    changed = _run(status=run2["status"], generation=2, hyperparameters={"learning_rate": 3e-5})
    d = decide(_inp(changed, children))
    acc = next(c for c in d.status["conditions"] if c["type"] == "Accepted")
    assert acc["reason"] == "ImmutableFieldChanged" and "spec.hyperparameters.learning_rate" in acc["message"]
    assert d.creates == [] and d.patches == []

    suspended = _run(status=run2["status"], generation=2, suspend=True)
    d = decide(_inp(suspended, children))
    assert d.patches == [(PYTORCHJOB, "r1", PyTorchJobLauncher().suspend_patch(True))]
    acc = next(c for c in d.status["conditions"] if c["type"] == "Accepted")
    assert acc["status"] == "True"
    (job,) = children
    assert json.loads(job["metadata"]["annotations"][ANNOTATION_LAUNCHED_SPEC])["algorithm"] == "sft"


def test_dry_run_renders_into_status_only():
    d = decide(_inp(_run(dryRun=True)))
    assert d.creates == [] and [o["kind"] for o in d.status["rendered"]] == ["PyTorchJob"]
    assert d.status["phase"] == "Pending" and d.status["plan"]


def test_no_launcher_gives_a_clear_condition():
    run = _run(launcher="pytorchjob")
    d = decide(_inp(run, served=lambda k: k.kind != "PyTorchJob"))
    assert d.creates == [] and d.status["phase"] == "Pending"
    stalled = next(c for c in d.status["conditions"] if c["type"] == "Stalled")
    assert "PyTorchJob" in stalled["message"]


# ---------------------------------------------------------------------------- status from Kubeflow conditions
def _cond(type_, status="True", reason=None, message=""):
    return {
        "type": type_,
        "status": status,
        "reason": reason or f"PyTorchJob{type_}",
        "message": message,
        "lastTransitionTime": "2026-01-01T01:00:00Z",
        "lastUpdateTime": "2026-01-01T01:00:00Z",
    }


@pytest.mark.parametrize(
    ("conditions", "suspend", "labels", "phase", "reason"),
    [
        ([], False, {}, "Queued", "WorkloadSubmitted"),
        ([_cond("Created")], False, {}, "Queued", "PyTorchJobCreated"),
        ([_cond("Created"), _cond("Running")], False, {}, "Running", "PyTorchJobRunning"),
        (
            [_cond("Created"), _cond("Running", "False"), _cond("Restarting")],
            False,
            {},
            "Running",
            "PyTorchJobRestarting",
        ),
        (
            [_cond("Created"), _cond("Running", "False"), _cond("Succeeded")],
            False,
            {},
            "Succeeded",
            "PyTorchJobSucceeded",
        ),
        (
            [_cond("Created"), _cond("Failed", message="1 Master replica(s) failed")],
            False,
            {},
            "Failed",
            "PyTorchJobFailed",
        ),
        (
            [_cond("Created"), _cond("Suspended", reason="JobSuspended")],
            True,
            {},
            "Suspended",
            "JobSuspended",
        ),
        ([_cond("Created")], True, {"kueue.x-k8s.io/queue-name": "q"}, "Queued", "WaitingForAdmission"),
    ],
)
def test_observation_of_kubeflow_conditions(conditions, suspend, labels, phase, reason):
    job = {
        "kind": "PyTorchJob",
        "metadata": {"name": "j", "labels": labels, "annotations": {}},
        "spec": {"runPolicy": {"suspend": suspend}},
        "status": {
            "conditions": conditions,
            "startTime": "2026-01-01T00:30:00Z",
            "replicaStatuses": {"Master": {"failed": 1}},
        },
    }
    obs = PyTorchJobLauncher().observe([job])
    assert (obs.phase, obs.reason) == (phase, reason)
    assert obs.restarts == 1 and obs.start_time == "2026-01-01T00:30:00Z"
    if phase in ("Succeeded", "Failed"):
        assert obs.completion_time == "2026-01-01T01:00:00Z"


def test_status_write_is_skipped_when_nothing_changed_and_transitions_keep_times():
    first, children, run2 = _launch(_run())
    d1 = decide(_inp(run2, children))
    run3 = dict(run2, status=d1.status)
    d2 = decide(_inp(run3, children))
    assert d2.status == run3["status"]
    times = {c["type"]: c["lastTransitionTime"] for c in d2.status["conditions"]}
    assert set(times) >= {"Accepted", "Planned", "Queued"}


def test_resource_kind_paths():
    assert PYTORCHJOB.path("ns", "j", "status") == "/apis/kubeflow.org/v1/namespaces/ns/pytorchjobs/j/status"
    assert ResourceKind("v1", "ConfigMap", "configmaps").path("ns") == "/api/v1/namespaces/ns/configmaps"


# ------------------------------------------------------------------------- after the apply: settle(), no 2nd decide
def _answered(obj, uid="job-uid", created="2025-12-31T23:59:00Z"):
    """An object as the API server answers its create (uid, resourceVersion, creationTimestamp)."""
    meta = dict(obj["metadata"], uid=uid, resourceVersion="7", creationTimestamp=created)
    return dict(obj, metadata=meta)


def _deciding_again(after, first):
    """What a second decide() over the answers gives (the runner's former second pass), to compare with."""
    second = decide(dataclasses.replace(after, run=dict(after.run, status=first.status)))
    return second.status, first.events + [e for e in second.events if e not in first.events]


def _settle_cases():
    """``(case, input after the apply, first decision)`` for each way the API server can answer."""
    cases = []
    for case, run in (
        ("created", _run()),
        ("created-suspended", _run(suspend=True)),
        ("created-in-a-queue", _run(queueName="q")),
    ):
        inp = _inp(run)
        first = decide(inp)
        answers = [_answered(obj) for _, obj in first.creates]
        cases.append((case, dataclasses.replace(inp, children=answers), first))
    inp = _inp(_run())
    first = decide(inp)
    # The run's own job read back after the create's 409 (a crash after creating it, before the status
    # write), launched from a spec that changed since; its pods are read.
    pods = [{"metadata": {"name": "r1-master-0"}, "status": {"phase": "Pending"}}]
    earlier_spec = _run(
        hyperparameters={"learning_rate": 3e-5, "max_seq_len": 4096, "max_tokens_per_gpu": 8192}
    )
    adopted = [_answered(obj) for _, obj in decide(_inp(earlier_spec)).creates]
    cases.append(("adopted-after-409", dataclasses.replace(inp, children=adopted, pods=pods), first))
    # A launched run patched (suspend); the pods are read after.
    _, children, run2 = _launch(_run())
    for case, run in (
        ("patched-suspend", _run(status=run2["status"], generation=2, suspend=True)),
        (
            "patched-immutable",
            _run(
                status=run2["status"],
                generation=2,
                suspend=True,
                hyperparameters={"learning_rate": 3e-5, "max_seq_len": 4096, "max_tokens_per_gpu": 8192},
            ),
        ),
    ):
        inp = _inp(run, children)
        first = decide(inp)
        assert first.patches, case
        job = next(c for c in children if c["kind"] == "PyTorchJob")
        patched = dict(job, spec=dict(job["spec"], runPolicy={**job["spec"]["runPolicy"], "suspend": True}))
        cases.append((case, dataclasses.replace(inp, children=[patched], pods=pods), first))
    return cases


@pytest.mark.parametrize(
    ("case", "after", "first"), _settle_cases(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_settle_writes_what_deciding_again_over_the_answers_wrote(case, after, first):
    settled = settle(after, first)
    assert (settled.status, settled.events) == _deciding_again(after, first), case
    assert (settled.creates, settled.patches) == (first.creates, first.patches)  # what was applied


def test_settle_adds_the_workloads_uid_and_pending_since_from_its_creation():
    inp = _inp(_run())
    first = decide(inp)
    assert "uid" not in first.status["workload"] and "pendingSince" not in first.status
    answers = [_answered(obj, created="2025-12-31T23:59:30Z") for _, obj in first.creates]
    settled = settle(dataclasses.replace(inp, children=answers), first)
    assert settled.status["workload"]["uid"] == "job-uid"
    assert settled.status["pendingSince"] == "2025-12-31T23:59:30Z"
    assert settled.status["phase"] == "Queued"
    assert settled.events[: len(first.events)] == first.events


def test_settle_turns_a_foreign_object_found_on_create_into_name_conflict():
    inp = _inp(_run())
    first = decide(inp)
    settled = settle(dataclasses.replace(inp, children=[_foreign("PyTorchJob", "r1", uid="x")]), first)
    assert settled.status["phase"] == "Failed" and "completionTime" not in settled.status
    accepted = next(c for c in settled.status["conditions"] if c["type"] == "Accepted")
    assert accepted["reason"] == "NameConflict" and "PyTorchJob named r1" in accepted["message"]
    assert ("Warning", "NameConflict") in {(t, r) for t, r, _ in settled.events}
