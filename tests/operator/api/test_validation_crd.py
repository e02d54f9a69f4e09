"""The TrainingRun models, their validation messages and the generated CRD."""

from __future__ import annotations

import pytest

from tests.support.trainingruns import load_crd, run_manifest
from training_hub.params import HYPERPARAMETER_MODELS
from training_hub_operator import crdgen
from training_hub_operator.api.validation import SpecError, validate_spec

pytestmark = pytest.mark.unit


def _spec(**overrides):
    return run_manifest("x", **overrides)["spec"]


def test_generated_files_are_fresh():
    assert crdgen.main(["--check"]) == 0, "run `make crds`"


def test_crd_is_structural_without_cel_and_with_the_api_surface():
    crd = load_crd()
    text = crdgen.render_crd_yaml()
    assert "x-kubernetes-validations" not in text
    names = crd["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"]) == ("TrainingRun", "trainingruns", ["tr"])
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Phase",
        "Algorithm",
        "Model",
        "Nodes",
        "GPUs",
        "Progress",
        "Loss",
        "Output",
        "Age",
    ]
    schema = version["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    assert set(spec["required"]) == {"algorithm", "model", "data", "output"}
    assert spec["properties"]["launcher"]["enum"] == ["auto", "pytorchjob", "trainjob", "native"]

    def walk(node, path):
        assert "$ref" not in node and "anyOf" not in node, path
        if path.count(".") > 1:
            assert node.get("description") or path.endswith(("items", "metadata")), (
                f"{path} lacks a description"
            )
        for k, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{k}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}.items")

    walk(spec, "spec")
    walk(schema["properties"]["status"], "status")
    status = schema["properties"]["status"]["properties"]
    assert set(status["progress"]["properties"]) == {
        "step",
        "totalSteps",
        "epoch",
        "samplesSeen",
        "loss",
        "tokensPerSecond",
        "eta",
        "lastCheckpoint",
        "percent",
        # written by the training pod (docs/observability.md)
        "lastStepTime",
        "startTime",
        "elapsedSeconds",
        "predictedSeconds",
        "resumedFromStep",
        "lossHistory",
        "evalLoss",
        "evalStep",
        "rewards",  # dpo (docs/dpo.md)
    }
    assert status["phase"]["enum"] == [
        "Pending",
        "Planning",
        "Queued",
        "Running",
        "Succeeded",
        "Failed",
        "Suspended",
    ]


def test_hyperparameters_schema_is_the_union_without_defaults():
    hp = load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "hyperparameters"
    ]
    union = set().union(*(m.model_fields for m in HYPERPARAMETER_MODELS.values()))
    assert set(hp["properties"]) == union
    assert not [k for k, v in hp["properties"].items() if "default" in v]
    assert "lora_sft" in hp["properties"]["lora_r"]["description"]
    assert "2e-05 (sft)" in hp["properties"]["learning_rate"]["description"]
    assert hp["properties"]["learning_rate"]["exclusiveMinimum"] is True


def test_valid_spec_keeps_only_what_the_user_set():
    v = validate_spec(_spec())
    assert v.hyperparameters_set() == {"learning_rate": 1e-5, "max_seq_len": 4096, "max_tokens_per_gpu": 8192}
    assert v.spec.resources.gpu_memory == "80Gi" and not v.spec.resources.fixed


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        (
            {"hyperparameters": {"lora_r": 8}},
            ["spec.hyperparameters.lora_r", "not a parameter of algorithm sft", "lora_sft"],
        ),
        ({"hyperparameters": {"learning_rate": 0}}, ["spec.hyperparameters.learning_rate", "greater than 0"]),
        (
            {"algorithm": "osft", "hyperparameters": {}},
            ["spec.hyperparameters.unfreeze_rank_ratio", "required"],
        ),
        ({"runtime": {"env": [{"name": "PET_NNODES", "value": "2"}]}}, ["PET_NNODES", "reserved"]),
        ({"runtime": {"env": [{"name": "WORLD_SIZE", "value": "2"}]}}, ["WORLD_SIZE", "reserved"]),
        (
            {"model": {"uri": "s4://bucket/model"}},
            [
                "spec.model.uri",
                "'s4://bucket/model' is not pvc://claim/path, hf://org/model, s3://bucket/prefix",
            ],
        ),
        ({"storage": {"endpoint": "minio:9000"}}, ["spec.storage.endpoint", "http:// or https:// URL"]),
        ({"output": {"uri": "hf://org/out"}}, ["spec.output.uri"]),
        ({"resources": {"nodes": 9, "maxNodes": 8}}, ["resources.nodes (9)", "maxNodes"]),
        ({"resources": {"gpuMemory": "lots"}}, ["spec.resources.gpuMemory", "quantity"]),
        ({"surprise": 1}, ["spec.surprise", "unknown field"]),
    ],
)
def test_invalid_specs_get_actionable_messages(overrides, needles):
    with pytest.raises(SpecError) as err:
        validate_spec(_spec(**overrides))
    for needle in needles:
        assert needle in str(err.value)


def test_osft_and_lora_hyperparameters_validate_for_their_algorithm():
    validate_spec(_spec(algorithm="osft", hyperparameters={"unfreeze_rank_ratio": 0.3}))
    validate_spec(_spec(algorithm="lora_sft", hyperparameters={"lora_r": 8, "lora_alpha": 16}))


def test_example_trainingruns_are_valid():
    import yaml

    from tests.support.trainingruns import REPO

    examples = sorted(REPO.glob("examples/*.yaml"))
    assert examples
    for path in examples:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "TrainingRun":
                validate_spec(doc["spec"])
