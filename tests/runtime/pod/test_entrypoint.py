"""The pod entrypoint: spec loading, rendezvous from env, exit codes and termination messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from training_hub.errors import DataFormatError, InfrastructureError
from training_hub.pod import exit_codes
from training_hub.pod.demo import materialize_demo_data, validate_demo_data, validate_demo_model
from training_hub.pod.entrypoint import classify, load_spec, run_pod, with_jit_checkpoint
from training_hub.pod.mounts import in_pod

pytestmark = pytest.mark.unit


def write_spec(root: Path, params: dict[str, object], algorithm: str = "sft") -> None:
    path = root / "etc/training-hub/run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = {"algorithm": algorithm, "params": params, "run": {"name": "r", "namespace": "ns"}}
    path.write_text(json.dumps(spec))


def pod_env(root: Path, **extra: str) -> dict[str, str]:
    return {"TRAINING_HUB_MOUNT_ROOT": str(root), "TRAINING_HUB_TERMINATION_LOG": str(root / "term"), **extra}


def termination(root: Path) -> str:
    return (root / "term").read_text().strip()


BASE = {
    "model_path": "/mnt/pvc/m/model",
    "data_path": "/mnt/pvc/m/d.jsonl",
    "ckpt_output_dir": "/mnt/pvc/m/out",
}


def test_missing_spec_is_bad_input(tmp_path: Path) -> None:
    assert run_pod("/etc/training-hub/run.json", pod_env(tmp_path)) == exit_codes.INVALID_INPUT
    assert termination(tmp_path).startswith("InvalidInput: cannot read the run spec")


def test_the_spec_comes_from_the_environment_variable_the_operator_sets(tmp_path: Path) -> None:
    """Without --spec the spec is TRAINING_HUB_RUN_SPEC; absent or broken, the pod exits with bad input."""
    spec = {"algorithm": "sft", "params": BASE, "run": {"name": "r", "namespace": "ns"}}
    loaded = load_spec(None, pod_env(tmp_path, TRAINING_HUB_RUN_SPEC=json.dumps(spec)))
    assert loaded.run.name == "r" and loaded.params["model_path"] == "/mnt/pvc/m/model"
    assert run_pod(None, pod_env(tmp_path)) == exit_codes.INVALID_INPUT
    assert termination(tmp_path) == (
        "InvalidInput: no run spec: TRAINING_HUB_RUN_SPEC is not set (the operator sets it on the training "
        "container) and no --spec PATH was given"
    )
    assert run_pod(None, pod_env(tmp_path, TRAINING_HUB_RUN_SPEC="{nope")) == exit_codes.INVALID_INPUT
    assert "the run spec $TRAINING_HUB_RUN_SPEC is not JSON" in termination(tmp_path)
    rendezvous = {**spec, "params": {**BASE, "master_addr": "x"}}
    assert (
        run_pod(None, pod_env(tmp_path, TRAINING_HUB_RUN_SPEC=json.dumps(rendezvous)))
        == exit_codes.INVALID_INPUT
    )
    # --spec PATH wins over the variable (a file a user or a pre-upgrade pod's ConfigMap mount provides).
    write_spec(tmp_path, BASE, algorithm="lora_sft")
    env = pod_env(tmp_path, TRAINING_HUB_RUN_SPEC=json.dumps(spec))
    assert load_spec("/etc/training-hub/run.json", env).algorithm == "lora_sft"


def test_spec_that_is_not_json_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "etc/training-hub").mkdir(parents=True)
    (tmp_path / "etc/training-hub/run.json").write_text("{nope")
    assert run_pod("/etc/training-hub/run.json", pod_env(tmp_path)) == exit_codes.INVALID_INPUT
    assert "is not JSON" in termination(tmp_path)


def test_spec_must_not_carry_the_rendezvous(tmp_path: Path) -> None:
    write_spec(tmp_path, {**BASE, "master_addr": "x"})
    assert run_pod("/etc/training-hub/run.json", pod_env(tmp_path)) == exit_codes.INVALID_INPUT
    assert "launcher owns" in termination(tmp_path)


def test_conflicting_rendezvous_env_is_bad_input(tmp_path: Path) -> None:
    write_spec(tmp_path, BASE)
    env = pod_env(tmp_path, PET_NNODES="2", PET_MASTER_ADDR="a", MASTER_ADDR="b")
    assert run_pod("/etc/training-hub/run.json", env) == exit_codes.INVALID_INPUT
    assert "PET_MASTER_ADDR" in termination(tmp_path)


def test_multi_node_without_master_is_bad_input(tmp_path: Path) -> None:
    write_spec(tmp_path, BASE)
    assert (
        run_pod("/etc/training-hub/run.json", pod_env(tmp_path, PET_NNODES="2")) == exit_codes.INVALID_INPUT
    )
    assert "rendezvous" in termination(tmp_path)


def test_invalid_hyperparameter_is_bad_input(tmp_path: Path) -> None:
    write_spec(tmp_path, {**BASE, "learning_rate": -1})
    assert run_pod("/etc/training-hub/run.json", pod_env(tmp_path)) == exit_codes.INVALID_INPUT
    assert "learning_rate" in termination(tmp_path)


def test_unknown_algorithm_is_bad_input(tmp_path: Path) -> None:
    write_spec(tmp_path, BASE, algorithm="rlhf")
    assert run_pod("/etc/training-hub/run.json", pod_env(tmp_path)) == exit_codes.INVALID_INPUT
    assert "unknown algorithm 'rlhf'" in termination(tmp_path)


class _Model(BaseModel):
    x: int


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (DataFormatError("bad line 3"), exit_codes.INVALID_INPUT),
        (InfrastructureError("rendezvous timed out"), exit_codes.INFRASTRUCTURE),
        (ConnectionResetError("peer"), exit_codes.INFRASTRUCTURE),
        (TimeoutError("store"), exit_codes.INFRASTRUCTURE),
        (RuntimeError("bug"), exit_codes.FAILED),
    ],
)
def test_exceptions_map_to_exit_codes(exc: BaseException, code: int) -> None:
    assert classify(exc) == code


def test_validation_errors_are_bad_input() -> None:
    with pytest.raises(ValidationError) as info:
        _Model.model_validate({"x": "nope"})
    assert classify(info.value) == exit_codes.INVALID_INPUT


def test_retry_policy_of_exit_codes() -> None:
    assert not exit_codes.is_retryable(exit_codes.SUCCEEDED)
    assert not exit_codes.is_retryable(exit_codes.INVALID_INPUT)
    assert exit_codes.is_retryable(exit_codes.INFRASTRUCTURE)
    assert exit_codes.is_retryable(exit_codes.FAILED)
    assert exit_codes.is_retryable(-9) and exit_codes.reason_for(137) == "Killed"


def test_paths_resolve_under_the_mount_root_only_locally(tmp_path: Path) -> None:
    assert in_pod("/mnt/pvc/a/b", {}) == "/mnt/pvc/a/b"
    assert in_pod("/mnt/pvc/a/b", {"TRAINING_HUB_MOUNT_ROOT": str(tmp_path)}) == str(tmp_path / "mnt/pvc/a/b")
    assert in_pod("org/model", {"TRAINING_HUB_MOUNT_ROOT": str(tmp_path)}) == "org/model"
    assert in_pod("tiny://llama", {"TRAINING_HUB_MOUNT_ROOT": str(tmp_path)}) == "tiny://llama"


def test_demo_locations_are_checked(tmp_path: Path) -> None:
    from training_hub.errors import InvalidInputError

    validate_demo_model("tiny://llama?hidden_size=32&layers=1")
    with pytest.raises(InvalidInputError, match="tiny://gpt"):
        validate_demo_model("tiny://gpt")
    with pytest.raises(InvalidInputError, match="unknown option"):
        validate_demo_data("tiny://messages?rows=3")
    path = materialize_demo_data("tiny://messages?samples=5&seed=1", tmp_path / "d.jsonl")
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and "messages" in json.loads(lines[0])
    again = materialize_demo_data("tiny://messages?samples=5&seed=1", tmp_path / "e.jsonl")
    assert again.read_text() == path.read_text()


def test_pods_on_our_engine_turn_the_jit_checkpoint_on() -> None:
    # The library keeps upstream's default (off); a pod is preempted by SIGTERM and must checkpoint then.
    assert with_jit_checkpoint("sft", dict(BASE))["enable_jit_checkpoint"] is True  # auto -> native (no CUDA)
    assert with_jit_checkpoint("lora_sft", {**BASE, "backend": "peft"})["enable_jit_checkpoint"] is True
    assert with_jit_checkpoint("dpo", {**BASE, "backend": "native"})["enable_jit_checkpoint"] is True
    kept = {**BASE, "enable_jit_checkpoint": False}
    assert with_jit_checkpoint("sft", kept) == kept  # the spec's explicit choice wins
    upstream_engine = {**BASE, "backend": "instructlab-training"}
    assert with_jit_checkpoint("sft", upstream_engine) == upstream_engine  # it would refuse True
    assert with_jit_checkpoint("embedding_sft", dict(BASE)) == BASE  # no such parameter


def _write_pinned_spec(root: Path, engine: dict[str, str], params: dict[str, object]) -> None:
    path = root / "etc/training-hub/run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = {"algorithm": "sft", "params": params, "run": {"name": "r"}, "engine": engine}
    path.write_text(json.dumps(spec))


def test_a_planned_engine_missing_from_the_image_is_bad_input_naming_both(tmp_path: Path) -> None:
    engine = {"name": "unsloth", "reason": "spec.backend", "image": "registry.example/custom:1"}
    _write_pinned_spec(tmp_path, engine, dict(BASE))
    assert run_pod("/etc/training-hub/run.json", pod_env(tmp_path)) == exit_codes.INVALID_INPUT
    message = termination(tmp_path)
    assert message.startswith("InvalidInput: the operator planned engine unsloth")
    assert "registry.example/custom:1" in message and "unsloth" in message.split("import")[1]


def test_the_planned_engine_becomes_the_backend() -> None:
    from training_hub.errors import InvalidInputError
    from training_hub.pod.entrypoint import pin_planned_engine
    from training_hub.pod.spec import PodRunSpec

    spec = PodRunSpec.model_validate(
        {"algorithm": "sft", "params": dict(BASE), "run": {"name": "r"}, "engine": {"name": "native"}}
    )
    assert pin_planned_engine(spec, {**BASE, "backend": "auto"})["backend"] == "native"
    assert pin_planned_engine(spec.model_copy(update={"engine": None}), dict(BASE)) == BASE
    with pytest.raises(InvalidInputError, match="plan was made for engine 'native'"):
        pin_planned_engine(spec, {**BASE, "backend": "peft"})
