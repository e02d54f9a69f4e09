"""Security promises: secrets only by reference (never in status, Events, logs, ConfigMaps or workloads),
restricted pods, and user strings that cannot inject into commands or YAML.

The operator's RBAC minimum is tested with the chart (``tests/chart/test_chart_operator_rbac.py``).
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reliability.invariants import items, wait_phases
from tests.reliability.specs import HOSTILE
from tests.support.trainingruns import run_manifest
from training_hub.local.environment import expand_refs
from training_hub.pod.spec import POD_COMMAND
from training_hub.storage.uri import location_in_pod
from training_hub_operator.api.validation import validate_spec
from training_hub_operator.launchers import available_launchers
from training_hub_operator.launchers.auto import LauncherChoice
from training_hub_operator.model_config_sources import PLANNER_SCRIPT, planning_job
from training_hub_operator.naming import child_labels
from training_hub_operator.reconcile import ReconcileInput, decide
from training_hub_operator.settings import OperatorSettings


def run_spec_values(obj: Any) -> list[str]:
    """Every ``TRAINING_HUB_RUN_SPEC`` value inside a rendered object (container env, TrainJob trainer env)."""
    if isinstance(obj, dict):
        if obj.get("name") == "TRAINING_HUB_RUN_SPEC" and isinstance(obj.get("value"), str):
            return [obj["value"]]
        return [v for item in obj.values() for v in run_spec_values(item)]
    if isinstance(obj, list):
        return [v for item in obj for v in run_spec_values(item)]
    return []


def pod_specs(obj: Any) -> list[dict[str, Any]]:
    """Every full pod spec (``containers`` with an image) inside a rendered object. TrainJob's
    ``runtimePatches`` are not pod specs: the pods come from the runtime (ClusterTrainingRuntime)."""
    found: list[dict[str, Any]] = []
    if isinstance(obj, dict):
        containers = obj.get("containers")
        if isinstance(containers, list) and containers and all("image" in c for c in containers):
            found.append(obj)
        for v in obj.values():
            found.extend(pod_specs(v))
    elif isinstance(obj, list):
        for v in obj:
            found.extend(pod_specs(v))
    return found


def assert_restricted(pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    for container in pod["containers"] + pod.get("initContainers", []):
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc.get("privileged") is not True
        assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
        assert sc.get("runAsNonRoot", True) is True and sc.get("runAsUser") != 0


def dry_run_objects(spec: dict[str, Any], launcher_name: str) -> list[dict[str, Any]]:
    """What the operator would create for this spec with this launcher (dry run, pure)."""
    run = {
        "apiVersion": "traininghub.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "sec", "namespace": "ns", "uid": "u-1", "generation": 1},
        "spec": spec | {"dryRun": True},
    }
    from training_hub_operator.planning import ModelConfig

    launcher = available_launchers()[launcher_name]
    decision = decide(
        ReconcileInput(
            run=run,
            validated=validate_spec(run["spec"]),
            spec_error=None,
            choice=LauncherChoice(launcher, "Test", "test"),
            model_config=ModelConfig(spec["model"].get("config") or {}, "inline"),
        )
    )
    assert decision.status["phase"] == "Pending", decision.status
    return list(decision.status["rendered"])


@pytest.mark.unit
@pytest.mark.parametrize("launcher", sorted(available_launchers()))
def test_every_launcher_renders_restricted_non_root_pods(launcher: str) -> None:
    objects = dry_run_objects(run_manifest("sec")["spec"], launcher)
    pods = pod_specs(objects)
    if launcher == "trainjob":  # a runtime patch, not a pod spec: it makes the runtime's pods restricted
        assert not pods and '"privileged"' not in json.dumps(objects)
        job = next(o for o in objects if o["kind"] == "TrainJob")
        (patch,) = job["spec"]["runtimePatches"]
        for rjob in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
            assert_restricted(rjob["template"]["spec"]["template"]["spec"])
        return
    assert pods, f"{launcher} rendered no pod"
    for pod in pods:
        assert_restricted(pod)


@pytest.mark.unit
def test_planning_pod_is_restricted_and_passes_the_path_as_an_argument() -> None:
    spec = run_manifest("p", model={"uri": "pvc://models/$(id);rm-rf/`x`"})["spec"]
    v = validate_spec(spec)
    job = planning_job(
        name="p-plan",
        namespace="ns",
        owner={"apiVersion": "traininghub.io/v1alpha1", "kind": "TrainingRun", "name": "p", "uid": "u"},
        labels=child_labels("p", "planner"),
        spec=v.spec,
        settings=OperatorSettings(),
    )
    (pod,) = pod_specs(job)
    assert_restricted(pod)
    command = pod["containers"][0]["command"]
    assert command[:3] == ["python3", "-c", PLANNER_SCRIPT]  # the script is a constant
    assert "/mnt/pvc/models/$(id);rm-rf/`x`" in command[3:]  # the path is data, never code


# Hostile strings where users can put strings: env values, paths, labels, annotations.
PATH_SAFE = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Cc")), min_size=1, max_size=30)


@pytest.mark.unit
@settings(max_examples=60, derandomize=True, database=None, deadline=None)
@given(
    env_value=st.one_of(
        HOSTILE, st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
    ),
    path=st.one_of(HOSTILE.map(lambda s: s.replace(" ", "").replace("\n", "") or "x"), PATH_SAFE),
    label=HOSTILE,
    launcher=st.sampled_from(sorted(available_launchers())),
)
def test_user_strings_cannot_inject_into_commands_or_yaml(
    env_value: str, path: str, label: str, launcher: str
):
    spec = copy.deepcopy(run_manifest("sec")["spec"])
    spec["data"]["uri"] = f"pvc://datasets/{path}"
    spec["runtime"]["env"] = [{"name": "USER_VALUE", "value": env_value}]
    spec["runtime"]["annotations"] = {"note": label}
    objects = dry_run_objects(spec, launcher)
    # YAML and JSON round trips are exact: a value cannot open a new key or document.
    assert list(yaml.safe_load_all(yaml.safe_dump_all(objects))) == objects
    assert json.loads(json.dumps(objects)) == objects
    assert not [o for o in objects if o["kind"] == "ConfigMap"]
    (run_spec,) = set(run_spec_values(objects))  # every pod (or TrainJob trainer) gets the same spec
    # As the process receives it: the kubelet expands $(VAR) references in env values ($$ is $).
    run_json = json.loads(expand_refs(run_spec, {"HOME": "/home/x", "USER_VALUE": env_value}))
    assert run_json["params"]["data_path"] == location_in_pod(spec["data"]["uri"])
    for pod in pod_specs(objects):
        for container in pod["containers"]:
            if container["command"][:1] == ["training-hub"]:
                assert container["command"] == list(POD_COMMAND) and not container.get("args")
            else:  # launcher-owned helpers: no user string reaches a command line
                flat = json.dumps(container.get("command", []) + container.get("args", []))
                assert env_value not in flat and path not in flat
            values = [e.get("value") for e in container.get("env", []) if e["name"] == "USER_VALUE"]
            assert values == [env_value]  # verbatim, as a value (no shell ever sees it)


# ------------------------------------------------------------------------------ planted token (cluster)
@pytest.mark.integration
def test_a_planted_token_never_leaves_its_secret(operator_plane, namespace, operator_factory):
    token = f"hf_canary_{secrets.token_hex(12)}"
    operator_plane.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hf"},
            "stringData": {"token": token, "HF_TOKEN_EXTRA": token},
        },
        namespace=namespace,
    )
    op = operator_factory(namespaces=[namespace], extra_args=["--verbose"])
    runtime = {
        "image": "registry.example/training-hub/runtime:test",
        "hfTokenSecretRef": {"name": "hf", "key": "token"},
        "env": [{"name": "WANDB_API_KEY", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}],
        "envFromSecrets": [{"name": "hf"}],
    }
    operator_plane.apply(
        [
            run_manifest("uses-secret", runtime=runtime),
            run_manifest("dry-secret", runtime=runtime, dryRun=True),
            run_manifest("bad-secret", runtime=runtime, hyperparameters={"lora_r": 4}),
        ],
        namespace=namespace,
    )
    wait_phases(
        operator_plane, namespace, {"uses-secret": "Queued", "dry-secret": "Pending", "bad-secret": "Failed"}
    )
    encoded = base64.b64encode(token.encode()).decode()
    # The secret holds it (so the search below would find it if it leaked anywhere).
    assert encoded in json.dumps(operator_plane.kubectl_json("get", "secret", "hf", "-n", namespace))

    job = operator_plane.kubectl_json("get", "pytorchjob", "uses-secret", "-n", namespace)
    env = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}} in env

    places = {
        "TrainingRuns (spec, status, annotations)": items(operator_plane, "trainingruns", namespace),
        "Events": items(operator_plane, "events", namespace),
        "ConfigMaps": items(operator_plane, "configmaps", namespace),
        "PyTorchJobs": items(operator_plane, "pytorchjobs", namespace),
        "Jobs": items(operator_plane, "jobs", namespace),
    }
    for where, objs in places.items():
        text = json.dumps(objs)
        assert token not in text and encoded not in text, f"the token leaked into {where}"
    log = op.log_tail(10_000_000)
    assert token not in log and encoded not in log, "the token leaked into the operator log"
    assert "uses-secret" in log  # the log is the operator's, and it is not empty
    job_env = {e["name"]: e.get("value") for e in env}
    assert json.loads(job_env["TRAINING_HUB_RUN_SPEC"])["run"]["name"] == "uses-secret"  # searched above


@pytest.mark.integration
def test_a_token_in_the_pod_environment_stays_out_of_logs_and_outputs(
    tmp_path, tiny_model_dir, messages_data
) -> None:
    import os
    import subprocess

    from training_hub_operator.launchers.common import pod_run_spec

    token = f"hf_canary_{secrets.token_hex(12)}"
    out = tmp_path / "out"
    spec = run_manifest("pod")["spec"]
    spec.update(
        model={"uri": str(tiny_model_dir)},
        data={"uri": str(messages_data)},
        output={"uri": str(out)},
        hyperparameters={"max_seq_len": 64, "max_steps": 2, "effective_batch_size": 8, "save_samples": 8},
    )
    v = validate_spec(spec)
    run_json = pod_run_spec(
        v.spec, v.hyperparameters_set(), run_name="pod", namespace="ns", uid="u", generation=1
    ).model_dump_json(by_alias=True)
    assert token not in run_json
    spec_file = tmp_path / "run.json"
    spec_file.write_text(run_json)
    termination = tmp_path / "termination-log"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_TOKEN": token,  # as the kubelet sets it from the Secret
        "WANDB_API_KEY": token,
        "TRAINING_HUB_TERMINATION_LOG": str(termination),
    }
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("training-hub")), "run-pod", "--spec", str(spec_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "hf_format" / "final").is_dir()
    assert token not in proc.stdout and token not in proc.stderr, "the token reached the pod's log"
    assert token not in termination.read_text()
    for path in out.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), f"the token was written to {path}"
