"""``algorithm: dpo`` in a TrainingRun: validation, planning with the reference's memory, local mode, and the
local control plane (real kube-apiserver, operator and Job controller; pods as local processes)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.model_configs import QWEN2_7B_CONFIG

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "tiny-dpo-cpu.yaml"


def dpo_run(name: str, **hyperparameters: Any) -> dict[str, Any]:
    """The example manifest, renamed, with 4 steps on 1-layer models, writing to the claim ``out``."""
    run = yaml.safe_load(EXAMPLE.read_text())
    run["metadata"] = {"name": name}
    spec = run["spec"]
    spec["model"]["uri"] = "tiny://llama?hidden_size=32&layers=1"
    spec["output"]["uri"] = f"pvc://out/{name}"
    spec["hyperparameters"].update(max_steps=4, save_samples=0, **hyperparameters)
    return run


@pytest.mark.unit
def test_spec_validation_accepts_dpo_and_names_foreign_parameters() -> None:
    from training_hub_operator.api.validation import SpecError, validate_spec

    spec = yaml.safe_load(EXAMPLE.read_text())["spec"]
    validated = validate_spec(spec)
    assert validated.spec.algorithm == "dpo" and validated.hyperparameters_set()["beta"] == 0.1
    bad = {**spec, "hyperparameters": {"unfreeze_rank_ratio": 0.5, "loss_type": "mnrl", "beta": 0}}
    with pytest.raises(SpecError) as err:
        validate_spec(bad)
    text = str(err.value)
    assert (
        "spec.hyperparameters.unfreeze_rank_ratio: not a parameter of algorithm dpo (a parameter of osft)"
        in text
    )
    assert "spec.hyperparameters.loss_type" in text and "spec.hyperparameters.beta" in text


@pytest.mark.unit
def test_estimate_counts_the_reference_as_the_run_configures_it() -> None:
    from training_hub.estimator import EstimateInputs, estimate_from_inputs

    def est(algorithm: str, gpus: int = 1, **hp: Any) -> Any:
        inputs = EstimateInputs.from_training_params(algorithm, {"max_seq_len": 4096, **hp}, QWEN2_7B_CONFIG)
        return estimate_from_inputs(inputs, gpus)

    sft, dpo = est("sft"), est("dpo")
    ref = dpo.breakdown.details["parameters.dpo_reference"]
    assert ref == sft.breakdown.parameters  # a second bf16 copy of the weights
    assert dpo.breakdown.logits - sft.breakdown.logits == dpo.breakdown.details["logits.dpo_reference"] > 0
    assert dpo.breakdown.activations == sft.breakdown.activations  # same token budget per micro-batch
    assert dpo.expected > sft.expected + ref
    assert est("dpo", precompute_ref_log_probs=True).expected == sft.expected
    lora, lora_dpo = est("lora_sft"), est("dpo", use_lora=True)
    assert lora_dpo.assumptions.training_method == "lora"
    assert "parameters.dpo_reference" not in lora_dpo.breakdown.details  # the adapter is disabled instead
    assert lora_dpo.breakdown.parameters == lora.breakdown.parameters < dpo.breakdown.parameters
    fsdp = est("dpo", gpus=8, distributed_strategy="fsdp")
    assert fsdp.breakdown.details["parameters.dpo_reference"] == pytest.approx(ref / 8, abs=1)


@pytest.mark.integration
def test_example_runs_in_local_mode(tmp_path: Path) -> None:
    from training_hub.cli.main import main

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    manifest = tmp_path / "dpo.yaml"
    manifest.write_text(yaml.safe_dump(dpo_run("local-dpo")))
    cwd = Path.cwd()
    try:
        os.chdir(tmp_path)
        assert main(["run", str(manifest), "--local"]) == 0
    finally:
        os.chdir(cwd)
    out = tmp_path / ".training-hub" / "local-dpo" / "pvc" / "out" / "local-dpo"
    rows = [json.loads(line) for line in (out / "training_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert {"rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins"} <= set(rows[0])
    assert (out / "hf_format" / "final" / "model.safetensors").is_file()


@pytest.mark.e2e
def test_trainingrun_on_the_control_plane(
    control_plane: Any, namespace: str, operator_factory: Any, tmp_path: Path
) -> None:
    from tests.support.planes import runtime_kubeconfig
    from tests.support.trainingruns import wait_finished
    from training_hub.local import LocalExecutor
    from training_hub.local.kubelet import LocalKubelet

    control_plane.install_crds(*sorted((REPO / "crds").glob("*.yaml")))
    operator = operator_factory(namespaces=[namespace])
    kubeconfig = runtime_kubeconfig(control_plane, namespace, tmp_path / "runtime-kubeconfig")
    name = "dpo-native"
    run = dpo_run(name)
    run["spec"]["launcher"] = "native"
    control_plane.apply(run, namespace=namespace)
    log = io.StringIO()
    env = {
        "OMP_NUM_THREADS": "1",
        "TRAINING_HUB_KUBECONFIG": str(kubeconfig),
        "TRAINING_HUB_METRICS_PORT": "off",
    }
    executor = LocalExecutor(tmp_path / "root", pvc_root=tmp_path / "claims", output=log, extra_env=env)
    with LocalKubelet(
        control_plane.api_client(), namespace, executor, label_selector=f"traininghub.io/run={name}"
    ):
        status = wait_finished(control_plane, namespace, name, 300, log)
    assert status.get("phase") == "Succeeded", f"{status}\n{log.getvalue()[-4000:]}\n{operator.log_tail()}"
    out = tmp_path / "claims" / "out" / name
    summary = json.loads((out / "training_summary_node0.json").read_text())
    assert summary["algorithm"] == "dpo" and summary["world_size"] == 2 and summary["steps"] == 4
    assert "node 0 of 2 x 1 processes" in log.getvalue() and "node 1 of 2 x 1 processes" in log.getvalue()
    # rank 0 reported the preference rewards into status.progress (kept by the CRD's schema)
    rows = [json.loads(line) for line in (out / "training_metrics.jsonl").read_text().splitlines()]
    progress = status["progress"]
    assert progress["step"] == 4 and progress["loss"] == pytest.approx(rows[-1]["loss"], rel=1e-5)
    assert progress["rewards"]["margin"] == pytest.approx(rows[-1]["rewards/margins"], rel=1e-5, abs=1e-9)
    assert set(progress["rewards"]) == {"chosen", "rejected", "accuracy", "margin"}


@pytest.mark.unit
def test_progress_carries_the_rewards_of_a_dpo_row() -> None:
    from training_hub.observability.tracker import ProgressTracker
    from training_hub_operator.api.status import Progress

    row = {"step": 3, "total_steps": 6, "loss": 0.61, "rewards/chosen": 0.25, "rewards/rejected": -0.5}
    row |= {"rewards/accuracies": 0.875, "rewards/margins": 0.75}
    progress = ProgressTracker().on_step(row, now=1_700_000_000.0)
    assert progress["rewards"] == {"chosen": 0.25, "rejected": -0.5, "accuracy": 0.875, "margin": 0.75}
    assert Progress.model_validate(progress).rewards is not None
    assert "rewards" not in ProgressTracker().on_step({"step": 1, "loss": 1.0}, now=1_700_000_000.0)
